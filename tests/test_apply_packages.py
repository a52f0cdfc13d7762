"""Package steps applied for real, without a network: a dummy package (no files, two versions) served by an
apt repository in a temp directory (`file:` source, trusted), installed and removed by `reconcile apply`
over the test sshd, each result probed with dpkg-query. The machine is left as it was: the package purged,
the source and its package lists removed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ssh_fixture import Sshd, sshd  # noqa: F401

PACKAGE = "reconciler-test-dummy"
SOURCE = Path(f"/etc/apt/sources.list.d/{PACKAGE}.list")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("dpkg-scanpackages") is None or shutil.which("apt-get") is None,
    reason="installs a package: needs root, apt-get and dpkg-scanpackages (Debian's dpkg-dev)",
)


def _build(repo: Path, version: str) -> None:
    tree = repo / f"{PACKAGE}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: tests <tests@localhost>\n"
        "Description: reconciler test package with no files\n"
    )
    subprocess.run(["dpkg-deb", "--build", str(tree), str(repo / f"{PACKAGE}_{version}_all.deb")],
                   check=True, capture_output=True)
    shutil.rmtree(tree)


def _apt_update(*options: str) -> None:
    """Refresh our source's package list only: the other sources' lists are kept as they are."""
    done = subprocess.run(["apt-get", "update", "-qq", "-o", f"Dir::Etc::sourcelist={SOURCE}",
                           "-o", "Dir::Etc::sourceparts=-", "-o", "APT::Get::List-Cleanup=0", *options],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def apt_repo() -> Iterator[Path]:
    # not under pytest's tmp_path (mode 0700): apt fetches as its unprivileged `_apt` user
    repo = Path(tempfile.mkdtemp(prefix="rcn-apt-"))
    repo.chmod(0o755)
    for version in ("1.0", "2.0"):
        _build(repo, version)
    packages = subprocess.run(["dpkg-scanpackages", "--multiversion", "."], cwd=repo, check=True,
                              capture_output=True, text=True).stdout
    (repo / "Packages").write_text(packages)
    SOURCE.write_text(f"deb [trusted=yes] file:{repo} ./\n")
    try:
        _apt_update()
        yield repo
    finally:
        subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True)
        SOURCE.unlink(missing_ok=True)
        lists = Path("/var/lib/apt/lists")
        for stale in lists.glob(f"*{str(repo).strip('/').replace('/', '_')}*"):
            stale.unlink()
        shutil.rmtree(repo, ignore_errors=True)


def installed() -> str | None:
    """The installed version, by dpkg itself."""
    found = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", PACKAGE],
                           capture_output=True, text=True)
    status, _, version = found.stdout.partition(" ")
    return version if found.returncode == 0 and status == "installed" else None


def plan_and_apply(cli, project, tmp_path: Path, packages: str) -> list[dict]:
    project.write("desired/web.yml", f"ci: web\nkind: server\nmatch: {{host: web}}\n"
                                     f"desired: {{packages: {packages}}}\n")
    plan_file = tmp_path / "plan.json"
    planned = cli("--project", str(project.root), "plan", "--no-preview", "--out", str(plan_file))
    assert planned.code == 2, planned.out + planned.err
    applied = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    return json.loads(plan_file.read_text())["steps"]


def test_a_package_is_installed_at_its_exact_version_then_removed(cli, project, tmp_path, sshd, apt_repo):
    project.write("inventories/hosts.yml",
                  json.dumps({"all": {"hosts": {"web": sshd.host_vars("127.0.0.1")}}}))
    assert installed() is None

    [step] = plan_and_apply(cli, project, tmp_path, f'{{{PACKAGE}: "1.0"}}')
    assert (step["action"], step["args"]) == ("package", {"name": f"{PACKAGE}=1.0", "state": "present"})
    assert installed() == "1.0"  # the pinned version, not the newest (2.0) the repository has

    [step] = plan_and_apply(cli, project, tmp_path, f"{{{PACKAGE}: absent}}")
    assert step["args"] == {"name": PACKAGE, "state": "absent"} and installed() is None

    plan_and_apply(cli, project, tmp_path, f"{{{PACKAGE}: present}}")
    assert installed() == "2.0"
    history = cli("--project", str(project.root), "history", "web", "--format", "json").json()
    changes = [entry for entry in history if entry["type"] == "change"]
    assert [c["result"] for c in changes] == ["applied+verified"] * 3, changes
