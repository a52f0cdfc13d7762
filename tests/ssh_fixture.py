"""A real sshd on loopback for the ansible collector's tests and benchmark, and a hand-built Project.

The sshd runs from its own config file in a temp dir (its own host key, an authorized client key, root login
by key only), listens on one free port at 127.0.0.1..127.0.0.N so that N inventory hosts fan out over real
SSH, and is stopped by PID — with the per-connection children it forked. The system sshd and ~/.ssh are
never touched. Clients trust the host key through a known_hosts file in the temp dir: host key checking
stays on.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.inventory import Inventory
from reconciler.model import CI, Origin, Project, Settings

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port(addresses: list[str]) -> int:
    """A port free on every one of `addresses`."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        if all(_bindable(address, port) for address in addresses):
            return port
    raise RuntimeError("no free port")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
            return True
        except OSError:
            return False


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                    found.append(int(entry.name))
            except (OSError, IndexError):
                pass
    return found


# A stand-in init script (service fixes and their probes), for the SSH tests and the apply benchmark.
INIT_SCRIPT = """#!/bin/sh
# a stand-in service for reconciler's tests: its state is a file, it runs nothing
STATE={state}
case "$1" in
  start) touch "$STATE" ;;
  stop) rm -f "$STATE" ;;
  status) if [ -e "$STATE" ]; then echo "running"; exit 0; else echo "stopped"; exit 3; fi ;;
  *) echo "Usage: $0 {{start|stop|status}}"; exit 1 ;;
esac
"""


@contextmanager
def stand_in_service(name: str, state: Path) -> Iterator[str]:
    """/etc/init.d/NAME running INIT_SCRIPT (its state the file `state`), removed afterwards."""
    script = Path("/etc/init.d") / name
    script.write_text(INIT_SCRIPT.format(state=state))
    script.chmod(0o755)
    try:
        yield name
    finally:
        script.unlink()


@dataclass
class Sshd:
    root: Path
    port: int
    addresses: list[str]
    process: subprocess.Popen | None = None

    @property
    def client_key(self) -> Path:
        return self.root / "client_key"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def start(self) -> Sshd:
        _keygen(self.root / "host_key")
        _keygen(self.client_key)
        shutil.copy(self.root / "client_key.pub", self.root / "authorized_keys")
        host_key = (self.root / "host_key.pub").read_text().split()[:2]
        self.known_hosts.write_text("".join(f"[{a}]:{self.port} {' '.join(host_key)}\n" for a in self.addresses))
        config = self.root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", *(f"ListenAddress {a}" for a in self.addresses),
            f"HostKey {self.root / 'host_key'}", f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}", "PermitRootLogin prohibit-password",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "MaxStartups 200:30:400", "MaxSessions 200", "LogLevel ERROR", "Subsystem sftp internal-sftp", "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
        self._wait_listening()
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection((self.addresses[-1], self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        if self.process is None:
            return
        for child in _children(self.process.pid):  # sessions still held open by ssh ControlPersist
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def host_vars(self, address: str, **more: Any) -> dict[str, Any]:
        """Inventory variables reaching this sshd at `address` as root with the test key."""
        return {
            "ansible_host": address, "ansible_port": self.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={self.known_hosts} -o IdentitiesOnly=yes",
            "ansible_control_path_dir": str(self.root / "cp"), **more,
        }


def loopback_addresses(count: int) -> list[str]:
    return [f"127.0.0.{i}" for i in range(1, count + 1)]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not Path(SSHD).exists() or not shutil.which("ssh"):
        pytest.fail("openssh-server and openssh-client are required (scripts/test installs them)")
    addresses = loopback_addresses(6)
    server = Sshd(tmp_path_factory.mktemp("sshd"), free_port(addresses), addresses).start()
    try:
        yield server
    finally:
        server.stop()


# --- a Project around a test inventory ---------------------------------------------------------------

def write_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def make_project(root: Path, inventory: Path, **ansible: Any) -> Project:
    settings = Settings(ansible=ansible, raw={"ansible": ansible})
    return Project(root=root, settings=settings, cis=(), inventory=Inventory([str(inventory)]))


def server_ci(ci_id: str, host: str, desired: dict[str, Any]) -> CI:
    return CI(id=ci_id, kind="server", desired=desired, match={"host": host}, origin=Origin("test.yml", 0))
