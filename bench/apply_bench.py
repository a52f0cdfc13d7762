"""Change-review benchmark: `reconcile plan` + `reconcile apply --yes` against the peer a user has today,
an `ansible-playbook` of the same fixes run once with `--check --diff` (the review) and once for real.

20 inventory hosts over real SSH on loopback (127.0.0.1..16, one throwaway sshd), 5 drifted items per host:
two file modes, a missing line, a kernel parameter (its sysctl.d file and a stand-in /proc/sys tree under
a temp dir) and a stopped service (a harmless SysV init script whose state is a temp file, removed after).
Every repetition starts from the same drift. Prints medians of the wall times, the worst repetition, where
apply's time goes (from its own stage timings) and the load average.

    python bench/apply_bench.py [--hosts 20] [--repeat 3] [--forks 25] [--drifts 5|1]

`--drifts 1`: only one file mode drifted per host (the other four items in sync), the peer fixing that one.
`--in-sync N`: N more declared items per host that are already in sync (installed packages, existing users,
groups and files), read by every fact collection and fixed by no one: the shape of a real baseline.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.ssh_fixture import INIT_SCRIPT, Sshd, free_port, loopback_addresses

PEER = """- hosts: all
  gather_facts: false
  tasks:
    - {name: modes, ansible.builtin.file: {path: "{{ item }}", mode: "0600"}, loop: "{{ conf_files }}"}
    - {name: line, ansible.builtin.lineinfile: {path: "{{ conf_files[0] }}", line: "PermitRootLogin no"}}
    - name: sysctl persist
      ansible.builtin.lineinfile: {path: "{{ sysctl_file }}", create: true, mode: "0644",
                                   regexp: '^\\s*vm\\.swappiness\\s*=', line: "vm.swappiness = 10"}
    - {name: sysctl load, ansible.builtin.copy: {dest: "{{ reconciler_sysctl_root }}/vm/swappiness",
                                                 content: "10\\n"}}
    - {name: service, ansible.builtin.service: {name: "{{ bench_service }}", state: started}}
"""

PEER_ONE = """- hosts: all
  gather_facts: false
  tasks:
    - {name: mode, ansible.builtin.file: {path: "{{ conf_files[0] }}", mode: "0600"}}
"""


def host_dir(root: Path, i: int) -> Path:
    return root / "hosts" / f"h{i:02d}"


def reset(root: Path, hosts: int, drifts: int = 5) -> None:
    """Every host back to the same 5 drifted items (or 1: a.conf's mode, the rest in sync)."""
    for i in range(hosts):
        d = host_dir(root, i)
        (d / "sys" / "vm").mkdir(parents=True, exist_ok=True)
        for name in ("a.conf", "b.conf"):
            (d / name).write_text("Port 22\n" if drifts > 1 else "Port 22\nPermitRootLogin no\n")
            (d / name).chmod(0o644 if drifts > 1 or name == "a.conf" else 0o600)
        (d / "sys" / "vm" / "swappiness").write_text("60\n" if drifts > 1 else "10\n")
        shutil.rmtree(d / "sysctl.d", ignore_errors=True)
        (d / "service.running").unlink(missing_ok=True)
        if drifts == 1:
            (d / "sysctl.d").mkdir()
            (d / "sysctl.d" / "90-reconciler.conf").write_text("vm.swappiness = 10\n")
            (d / "service.running").touch()


def in_sync(count: int) -> dict[str, dict[str, str]]:
    """`count` declared items this machine already satisfies, spread over four sections."""
    pools = {
        "packages": ["bash", "coreutils", "dash", "dpkg", "apt", "base-files", "grep", "gzip", "sed", "tar",
                     "findutils", "hostname", "login", "passwd", "perl-base", "debianutils", "diffutils",
                     "mount", "util-linux", "ncurses-base"],
        "users": ["root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
                  "proxy", "www-data", "backup", "list", "irc", "nobody"],
        "groups": ["root", "daemon", "bin", "sys", "adm", "tty", "disk", "lp", "mail", "news", "uucp", "man",
                   "proxy", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape", "sudo", "audio"],
        "files": ["/etc/passwd", "/etc/group", "/etc/hostname", "/etc/hosts", "/etc/os-release", "/etc/shells",
                  "/etc/debian_version", "/etc/login.defs", "/etc/profile", "/etc/bash.bashrc"],
    }
    sections: dict[str, dict[str, str]] = {}
    for n in range(count):
        section = list(pools)[n % len(pools)]
        names = pools[section]
        sections.setdefault(section, {})[names[(n // len(pools)) % len(names)]] = "present"
    return sections


def build(root: Path, sshd: Sshd, hosts: int, forks: int, tag: str, extra: int = 0) -> list[Path]:
    scripts, inventory, docs = [], {}, []
    baseline = in_sync(extra)
    for i in range(hosts):
        d = host_dir(root, i)
        d.mkdir(parents=True)
        service = f"rcn-bench-{tag}-{i}"
        script = Path("/etc/init.d") / service
        script.write_text(INIT_SCRIPT.format(state=d / "service.running"))
        script.chmod(0o755)
        scripts.append(script)
        inventory[f"h{i:02d}"] = sshd.host_vars(
            sshd.addresses[i % len(sshd.addresses)],
            reconciler_sysctl_root=str(d / "sys"),
            reconciler_sysctl_file=str(d / "sysctl.d" / "90-reconciler.conf"),
            sysctl_file=str(d / "sysctl.d" / "90-reconciler.conf"),
            bench_service=service,
            ansible_python_interpreter="/usr/bin/python3",  # the discovered one is a broken shim here
            conf_files=[str(d / "a.conf"), str(d / "b.conf")],
        )
        docs.append(
            {
                "ci": f"h{i:02d}",
                "kind": "server",
                "desired": {
                    **baseline,
                    "files": {
                        **baseline.get("files", {}),
                        str(d / "a.conf"): {"mode": "0600", "contains": ["PermitRootLogin no"]},
                        str(d / "b.conf"): {"mode": "0600"},
                    },
                    "sysctl": {"vm.swappiness": "10"},
                    "services": {service: {"state": "running"}},
                },
            }
        )
    project = root / "project"
    (project / "inventories").mkdir(parents=True)
    (project / "desired").mkdir()
    (project / "inventories" / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": inventory}}))
    (project / "desired" / "hosts.yml").write_text(yaml.safe_dump_all(docs))
    (project / "reconciler.yml").write_text(f"ansible: {{forks: {forks}}}\n")
    (root / "peer.yml").write_text(PEER)
    (root / "peer-one.yml").write_text(PEER_ONE)
    return scripts


def timed(command: list[str], env: dict[str, str], ok: tuple[int, ...]) -> tuple[float, str]:
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode not in ok:
        raise SystemExit(
            f"{' '.join(command[:4])} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return wall, done.stderr


def stages(stderr: str, command: str) -> dict[str, float]:
    line = next((ln for ln in stderr.splitlines() if ln.startswith(f"{command}:")), "")
    return {name: float(sec) for name, sec in re.findall(r"(\w+) ([\d.]+) s", line)}


def once(root: Path, hosts: int, forks: int, drifts: int, env: dict[str, str]) -> dict[str, float]:
    project, plan = root / "project", root / "plan.json"
    reconcile = [sys.executable, "-m", "reconciler", "--project", str(project)]
    reset(root, hosts, drifts)
    plan_wall, err = timed(reconcile + ["plan", "--out", str(plan)], env, (2,))
    planned = stages(err, "plan")
    apply_wall, err = timed(reconcile + ["apply", str(plan), "--yes", "--max-changes", "1000"], env, (0,))
    spent = stages(err, "apply")
    reset(root, hosts, drifts)
    peer = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(project / "inventories" / "hosts.yml"),
        "-f",
        str(forks),
        str(root / ("peer.yml" if drifts > 1 else "peer-one.yml")),
    ]
    check_wall, _ = timed(peer + ["--check", "--diff"], env, (0,))
    real_wall, _ = timed(peer, env, (0,))
    return {
        "plan": plan_wall,
        "apply": apply_wall,
        "ours": plan_wall + apply_wall,
        "peer_check": check_wall,
        "peer_apply": real_wall,
        "peer": check_wall + real_wall,
        **{f"plan.{k}": v for k, v in planned.items()},
        **{f"apply.{k}": v for k, v in spent.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--drifts", type=int, choices=(1, 5), default=5)
    parser.add_argument("--in-sync", type=int, default=0, help="declared items per host already in sync")
    args = parser.parse_args()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="apply-bench-"))
    addresses = loopback_addresses(min(args.hosts, 16))  # sshd listens on at most 16 sockets
    sshd = Sshd(root / "sshd", free_port(addresses), addresses)
    (root / "sshd").mkdir()
    scripts = build(root, sshd.start(), args.hosts, args.forks, str(os.getpid()), args.in_sync)
    env = dict(
        os.environ,
        RECONCILER_REGISTER=f"sqlite:///{root / 'register.db'}",
        ANSIBLE_PIPELINING="True",
        ANSIBLE_NOCOLOR="1",
    )
    try:
        runs = [once(root, args.hosts, args.forks, args.drifts, env) for _ in range(args.repeat)]
    finally:
        sshd.stop()
        for script in scripts:
            script.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
    report(runs, args, load_before)


def report(runs: list[dict[str, float]], args: argparse.Namespace, load_before: tuple[float, ...]) -> None:
    median = {key: statistics.median(r.get(key, 0.0) for r in runs) for key in runs[0]}
    worst = max(runs, key=lambda r: r["ours"] / r["peer"])
    accounted = (
        median.get("apply.ansible", 0) + median.get("apply.collect", 0) + median.get("apply.verify", 0)
    )
    overhead = median["apply"] - accounted
    print(
        f"apply_bench: {args.hosts} hosts over SSH x {args.drifts} drifted item(s) (+{args.in_sync} in sync), "
        f"forks {args.forks}, "
        f"{args.repeat} repetition(s), medians; load average before {_load(load_before)}, "
        f"after {_load(os.getloadavg())}"
    )
    print(f"  ours: plan {median['plan']:.2f} s + apply {median['apply']:.2f} s = {median['ours']:.2f} s")
    print(
        f"  peer: ansible-playbook --check --diff {median['peer_check']:.2f} s + for real "
        f"{median['peer_apply']:.2f} s = {median['peer']:.2f} s"
    )
    print(
        f"  ours / peer: {median['ours'] / median['peer']:.2f} (worst repetition "
        f"{worst['ours'] / worst['peer']:.2f}; target <= 1)"
    )
    print(
        "  plan, where the time goes: "
        + ", ".join(f"{k.split('.', 1)[1]} {v:.2f} s" for k, v in median.items() if k.startswith("plan."))
    )
    print(
        "  apply, where the time goes: "
        + ", ".join(f"{k.split('.', 1)[1]} {v:.2f} s" for k, v in median.items() if k.startswith("apply."))
    )
    print(
        f"  apply overhead (wall minus ansible-runner and re-collection): {overhead:.2f} s = "
        f"{100 * overhead / median['apply']:.1f} % of apply (target <= 10 %)"
    )


def _load(load: tuple[float, ...]) -> str:
    return " / ".join(f"{x:.1f}" for x in load)


if __name__ == "__main__":
    main()
