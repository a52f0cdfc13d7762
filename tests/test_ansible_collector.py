"""The ansible collector over real SSH: fan-out to several hosts, exact facts, failures as values."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.collectors.ansible import AnsibleCollector, safe_environment
from reconciler.collectors.base import CollectOptions, Progress
from reconciler.model import Collection

from .ssh_fixture import Sshd, free_port, make_project, server_ci, sshd, write_inventory  # noqa: F401

WEB_HOSTS = {"web-1": "127.0.0.2", "web-2": "127.0.0.3", "web-3": "127.0.0.4"}


class RecordingProgress(Progress):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start(self, total: int, label: str) -> None:
        self.calls.append(("start", total))

    def advance(self, count: int = 1) -> None:
        self.calls.append(("advance", count))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def desired_for(host: str, tmp: Path, port: int) -> dict[str, Any]:
    return {
        "files": {str(tmp / host / "app.conf"): {"mode": "0600", "owner": "root",
                                                 "contains": ["listen = 8080", "tls = on"]},
                  str(tmp / host / "gone.conf"): "absent"},
        "sysctl": {"net.ipv4.ip_forward": "0"},
        "listening_ports": [port],
        "users": {"root": {"shell": "/bin/bash"}},
    }


def create_drift(tmp: Path, host: str) -> None:
    """app.conf readable by all and missing a line; ip_forward on; gone.conf present."""
    (tmp / host / "sys" / "net" / "ipv4").mkdir(parents=True, exist_ok=True)
    (tmp / host / "sys" / "net" / "ipv4" / "ip_forward").write_text("1\n")
    (tmp / host / "app.conf").write_text("listen = 8080\n")
    (tmp / host / "app.conf").chmod(0o644)
    (tmp / host / "gone.conf").write_text("x\n")


def remove_drift(tmp: Path, host: str) -> None:
    (tmp / host / "sys" / "net" / "ipv4" / "ip_forward").write_text("0\n")
    (tmp / host / "app.conf").write_text("listen = 8080\n  tls = on\n")
    (tmp / host / "app.conf").chmod(0o600)
    (tmp / host / "gone.conf").unlink()


@pytest.fixture(scope="module")
def estate(sshd: Sshd,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three web hosts over SSH (each with its own sysctl root), a closed port, an unknown host key."""
    tmp = tmp_path_factory.mktemp("estate")
    hosts = {name: sshd.host_vars(address, reconciler_sysctl_root=str(tmp / name / "sys"))
             for name, address in WEB_HOSTS.items()}
    hosts["closed"] = dict(sshd.host_vars("127.0.0.5"), ansible_port=free_port(["127.0.0.5"]))
    (tmp / "empty_known_hosts").write_text("")
    hosts["stranger"] = dict(sshd.host_vars("127.0.0.6"), ansible_ssh_common_args=(
        f"-o UserKnownHostsFile={tmp / 'empty_known_hosts'} -o IdentitiesOnly=yes"))
    inventory = write_inventory(tmp / "inventory.yml", hosts)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    for host in WEB_HOSTS:
        create_drift(tmp, host)
    cis = [server_ci(host, host, desired_for(host, tmp, port)) for host in WEB_HOSTS]
    cis += [server_ci(name, name, {"sysctl": {"net.ipv4.ip_forward": "0"}}) for name in ("closed", "stranger")]
    project = make_project(tmp, inventory, forks=10, timeout=10)
    progress = RecordingProgress()
    first = AnsibleCollector(project, CollectOptions(progress=progress)).collect(cis)
    return {"tmp": tmp, "project": project, "cis": cis, "port": port, "listener": listener,
            "first": first, "progress": progress}


def test_drifted_hosts_report_exact_facts(estate: dict[str, Any]) -> None:
    first: Collection = estate["first"]
    for host in WEB_HOSTS:
        facts = first.facts[host].facts
        assert facts is not None, first.facts[host].error
        assert facts["files"][str(estate["tmp"] / host / "app.conf")] == {
            "exists": True, "mode": "0644", "owner": "root", "group": "root", "contains": ["listen = 8080"]}
        assert facts["files"][str(estate["tmp"] / host / "gone.conf")]["exists"] is True
        assert facts["sysctl"] == {"net.ipv4.ip_forward": "1"}
        assert estate["port"] in facts["listening_ports"]
        assert facts["users"]["root"]["shell"] == "/bin/bash"
        assert facts["os"]["distribution"] and facts["hardware"]["cpus"] >= 1


def test_closed_port_host_is_unknown_with_the_ssh_error(estate: dict[str, Any]) -> None:
    first: Collection = estate["first"]
    assert first.facts["closed"].facts is None
    assert first.facts["closed"].error.startswith("unreachable:")
    assert "Connection refused" in first.facts["closed"].error
    statuses = {source.scope: (source.status, source.error) for source in first.sources}
    assert statuses["closed"] == ("failed", first.facts["closed"].error)
    assert all(statuses[host] == ("ok", None) for host in WEB_HOSTS)


def test_host_key_checking_is_left_on(estate: dict[str, Any]) -> None:
    """A host whose key is not known is refused, so ansible-runner's default of turning checks off is undone."""
    error = estate["first"].facts["stranger"].error
    assert error and "Host key verification failed" in error


def test_every_host_reached_is_observed_and_failed_ones_are_not(estate: dict[str, Any]) -> None:
    observed = {item.source: item for item in estate["first"].observed}
    assert set(observed) == set(WEB_HOSTS)
    assert observed["web-2"].ci == "web-2" and observed["web-2"].identity["host"] == "web-2"


def test_progress_counts_each_host_once(estate: dict[str, Any]) -> None:
    calls = estate["progress"].calls
    assert calls[0] == ("start", 5) and calls[-1] == ("finish", None)
    assert calls.count(("advance", 1)) == 5


def test_removed_drift_is_reported_in_sync(estate: dict[str, Any]) -> None:
    for host in WEB_HOSTS:
        remove_drift(estate["tmp"], host)
    estate["listener"].close()
    again = AnsibleCollector(estate["project"], CollectOptions()).collect(estate["cis"])
    for host in WEB_HOSTS:
        facts = again.facts[host].facts
        assert facts is not None, again.facts[host].error
        assert facts["files"][str(estate["tmp"] / host / "app.conf")] == {
            "exists": True, "mode": "0600", "owner": "root", "group": "root",
            "contains": ["listen = 8080", "tls = on"]}
        assert facts["files"][str(estate["tmp"] / host / "gone.conf")] == {"exists": False}
        assert facts["sysctl"] == {"net.ipv4.ip_forward": "0"}
        assert estate["port"] not in facts["listening_ports"]


def test_several_cis_on_one_host_share_one_gathering(sshd: Sshd, tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inv.yml", {"db": sshd.host_vars("127.0.0.2")})
    (tmp_path / "a").write_text("alpha\n")
    cis = [server_ci("db-files", "db", {"files": {str(tmp_path / "a"): {"contains": ["alpha"]}}}),
           server_ci("db-users", "db", {"users": {"root": {"uid": 0}}, "groups": {"root": {"gid": 0}}})]
    got = AnsibleCollector(make_project(tmp_path, inventory), CollectOptions()).collect(cis)
    assert got.stats["hosts"] == 1 and len(got.sources) == 1
    for ci in ("db-files", "db-users"):
        assert got.facts[ci].facts["files"][str(tmp_path / "a")]["contains"] == ["alpha"]
        assert got.facts[ci].facts["users"]["root"]["uid"] == 0
        assert got.facts[ci].facts["groups"]["root"]["gid"] == 0


def test_host_missing_from_inventory_is_unknown_without_running_ansible(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inv.yml", {"web-1": {"ansible_connection": "local"}})
    got = AnsibleCollector(make_project(tmp_path, inventory), CollectOptions()).collect(
        [server_ci("db-01", "db-01", {"sysctl": {"vm.swappiness": "10"}})])
    assert "host 'db-01' is not in the inventory" in got.facts["db-01"].error
    assert got.sources == () and got.observed == ()


def _silent_listener() -> socket.socket:
    silent = socket.socket()  # accepts TCP (kernel backlog) but never sends an SSH banner
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    return silent


def test_a_host_that_never_answers_times_out(tmp_path: Path) -> None:
    """ansible.timeout bounds a host that never answers (alone: nothing else shares the short timeout)."""
    silent = _silent_listener()
    inventory = write_inventory(tmp_path / "inv.yml", {
        "mute": {"ansible_host": "127.0.0.1", "ansible_port": silent.getsockname()[1]}})
    began = time.monotonic()
    got = AnsibleCollector(make_project(tmp_path, inventory, timeout=2), CollectOptions()).collect(
        [server_ci("mute", "mute", {"sysctl": {"vm.swappiness": "1"}})])
    silent.close()
    assert got.facts["mute"].error.startswith("timed out:"), got.facts["mute"].error
    assert time.monotonic() - began < 20


def test_a_silent_host_does_not_hold_up_the_others(tmp_path: Path) -> None:
    """The silent host has its own short connection timeout; the local host keeps the project's generous
    one, so a loaded machine slowing the local module down cannot turn it into a timeout."""
    silent = _silent_listener()
    inventory = write_inventory(tmp_path / "inv.yml", {
        "mute": {"ansible_host": "127.0.0.1", "ansible_port": silent.getsockname()[1], "ansible_timeout": 2},
        "me": {"ansible_connection": "local"}})
    cis = [server_ci("mute", "mute", {"sysctl": {"vm.swappiness": "1"}}),
           server_ci("me", "me", {"sysctl": {"vm.swappiness": "1"}})]
    began = time.monotonic()
    got = AnsibleCollector(make_project(tmp_path, inventory, timeout=60), CollectOptions()).collect(cis)
    silent.close()
    assert got.facts["mute"].error.startswith("timed out:"), got.facts["mute"].error
    assert got.facts["me"].ok, got.facts["me"].error
    assert time.monotonic() - began < 45  # the silent host gave up on its own 2 s, not the project's 60 s


def test_a_result_too_big_for_ansible_runner_is_an_error_not_empty_facts(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inv.yml", {"me": {"ansible_connection": "local"}})
    cis = [server_ci("me", "me", {"packages": {"*": "present"}})]
    got = AnsibleCollector(make_project(tmp_path, inventory),
                           CollectOptions(extra={"ansible_max_result": 2000})).collect(cis)
    assert got.facts["me"].facts is None
    assert "dropped by ansible-runner" in got.facts["me"].error
    assert got.sources[0].status == "failed"


def test_credentials_are_not_handed_to_ansible() -> None:
    env = {"PATH": "/bin", "HOME": "/root", "SSH_AUTH_SOCK": "/tmp/agent", "AWS_SECRET_ACCESS_KEY": "s",
           "AWS_PROFILE": "p", "GITHUB_TOKEN": "t", "PGPASSWORD": "pw", "RECONCILER_REGISTER": "postgresql://u:pw@h/db",
           "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/vault-pass", "MY_API_KEY": "k"}
    assert safe_environment(env) == {"PATH": "/bin", "HOME": "/root", "SSH_AUTH_SOCK": "/tmp/agent",
                                     "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/vault-pass"}


INTERRUPTED = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from ssh_fixture import make_project, server_ci
    from reconciler.collectors.ansible import AnsibleCollector
    from reconciler.collectors.base import CollectOptions
    project = make_project(Path({root!r}), Path({inventory!r}), timeout=60)
    print("collecting", flush=True)
    AnsibleCollector(project, CollectOptions()).collect([server_ci("mute", "mute", {{"sysctl": {{"a.b": "1"}}}})])
""")


def test_ctrl_c_stops_the_run_and_cleans_up(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    inventory = write_inventory(tmp_path / "inv.yml", {
        "mute": {"ansible_host": "127.0.0.1", "ansible_port": silent.getsockname()[1]}})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = INTERRUPTED.format(tests=str(Path(__file__).parent), root=str(tmp_path), inventory=str(inventory))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, TMPDIR=str(scratch)), text=True)
    assert child.stdout.readline().strip() == "collecting"
    time.sleep(3)  # ansible is now waiting on the silent host
    child.send_signal(signal.SIGINT)
    _out, err = child.communicate(timeout=20)
    silent.close()
    assert child.returncode != 0 and "KeyboardInterrupt" in err
    assert not [p for p in scratch.iterdir() if p.name.startswith("reconciler-ansible-")]
    assert not [pid for pid in _pids() if str(scratch) in _cmdline(pid)], "Ansible left running"


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
