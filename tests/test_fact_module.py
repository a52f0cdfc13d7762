"""reconciler_facts against Ansible's builtin fact modules on this very host: the builtins are the reference.

One playbook runs setup, package_facts, service_facts, stat, getent, `sysctl -n` and `ss` (all read-only)
and our module on localhost; each section of our result must equal the builtins' answer, normalised into the
server vocabulary (reconciler/collectors/server.py).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from reconciler.collectors.ansible import ACTION_DIR, MODULE_DIR
from reconciler.collectors.server import normalise_packages, normalise_setup_facts

PATHS = ["/etc/passwd", "/etc/shadow", "/etc/ssh", "/etc/localtime", "/nonexistent/file"]
SYSCTL = ["net.ipv4.ip_forward", "net.ipv4.ip_local_port_range", "kernel.pid_max", "vm.swappiness"]
SERVICES = ["ssh", "cron", "procps", "no-such-service"]
USERS = sorted(entry.pw_name for entry in pwd.getpwall())
GROUPS = sorted(entry.gr_name for entry in grp.getgrall())


def playbook() -> list[dict[str, Any]]:
    spec = {"packages": ["*"], "services": SERVICES, "files": {p: [] for p in PATHS}, "sysctl": SYSCTL,
            "users": USERS, "groups": GROUPS, "listening_ports": True}
    return [{"hosts": "localhost", "gather_facts": True, "tasks": [
        {"name": "ours", "reconciler_facts": {"spec": spec}},
        {"name": "packages", "package_facts": {"manager": "auto"}},
        {"name": "services", "service_facts": {}},
        {"name": "stat", "stat": {"path": "{{ item }}", "follow": True, "get_checksum": False}, "loop": PATHS},
        {"name": "passwd", "getent": {"database": "passwd"}},
        {"name": "group", "getent": {"database": "group"}},
        {"name": "sysctl", "command": {"argv": ["sysctl", "-n", "{{ item }}"]}, "loop": SYSCTL},
        {"name": "ports", "command": {"argv": ["ss", "-Htln"]}},
    ]}]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    private = tmp_path_factory.mktemp("facts-private")
    (private / "project").mkdir()
    (private / "project" / "facts.yml").write_text(yaml.safe_dump(playbook()))
    found: dict[str, Any] = {}
    sockets = _open_sockets()
    found["opened"] = [sock.getsockname()[1] for sock in sockets]

    def keep(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok":
            found[data["task"]] = data["res"]
        return False

    run = ansible_runner.run(
        private_data_dir=str(private), playbook="facts.yml", quiet=True, event_handler=keep,
        inventory="localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3",
        envvars={"ANSIBLE_LIBRARY": str(MODULE_DIR), "ANSIBLE_PIPELINING": "True",
                 "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
    )
    for sock in sockets:
        sock.close()
    assert run.status == "successful", run.stdout.read()
    shutil.rmtree(private, ignore_errors=True)
    return found


def _open_sockets() -> list[socket.socket]:
    """A TCP listener on IPv4 and on IPv6, and an unbound-peer UDP socket below the ephemeral range."""
    tcp4 = socket.socket()
    tcp4.bind(("127.0.0.1", 0))
    tcp4.listen()
    tcp6 = socket.socket(socket.AF_INET6)
    tcp6.bind(("::1", 0))
    tcp6.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for port in range(23000, 24000):
        try:
            udp.bind(("127.0.0.1", port))
            break
        except OSError:
            continue
    return [tcp4, tcp6, udp]


def ours(results: dict[str, Any]) -> dict[str, Any]:
    return results["ours"]["reconciler_facts"]


def test_identity_matches_setup(results: dict[str, Any]) -> None:
    reference = normalise_setup_facts(results["Gathering Facts"]["ansible_facts"])
    assert ours(results)["os"] == reference["os"]
    assert ours(results)["hardware"] == reference["hardware"]
    assert ours(results)["hostname"] == reference["hostname"]


def test_packages_match_package_facts(results: dict[str, Any]) -> None:
    reference = normalise_packages(results["packages"]["ansible_facts"]["packages"])
    assert len(reference) > 50
    assert ours(results)["packages"] == reference


def test_service_state_matches_service_facts(results: dict[str, Any]) -> None:
    reference = {name.removesuffix(".service"): info for name, info in
                 results["services"]["ansible_facts"]["services"].items()}
    mine = ours(results)["services"]
    assert "no-such-service" not in mine
    for name in SERVICES[:-1]:
        if name in reference:
            assert mine[name]["state"] == ("running" if reference[name]["state"] == "running" else "stopped")
            assert isinstance(mine[name]["enabled"], bool)



def test_service_manager_is_systemd_exactly_when_ansible_says_so(results: dict[str, Any]) -> None:
    """Service fixes name their module from it: systemd's own, else Ansible's generic service module."""
    setup = results["Gathering Facts"]["ansible_facts"]["ansible_service_mgr"]
    assert ours(results)["service_manager"] == ("systemd" if setup == "systemd" else "sysv")

def test_files_match_stat(results: dict[str, Any]) -> None:
    for item in results["stat"]["results"]:
        st, mine = item["stat"], ours(results)["files"][item["item"]]
        if not st["exists"]:
            assert mine == {"exists": False}
            continue
        assert mine == {"exists": True, "mode": st["mode"], "owner": st["pw_name"], "group": st["gr_name"]}


def test_users_match_getent(results: dict[str, Any]) -> None:
    passwd = results["passwd"]["ansible_facts"]["getent_passwd"]
    groups = results["group"]["ansible_facts"]["getent_group"]
    for name, (_x, uid, gid, _gecos, home, shell) in passwd.items():
        member_of = sorted(g for g, entry in groups.items() if name in (entry[2] or "").split(","))
        assert ours(results)["users"][name] == {"uid": int(uid), "gid": int(gid), "home": home, "shell": shell,
                                                "groups": member_of}


def test_groups_match_getent(results: dict[str, Any]) -> None:
    for name, (_x, gid, members) in results["group"]["ansible_facts"]["getent_group"].items():
        assert ours(results)["groups"][name] == {"gid": int(gid),
                                                 "members": sorted(m for m in (members or "").split(",") if m)}


def test_sysctl_matches_the_sysctl_command(results: dict[str, Any]) -> None:
    reference = {item["item"]: " ".join(item["stdout"].split()) for item in results["sysctl"]["results"]}
    assert ours(results)["sysctl"] == reference


def test_listening_ports_include_the_sockets_this_test_opened(results: dict[str, Any]) -> None:
    # Other programs on this shared machine open and close sockets meanwhile: compare on ours only.
    by_ss = {int(line.split()[3].rsplit(":", 1)[1]) for line in results["ports"]["stdout"].splitlines()}
    tcp4, tcp6, udp = results["opened"]
    assert {tcp4, tcp6} <= by_ss
    assert {tcp4, tcp6, udp} <= set(ours(results)["listening_ports"])


def test_the_module_changes_nothing_and_says_so(results: dict[str, Any]) -> None:
    assert results["ours"]["changed"] is False



def test_the_plain_script_path_gathers_what_the_module_gathers(results: dict[str, Any], tmp_path: Path):
    """With pipelining, the action plugin runs the module file as a plain script (no AnsiballZ, no
    module_utils on the host): the same facts as the ordinary module, for the same spec."""
    play = {"hosts": "localhost", "gather_facts": False, "tasks": [playbook()[0]["tasks"][0]]}
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "facts.yml").write_text(yaml.safe_dump([play]))
    found: dict[str, Any] = {}

    def keep(event: dict[str, Any]) -> bool:
        if event.get("event") in ("runner_on_ok", "runner_on_failed"):
            found.update(event["event_data"]["res"])
        return False

    ansible_runner.run(
        private_data_dir=str(tmp_path), playbook="facts.yml", quiet=True, event_handler=keep,
        inventory="localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3",
        envvars={"ANSIBLE_LIBRARY": str(MODULE_DIR), "ANSIBLE_ACTION_PLUGINS": str(ACTION_DIR),
                 "ANSIBLE_PIPELINING": "True",
                 "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
    )
    assert "invocation" not in found and "invocation" in results["ours"], found  # AnsibleModule never ran
    plain, module = found["reconciler_facts"], dict(ours(results))
    assert plain.pop("listening_ports") and module.pop("listening_ports")  # sockets come and go between runs
    assert plain == module

def test_module_needs_only_the_standard_library() -> None:
    """On the host, the standard library only: Ansible's module_utils are imported by `main` alone (the
    ordinary module path), never by the plain script the action plugin runs."""
    source = (Path(MODULE_DIR) / "reconciler_facts.py").read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from ")) and not line.startswith("from __future__")}
    assert imports <= sys.stdlib_module_names
    assert [line.strip() for line in source.splitlines() if "import AnsibleModule" in line] == [
        "from ansible.module_utils.basic import AnsibleModule  # here, so that run_plain never imports it"
    ]


def test_the_host_module_gathers_exactly_the_sections_the_server_kind_requests():
    """A section added to the server kind (collectors/server.py) and not to the host module, or the other
    way round, fails here: the module's documented spec options and its gather() are its section list."""
    import ast

    import yaml

    from reconciler.collectors.server import SERVER

    source = (Path(__file__).parent.parent / "reconciler/plugins/modules/reconciler_facts.py").read_text()
    tree = ast.parse(source)
    documentation = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                         and getattr(node.targets[0], "id", "") == "DOCUMENTATION")
    documented = set(yaml.safe_load(documentation)["options"]["spec"]["suboptions"]) - {"sysctl_root"}
    gather = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "gather")
    gathered = {node.args[0].value for node in ast.walk(gather) if isinstance(node, ast.Call)
                and getattr(node.func, "attr", "") == "get" and getattr(node.func.value, "id", "") == "spec"
                and isinstance(node.args[0], ast.Constant)} - {"sysctl_root"}
    requested = {section.name for section in SERVER.sections if section.request is not None}
    assert documented == gathered == requested
