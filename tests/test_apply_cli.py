"""apply through the command line, the parts a user meets at the prompt and after a failure: confirmation on
a terminal (a real pty), --stop-on-error, and the CI's history in JSON with the applied changes beside its
configuration versions. Local connection, every change under a temp directory."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .ssh_fixture import INIT_SCRIPT
from .test_plan_apply_local import SYSCTL, plan_of, write_project


def on_a_terminal(project: Path, plan_file: Path, answer: str) -> tuple[int, str]:
    """`reconcile apply PLAN` with a pty as its terminal; `answer` typed at the prompt."""
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--project", str(project), "apply",
                             str(plan_file)], stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    seen, answered, deadline = b"", False, time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(main, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=60), seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)


def test_on_a_terminal_apply_asks_and_no_applies_nothing(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    code, screen = on_a_terminal(project.root, plan_file, "n")
    assert "apply these 4 step(s)? [y/N]" in screen and "s001" in screen
    assert code == 1 and "not confirmed" in screen
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o644
    assert paths["target"].read_text() == "PermitRootLogin yes\n"
    assert "applied" not in cli("--project", str(project.root), "history", "workstation").out


def test_on_a_terminal_yes_applies(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    code, screen = on_a_terminal(project.root, plan_file, "y")
    assert code == 0, screen
    assert screen.count("applied+verified") == 4
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o600


@pytest.fixture
def service(tmp_path):
    name = f"rcn-apply-{os.getpid() % 100000}"
    script = Path("/etc/init.d") / name
    script.write_text(INIT_SCRIPT.format(state=tmp_path / "service.running"))
    script.chmod(0o755)
    yield name
    script.unlink()


def test_stop_on_error_leaves_the_later_steps_unattempted_and_recorded(cli, project, tmp_path, service):
    paths = write_project(project, tmp_path, extra=f"          services: {{{service}: {{state: running}}}}")
    paths["sysctl_file"].mkdir()  # the sysctl step fails; the service step comes after it
    plan, plan_file = plan_of(cli, project, tmp_path)
    done = cli("--project", str(project.root), "apply", str(plan_file), "--yes", "--stop-on-error")
    assert done.code == 2, done.out + done.err
    by_action = {s["action"]: s for s in plan["steps"]}
    assert f"{by_action['sysctl']['id']} workstation {SYSCTL}: failed" in done.out
    assert f"{by_action['service']['id']} workstation services.{service}.state: skipped: not attempted" in done.out
    assert not (tmp_path / "service.running").exists()
    # the steps before the failure were applied, and verified by a collection of their own
    assert done.out.count("applied+verified") == 3
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o600
    history = cli("--project", str(project.root), "history", "workstation").out
    assert f"failed  {SYSCTL}" in history and f"skipped  services.{service}.state" in history


def test_without_stop_on_error_the_step_after_a_failure_still_runs(cli, project, tmp_path, service):
    paths = write_project(project, tmp_path, extra=f"          services: {{{service}: {{state: running}}}}")
    paths["sysctl_file"].mkdir()
    _, plan_file = plan_of(cli, project, tmp_path)
    done = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert done.code == 2 and done.out.count("applied+verified") == 4, done.out
    assert (tmp_path / "service.running").exists()


def test_history_json_has_the_applied_changes_beside_the_versions(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    assert cli("--project", str(project.root), "apply", str(plan_file), "--yes").code == 0
    assert cli("--project", str(project.root), "run").code == 0
    shown = cli("--project", str(project.root), "history", "workstation", "--format", "json")
    timeline = json.loads(shown.out)
    versions = [e for e in timeline if e["type"] == "version"]
    changes = [e for e in timeline if e["type"] == "change"]
    assert [v["version"] for v in versions] == [1, 2]
    assert len(changes) == 4 and {c["result"] for c in changes} == {"applied+verified"}
    mode = next(c for c in changes if c["path"].endswith("mode"))
    assert (mode["before"], mode["after"]) == ("0644", "0600") and mode["plan_digest"]
    assert str(paths["target"]) in mode["path"]
    # by time: the applied changes come between the version they fixed and the one that saw the fix
    assert timeline.index(versions[0]) < timeline.index(mode) < timeline.index(versions[1])
    # one spelling of a path in both kinds of entry (keys with dots quoted: files["/x/app.conf"].mode)
    assert {path for path, _, _ in versions[1]["changes"]} == {c["path"] for c in changes}
