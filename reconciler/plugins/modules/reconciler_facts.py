#!/usr/bin/python
"""reconciler_facts: the read-only fact module the `ansible` collector runs once per host.

Place in the pipeline: shipped by reconciler/collectors/ansible.py to every target host as ONE ad-hoc task
(and run by apply's freshness barrier and re-collection). When Ansible pipelines, the action plugin of the
same name runs this file as a plain script (`run_plain`); otherwise it is an ordinary module (`main`).
In: the merged declared spec of the host's CIs. Out: `reconciler_facts`, already in the server fact
vocabulary of reconciler/collectors/server.py. Only the Python standard library is used on the target, and
nothing on the host is ever changed (no writes, no package manager calls other than queries).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: reconciler_facts
short_description: Gather, read-only and in one task, the facts a reconciler project declares for a host
description:
  - Returns OS and hardware identity always, and packages, services, files, sysctl values, users, groups and
    listening ports only when the spec asks for them.
  - Never changes the host; check mode is supported and behaves the same.
options:
  spec:
    description: What the host's CIs declare. Each key is optional; a missing key skips that section.
    type: dict
    default: {}
    suboptions:
      packages: {description: Package names or globs (dpkg-query / rpm -qa)., type: list, elements: str}
      services: {description: Service names (systemd, else SysV init scripts)., type: list, elements: str}
      files: {description: Path -> lines whose presence is checked on the host., type: dict}
      sysctl: {description: Kernel parameter keys (net.ipv4.ip_forward)., type: list, elements: str}
      users: {description: User names (NSS, as getent)., type: list, elements: str}
      groups: {description: Group names (NSS, as getent)., type: list, elements: str}
      listening_ports: {description: Whether to read listening ports., type: bool, default: false}
      sysctl_root: {description: Where kernel parameters are read., type: path, default: /proc/sys}
"""

EXAMPLES = r"""
- reconciler_facts:
    spec:
      packages: [nginx, telnetd]
      files: {/etc/ssh/sshd_config: ["PermitRootLogin no"]}
      sysctl: [net.ipv4.ip_forward]
      listening_ports: true
"""

RETURN = r"""
reconciler_facts:
  description:
    - hostname, os, hardware and the declared sections, in reconciler's server vocabulary.
    - With services, also service_manager (systemd or sysv), so that service fixes name their module.
  returned: always
  type: dict
"""

import fnmatch
import grp
import json
import os
import platform
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import time

_DISTRIBUTIONS = {
    "debian": "Debian", "ubuntu": "Ubuntu", "centos": "CentOS", "rhel": "RedHat", "rocky": "Rocky",
    "almalinux": "AlmaLinux", "fedora": "Fedora", "amzn": "Amazon", "ol": "OracleLinux", "sles": "SLES",
    "opensuse-leap": "openSUSE Leap", "opensuse-tumbleweed": "openSUSE Tumbleweed", "alpine": "Alpine",
    "arch": "Archlinux", "linuxmint": "Linux Mint", "raspbian": "Debian", "kali": "Kali",
}
_FAMILIES = {
    "Debian": "Debian", "Ubuntu": "Debian", "Linux Mint": "Debian", "Kali": "Debian",
    "CentOS": "RedHat", "RedHat": "RedHat", "Rocky": "RedHat", "AlmaLinux": "RedHat", "Fedora": "RedHat",
    "Amazon": "RedHat", "OracleLinux": "RedHat", "SLES": "Suse", "openSUSE Leap": "Suse",
    "openSUSE Tumbleweed": "Suse", "Alpine": "Alpine", "Archlinux": "Archlinux",
}
_DMI = "/sys/devices/virtual/dmi/id/"
_HARDWARE_FILES = {"serial": "product_serial", "uuid": "product_uuid", "vendor": "sys_vendor",
                   "model": "product_name"}
_TCP_LISTEN, _UDP_UNCONNECTED = "0A", "07"


def read_text(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return default


def key_values(text):
    """os-release style KEY="value" lines -> dict."""
    found = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            found[key.strip()] = value.strip().strip("'\"")
    return found


def redhat_release():
    """'Rocky Linux release 9.3 (Blue Onyx)' -> ('9.3', 'Blue Onyx'), as setup reads it."""
    text = read_text("/etc/redhat-release") or read_text("/etc/system-release") or ""
    match = re.search(r"release\s+([\d.]+)(?:\s+\((.*?)\))?", text)
    return (match.group(1), match.group(2)) if match else (None, None)


def os_facts():
    release = key_values(read_text("/etc/os-release") or read_text("/usr/lib/os-release"))
    ident = release.get("ID", "").lower()
    name = _DISTRIBUTIONS.get(ident) or (release.get("NAME") or platform.system()).split()[0]
    family = _FAMILIES.get(name, name)
    version, codename = release.get("VERSION_ID"), release.get("VERSION_CODENAME") or release.get(
        "UBUNTU_CODENAME")
    if name == "Debian":
        debian = (read_text("/etc/debian_version") or "").strip()
        version = debian if debian[:1].isdigit() else version
    elif family == "RedHat":
        rh_version, rh_codename = redhat_release()
        version, codename = rh_version or version, rh_codename or codename
    version = version or "NA"
    return {"distribution": name, "version": version, "major_version": version.split(".")[0],
            "release": codename or "NA", "family": family, "kernel": platform.release(),
            "arch": platform.machine()}


def hardware_facts():
    facts = {key: (read_text(_DMI + name) or "").strip() or "NA" for key, name in _HARDWARE_FILES.items()}
    meminfo = key_values((read_text("/proc/meminfo") or "").replace(":", "="))
    mem_kb = meminfo.get("MemTotal", "0 kB").split()[0]
    facts["memory_mb"] = int(mem_kb) // 1024 if mem_kb.isdigit() else None
    cpuinfo = read_text("/proc/cpuinfo") or ""
    facts["cpus"] = len(re.findall(r"^processor\s*:", cpuinfo, re.MULTILINE)) or os.cpu_count()
    return facts


# --- packages -------------------------------------------------------------------------------------

def wanted(names):
    """A predicate for declared package names; globs (linux-image-*) allowed."""
    exact = {n for n in names if not any(c in n for c in "*?[")}
    globs = [n for n in names if n not in exact]
    return lambda name: name in exact or any(fnmatch.fnmatchcase(name, g) for g in globs)


def query_packages(module):
    """(name, version) of every installed package, straight from dpkg or rpm (no python-apt needed)."""
    dpkg, rpm = module.get_bin_path("dpkg-query"), module.get_bin_path("rpm")
    if dpkg:
        rc, out, err = module.run_command([dpkg, "-W", "-f", "${Package}\t${Version}\t${Status}\n"])
        rows = [line.split("\t") for line in out.splitlines()]
        return [(r[0], r[1]) for r in rows if len(r) == 3 and r[2].endswith(" installed")], rc, err
    if rpm:
        fmt = "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\n"
        rc, out, err = module.run_command([rpm, "-qa", "--qf", fmt])
        rows = [line.split("\t") for line in out.splitlines() if line.count("\t") == 3]
        return [(n, ("" if e in ("0", "(none)") else e + ":") + f"{v}-{r}") for n, e, v, r in rows], rc, err
    module.fail_json(msg="no supported package manager (dpkg-query or rpm) found on the host")


def package_facts(module, names):
    rows, rc, err = query_packages(module)
    if rc != 0:
        module.fail_json(msg="package query failed: %s" % err.strip())
    keep, found = wanted(names), {}
    for name, version in rows:
        if keep(name):
            found.setdefault(name, set()).add(version)
    return {n: sorted(v)[0] if len(v) == 1 else sorted(v) for n, v in found.items()}


# --- services -------------------------------------------------------------------------------------

def systemd_services(module, names):
    units = [n if "." in n else n + ".service" for n in names]
    args = [module.get_bin_path("systemctl", required=True), "show", "--no-pager",
            "--property=Id,LoadState,SubState,UnitFileState"] + units
    rc, out, err = module.run_command(args)
    if rc != 0:
        module.fail_json(msg="systemctl show failed: %s" % err.strip())
    result = {}
    for name, block in zip(names, out.strip().split("\n\n")):
        props = key_values(block)
        if props.get("LoadState") == "loaded":
            result[name] = {"state": "running" if props.get("SubState") == "running" else "stopped",
                            "enabled": props.get("UnitFileState") in ("enabled", "static", "alias")}
    return result


def sysv_services(module, names):
    result = {}
    for name in names:
        script = "/etc/init.d/" + name
        if not os.access(script, os.X_OK):
            continue
        rc, out, err = module.run_command([script, "status"])
        # service(8)'s own test: running when status exits 0 *and* says something that is not a usage line.
        said = (out + err).strip()
        running = rc == 0 and bool(said) and "usage:" not in said.lower()
        enabled = any(fnmatch.filter(os.listdir(d), "S[0-9][0-9]" + name)
                      for d in ("/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d") if os.path.isdir(d))
        result[name] = {"state": "running" if running else "stopped", "enabled": enabled}
    return result


def service_manager():
    # The same test Ansible's service_mgr uses: systemd is the manager only when it booted the host.
    return "systemd" if os.path.isdir("/run/systemd/system") else "sysv"


def service_facts(module, names):
    if service_manager() == "systemd":
        return systemd_services(module, names)
    return sysv_services(module, names)


# --- files, sysctl, accounts, ports -----------------------------------------------------------------

def name_of(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def found_lines(path, lines):
    """The declared lines present in the file, compared without surrounding whitespace; read on the host."""
    wanted_lines = {line.strip(): line for line in lines}
    present = set()
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip() in wanted_lines:
                present.add(wanted_lines[line.strip()])
    return sorted(present)


def file_facts(path, lines):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {"exists": False}
    except OSError as exc:
        return {"exists": None, "error": exc.strerror}
    result = {"exists": True, "mode": "%04o" % stat.S_IMODE(info.st_mode),
              "owner": name_of(pwd.getpwuid, info.st_uid), "group": name_of(grp.getgrgid, info.st_gid)}
    if lines:
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            result["error"] = "not a regular file: contains not checked"
        else:
            try:
                result["contains"] = found_lines(path, lines)
            except OSError as exc:
                result["error"] = exc.strerror
    return result


def sysctl_facts(keys, root):
    result = {}
    for key in keys:
        # sysctl writes '/' for a '.' inside a name (eth0.100 -> eth0/100): swap them back for the path.
        relative = key.translate(str.maketrans("./", "/."))
        path = os.path.join(root, relative)
        if os.path.isfile(path):
            value = read_text(path)
            if value is not None:
                result[key] = " ".join(value.split())
    return result


def user_facts(names):
    members = {}
    for group in grp.getgrall():
        for member in group.gr_mem:
            members.setdefault(member, set()).add(group.gr_name)
    result = {}
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        result[name] = {"uid": entry.pw_uid, "gid": entry.pw_gid, "home": entry.pw_dir,
                        "shell": entry.pw_shell, "groups": sorted(members.get(name, ()))}
    return result


def group_facts(names):
    result = {}
    for name in names:
        try:
            entry = grp.getgrnam(name)
        except KeyError:
            continue
        result[name] = {"gid": entry.gr_gid, "members": sorted(entry.gr_mem)}
    return result


def socket_ports(table, state, remote_zero):
    ports = set()
    for line in (read_text(table) or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == state and (not remote_zero or fields[2].endswith(":0000")):
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_ports():
    """TCP sockets in LISTEN, plus unconnected UDP sockets outside the ephemeral range (client sockets)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        ports |= socket_ports(table, _TCP_LISTEN, False)
    low, high = (int(x) for x in (read_text("/proc/sys/net/ipv4/ip_local_port_range") or "32768 60999").split())
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        ports |= {p for p in socket_ports(table, _UDP_UNCONNECTED, True) if not low <= p <= high}
    return sorted(ports)


def gather(module, spec):
    facts = {"hostname": socket.gethostname().split(".")[0], "os": os_facts(), "hardware": hardware_facts()}
    if spec.get("packages"):
        facts["packages"] = package_facts(module, spec["packages"])
    if spec.get("services"):
        facts["services"] = service_facts(module, spec["services"])
        facts["service_manager"] = service_manager()  # service fixes name their module: no setup run
    if spec.get("files"):
        facts["files"] = {path: file_facts(path, lines or []) for path, lines in spec["files"].items()}
    if spec.get("sysctl"):
        facts["sysctl"] = sysctl_facts(spec["sysctl"], spec.get("sysctl_root") or "/proc/sys")
    if spec.get("users"):
        facts["users"] = user_facts(spec["users"])
    if spec.get("groups"):
        facts["groups"] = group_facts(spec["groups"])
    if spec.get("listening_ports"):
        facts["listening_ports"] = listening_ports()
    return facts


class PlainModule:
    """What gather() needs of AnsibleModule, when the action plugin (plugins/action/reconciler_facts.py) runs
    this file as a plain script on the host: no AnsiballZ wrapper, so Ansible's module_utils are not
    imported there (they are most of a module run's time on the host)."""

    def __init__(self, params):
        self.params = params

    def get_bin_path(self, name, required=False):
        path = os.pathsep.join([os.environ.get("PATH", ""), "/sbin", "/usr/sbin", "/usr/local/sbin"])
        found = shutil.which(name, path=path)
        if required and not found:
            self.fail_json(msg="Failed to find required executable %s in paths: %s" % (name, path))
        return found

    def run_command(self, args):
        try:
            done = subprocess.run(args, check=False, stdin=subprocess.DEVNULL, capture_output=True)
        except OSError as exc:
            return 2, "", str(exc)
        return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")

    def fail_json(self, **result):
        self.exit_json(failed=True, **result)

    def exit_json(self, **result):
        sys.stdout.write(json.dumps(result))
        sys.stdout.flush()
        sys.exit(1 if result.get("failed") else 0)


def finish(module, spec):
    started = time.monotonic()
    facts = gather(module, spec)
    module.exit_json(changed=False, reconciler_facts=facts,
                     reconciler_seconds=round(time.monotonic() - started, 4))


def run_plain(params):
    """The action plugin's entry point (see PlainModule)."""
    module = PlainModule(params)
    try:
        finish(module, params.get("spec") or {})
    except Exception as exc:  # noqa: BLE001 -- an unforeseen host: a failed task with its reason
        module.fail_json(msg="reconciler_facts failed: %s: %s" % (type(exc).__name__, exc))


def main():
    from ansible.module_utils.basic import AnsibleModule  # here, so that run_plain never imports it

    module = AnsibleModule(argument_spec={"spec": {"type": "dict", "default": {}}}, supports_check_mode=True)
    finish(module, module.params["spec"] or {})


if __name__ == "__main__":
    main()
