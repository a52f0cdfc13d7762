"""apply when a planned host is unreachable at the freshness barrier: reachable when the plan was made, its
sshd gone when the plan is applied. The whole plan is refused (exit 1), no other host is changed, the
refusal names the unreachable host's CIs, and the register records no applied change. The other host runs
on the session's test sshd; the one that goes away has an sshd of its own, stopped after `plan`. Every
change is probed on its own (os.stat, the file's text, the init script's state file). Also: a stale host
and an unreachable one in one refusal, and a host that hangs (sshd frozen) rather than refuses."""

from __future__ import annotations

import json
import os
import signal
import stat
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from .ssh_fixture import Sshd, _children, free_port, sshd, stand_in_service  # noqa: F401

TIMEOUT = 5  # reconciler.yml ansible.timeout: an unreachable host must not hold the test for long


@pytest.fixture
def doomed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """An sshd of its own on 127.0.0.5, for the host that goes away between plan and apply."""
    server = Sshd(tmp_path_factory.mktemp("doomed-sshd"), free_port(["127.0.0.5"]), ["127.0.0.5"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    name = f"rcn-unreach-{os.getpid() % 100000}{len(str(tmp_path)) % 10}"
    with stand_in_service(name, tmp_path / "service.running"):
        yield name


def write_project(project, tmp_path: Path, sshd: Sshd, doomed: Sshd, service: str) -> dict[str, Path]:
    """web (stays up): a file mode, a missing line, a stopped service. db (goes away): two CIs on one host,
    a kernel parameter and a file."""
    paths = {"conf": tmp_path / "app.conf", "root": tmp_path / "sys", "sysctl": tmp_path / "sysctl.d" / "r.conf",
             "db_conf": tmp_path / "db.conf"}
    paths["conf"].write_text("Port 22\n")
    paths["conf"].chmod(0o666)
    paths["db_conf"].write_text("listen = *\n")
    paths["db_conf"].chmod(0o644)
    (paths["root"] / "vm").mkdir(parents=True)
    (paths["root"] / "vm" / "swappiness").write_text("60\n")
    hosts = {
        "web": sshd.host_vars("127.0.0.2"),
        "db": doomed.host_vars("127.0.0.5", reconciler_sysctl_root=str(paths["root"]),
                               reconciler_sysctl_file=str(paths["sysctl"])),
    }
    project.write("reconciler.yml", f"ansible:\n  forks: 5\n  timeout: {TIMEOUT}\n")
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"hosts": hosts}}))
    project.write("desired/hosts.yml", textwrap.dedent(f"""
        ci: web
        kind: server
        desired:
          files:
            {paths["conf"]}: {{mode: "0640", contains: ["PermitRootLogin no"]}}
          services: {{{service}: {{state: running}}}}
        ---
        ci: db
        kind: server
        desired:
          sysctl: {{vm.swappiness: "10"}}
        ---
        ci: db-config
        kind: server
        match: {{host: db}}
        desired:
          files:
            {paths["db_conf"]}: {{mode: "0600"}}
    """))
    return paths


def snapshot(paths: dict[str, Path], tmp_path: Path) -> dict[str, object]:
    """What a user would look at on both hosts, read without reconciler."""
    return {
        "conf": (paths["conf"].read_text(), stat.S_IMODE(os.stat(paths["conf"]).st_mode)),
        "db_conf": (paths["db_conf"].read_text(), stat.S_IMODE(os.stat(paths["db_conf"]).st_mode)),
        "swappiness": (paths["root"] / "vm" / "swappiness").read_text(),
        "sysctl_file": paths["sysctl"].exists(),
        "service": (tmp_path / "service.running").exists(),
    }


@pytest.mark.parametrize("flags", [[], ["--stop-on-error"]], ids=["default", "stop-on-error"])
def test_a_host_unreachable_at_apply_refuses_the_whole_plan(cli, project, tmp_path, sshd, doomed, service,
                                                              flags):
    paths = write_project(project, tmp_path, sshd, doomed, service)
    root, plan_file = str(project.root), tmp_path / "plan.json"
    planned = cli("--project", root, "plan", "--no-preview", "--out", str(plan_file))
    assert planned.code == 2, planned.out + planned.err
    plan = json.loads(plan_file.read_text())
    assert {s["ci"] for s in plan["steps"]} == {"web", "db", "db-config"}
    assert not any(s["manual"] for s in plan["steps"])
    before = snapshot(paths, tmp_path)

    doomed.stop()  # db's sshd is gone: its port is closed
    began = time.monotonic()
    refused = cli("--project", root, "apply", str(plan_file), "--yes", *flags)
    took = time.monotonic() - began

    assert refused.code == 1, refused.out + refused.err
    message = refused.err
    # both CIs of the unreachable host named once with why; not called stale (nothing is known to have changed)
    assert message.count("\n") == 1 and "refused: the plan could not be checked" in message, message
    assert "(db, db-config: could not be collected: unreachable: " in message and "web" not in message, message
    assert "Connection refused" in message and "nothing was changed" in message and "stale" not in message
    assert "Traceback" not in message + refused.out
    assert "applied" not in refused.out and "verified" not in refused.out, refused.out
    assert snapshot(paths, tmp_path) == before  # web's steps never ran, db could not be touched
    assert took < 60, took
    for ci in ("web", "db", "db-config"):
        history = cli("--project", root, "history", ci, "--format", "json")
        assert history.code == 0, history.err
        assert [e for e in json.loads(history.out) if e["type"] == "change"] == [], ci



def test_a_stale_host_and_an_unreachable_one_are_both_named(cli, project, tmp_path, sshd, doomed, service):
    paths = write_project(project, tmp_path, sshd, doomed, service)
    root, plan_file = str(project.root), tmp_path / "plan.json"
    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    paths["conf"].chmod(0o660)  # web changed after the review
    doomed.stop()
    refused = cli("--project", root, "apply", str(plan_file), "--yes")
    assert refused.code == 1, refused.out + refused.err
    assert "stale, reality changed since the review (web: its facts changed" in refused.err, refused.err
    assert "could not be checked against reality (db, db-config: could not be collected: unreachable" in refused.err
    assert refused.err.rstrip().endswith("nothing was changed; plan again"), refused.err
    assert stat.S_IMODE(os.stat(paths["conf"]).st_mode) == 0o660 and paths["conf"].read_text() == "Port 22\n"
    assert not (tmp_path / "service.running").exists()


@contextmanager
def frozen(server: Sshd) -> Iterator[None]:
    """The host hangs: its sshd and every session it forked stopped (SIGSTOP), so a connection is accepted by
    the kernel but nothing ever answers — resumed afterwards so that the fixture can stop it."""
    pids = [server.process.pid, *_children(server.process.pid)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_host_hanging_at_the_barrier_is_refused_within_the_ansible_timeout(cli, project, tmp_path, sshd,
                                                                             doomed, service):
    paths = write_project(project, tmp_path, sshd, doomed, service)
    root, plan_file = str(project.root), tmp_path / "plan.json"
    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    before = snapshot(paths, tmp_path)
    with frozen(doomed):
        began = time.monotonic()
        refused = cli("--project", root, "apply", str(plan_file), "--yes")
        took = time.monotonic() - began
    assert refused.code == 1, refused.out + refused.err
    assert "(db, db-config: could not be collected: " in refused.err and "web" not in refused.err, refused.err
    assert "timed out" in refused.err.lower(), refused.err
    assert snapshot(paths, tmp_path) == before
    assert took < 4 * TIMEOUT, took
