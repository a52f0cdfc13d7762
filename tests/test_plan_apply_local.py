"""plan → review → apply on this machine (local connection), every change under a temp directory:
file modes, missing lines, a kernel parameter (its sysctl.d file and a stand-in /proc/sys tree), each
checked with an independent probe (os.stat, the file's text), then the register's record."""

from __future__ import annotations

import json
import os
import stat
import sys

from reconciler.paths import display

from .moto_fixture import closed_port

SYSCTL = display(("sysctl", "net.ipv4.ip_forward"))


def write_project(project, tmp_path, extra: str = "") -> dict:
    target, root = tmp_path / "app.conf", tmp_path / "proc-sys"
    (root / "net" / "ipv4").mkdir(parents=True)
    (root / "net" / "ipv4" / "ip_forward").write_text("1\n")
    target.write_text("PermitRootLogin yes\n")
    target.chmod(0o644)
    sysctl_file = tmp_path / "sysctl.d" / "90-reconciler.conf"
    sysctl_file.parent.mkdir()
    project.write(
        "inventories/hosts.yml",
        f"""
        all:
          hosts:
            localhost:
              ansible_connection: local
              ansible_python_interpreter: {sys.executable}
              reconciler_sysctl_root: {root}
              reconciler_sysctl_file: {sysctl_file}
    """,
    )
    project.write(
        "desired/local.yml",
        f"""
        ci: workstation
        kind: server
        match: {{host: localhost}}
        desired:
          files:
            {target}: {{mode: "0600", contains: ["PermitRootLogin no", "MaxAuthTries 3"]}}
          sysctl: {{net.ipv4.ip_forward: "0"}}
{extra}
    """,
    )
    return {"target": target, "root": root, "sysctl_file": sysctl_file}


def test_plan_review_apply_verify_and_record(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    plan_file = tmp_path / "plan.json"
    planned = cli("--project", str(project.root), "plan", "--out", str(plan_file))
    assert planned.code == 2, planned.err
    assert "preview (Ansible check mode --diff" in planned.out
    assert "+PermitRootLogin no" in planned.out or "PermitRootLogin no" in planned.out
    plan = json.loads(plan_file.read_text())
    assert plan["schema"] == "reconciler.plan/v1"
    actions = sorted((s["action"], tuple(s["path_parts"])) for s in plan["steps"])
    target = str(paths["target"])
    assert actions == [
        ("file", ("files", target, "mode")),
        ("lineinfile", ("files", target, "contains")),
        ("lineinfile", ("files", target, "contains")),
        ("sysctl", ("sysctl", "net.ipv4.ip_forward")),
    ]
    assert {s["path"] for s in plan["steps"]} == {display(("files", target, "mode")), SYSCTL,
                                                  display(("files", target, "contains"))}
    # the plan changed nothing
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o644
    assert paths["target"].read_text() == "PermitRootLogin yes\n"

    applied = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert applied.out.count("applied+verified") == 4
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o600
    lines = paths["target"].read_text().splitlines()
    assert "PermitRootLogin no" in lines and "MaxAuthTries 3" in lines
    assert paths["sysctl_file"].read_text() == "net.ipv4.ip_forward = 0\n"
    assert (paths["root"] / "net" / "ipv4" / "ip_forward").read_text().strip() == "0"

    again = cli("--project", str(project.root), "run")
    assert again.code == 0, again.out
    history = cli("--project", str(project.root), "history", "workstation")
    assert history.code == 0, history.err
    assert "applied+verified" in history.out and display(("files", target, "mode")) in history.out


def plan_of(cli, project, tmp_path, *extra: str) -> tuple[dict, object]:
    plan_file = tmp_path / "plan.json"
    planned = cli("--project", str(project.root), "plan", "--no-preview", "--out", str(plan_file), *extra)
    assert planned.code in (0, 2), planned.err
    return json.loads(plan_file.read_text()), plan_file


def apply(cli, project, plan_file, *extra: str):
    return cli("--project", str(project.root), "apply", str(plan_file), "--yes", *extra)


def test_host_changed_after_the_review_is_refused_as_stale(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    paths["target"].chmod(0o640)  # someone changed the host after the review
    refused = apply(cli, project, plan_file)
    assert refused.code == 1
    assert "stale" in refused.err and "workstation" in refused.err
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o640
    assert paths["target"].read_text() == "PermitRootLogin yes\n"
    assert not paths["sysctl_file"].exists()


def test_an_edited_plan_is_refused(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    plan, plan_file = plan_of(cli, project, tmp_path)
    mode_step = next(s for s in plan["steps"] if s["action"] == "file")
    mode_step["args"]["mode"] = "0777"
    plan_file.write_text(json.dumps(plan))
    refused = apply(cli, project, plan_file)
    assert refused.code == 1 and "edited" in refused.err and "workstation" in refused.err
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o644


def test_a_changed_desired_state_is_refused(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    desired = project.root / "desired" / "local.yml"
    desired.write_text(desired.read_text().replace('"0600"', '"0640"'))
    refused = apply(cli, project, plan_file)
    assert refused.code == 1 and "desired state changed" in refused.err
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o644


def test_more_steps_than_max_changes_is_refused(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    refused = apply(cli, project, plan_file, "--max-changes", "3")
    assert refused.code == 1 and "4 automatic steps" in refused.err and "--max-changes 3" in refused.err
    assert paths["target"].read_text() == "PermitRootLogin yes\n"


def test_without_yes_off_a_terminal_nothing_is_applied(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    _, plan_file = plan_of(cli, project, tmp_path)
    refused = cli("--project", str(project.root), "apply", str(plan_file))
    assert refused.code == 1 and "--yes" in refused.err
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o644


def test_one_failing_step_the_others_applied_exit_2_failure_recorded(cli, project, tmp_path):
    paths = write_project(project, tmp_path)
    paths["sysctl_file"].mkdir()  # a directory where the sysctl.d file should be: lineinfile fails there
    plan, plan_file = plan_of(cli, project, tmp_path)
    done = apply(cli, project, plan_file)
    assert done.code == 2, done.out + done.err
    sysctl = next(s for s in plan["steps"] if s["action"] == "sysctl")
    assert f"{sysctl['id']} workstation {SYSCTL}: failed" in done.out
    assert done.out.count("applied+verified") == 3
    assert stat.S_IMODE(os.stat(paths["target"]).st_mode) == 0o600
    assert "MaxAuthTries 3" in paths["target"].read_text()
    history = cli("--project", str(project.root), "history", "workstation")
    assert f"failed  {SYSCTL}" in history.out


def test_a_waived_drift_is_not_planned(cli, project, tmp_path):
    write_project(project, tmp_path)
    waived = cli(
        "--project",
        str(project.root),
        "waive",
        "workstation",
        "files.*.mode",
        "--reason",
        "legacy",
        "--until",
        "2099-01-01",
    )
    assert waived.code == 0, waived.err
    plan, _ = plan_of(cli, project, tmp_path)
    assert [s["action"] for s in plan["steps"] if s["path"].endswith(".mode")] == []
    assert any(s["action"] == "lineinfile" for s in plan["steps"])


def test_a_version_constraint_becomes_manual_with_its_reason(cli, project, tmp_path):
    write_project(project, tmp_path, extra='          packages: {python3: ">=99"}')
    plan, _ = plan_of(cli, project, tmp_path)
    step = next(s for s in plan["steps"] if s["path"] == "packages.python3")
    assert step["manual"] is True and "'>=99' is a version constraint" in step["reason"]


def test_the_review_names_the_cis_it_could_not_check(cli, project, tmp_path):
    """Exit 3 is not a clean "nothing to change": every format of the review says which CIs went unchecked."""
    conf = tmp_path / "ok.conf"
    conf.write_text("x\n")
    conf.chmod(0o600)
    project.write(
        "inventories/hosts.yml",
        f"""
        all:
          hosts:
            localhost: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}
            gone: {{ansible_host: 127.0.0.1, ansible_port: {closed_port()}, ansible_user: root}}
    """,
    )
    project.write(
        "desired/two.yml",
        f"""
        ci: ok
        kind: server
        match: {{host: localhost}}
        desired: {{files: {{{conf}: {{mode: "0600"}}}}}}
        ---
        ci: gone
        kind: server
        desired: {{files: {{/etc/hostname: {{exists: true}}}}}}
    """,
    )
    for form in ("text", "markdown", "json"):
        planned = cli("--project", str(project.root), "plan", "--format", form, "--out", str(tmp_path / "p"))
        assert planned.code == 3, planned.out + planned.err
        if form == "json":
            (unknown,) = planned.json()["unknown"]
            assert unknown["ci"] == "gone" and unknown["error"], unknown
        else:
            bullet = "\n- gone: " if form == "markdown" else "\n  gone: "
            assert "could not be checked" in planned.out and bullet in planned.out, planned.out
            assert "ok:" not in planned.out


def test_the_markdown_review_shows_angle_brackets_as_text_not_html(cli, project, tmp_path):
    """An Apache-style line (`<Directory /srv>`) must reach the reviewer, not vanish as an HTML tag."""
    write_project(project, tmp_path)
    desired = project.root / "desired" / "local.yml"
    desired.write_text(desired.read_text().replace('"MaxAuthTries 3"', '"<Directory /srv> & more"'))
    planned = cli("--project", str(project.root), "plan", "--no-preview", "--format", "markdown")
    assert planned.code == 2, planned.err
    assert "| &lt;Directory /srv&gt; &amp; more |" in planned.out, planned.out


def test_two_cis_that_disagree_on_a_value_get_manual_steps_naming_each_other(cli, project, tmp_path):
    """One file's mode declared 0600 by one CI and 0640 by another: applying either would put the other out
    of sync, so neither is automatic; a line (a member) one of them adds breaks nothing and stays automatic."""
    target = tmp_path / "app.conf"
    target.write_text("x\n")
    target.chmod(0o644)
    project.localhost(hardening={"files": {str(target): {"mode": "0600", "contains": ["PermitRootLogin no"]}}},
                      app={"files": {str(target): {"mode": "0640"}}})
    plan_file = tmp_path / "plan.json"
    assert cli("--project", str(project.root), "plan", "--no-preview", "--out", str(plan_file)).code == 2
    steps = {(s["ci"], s["action"]): s for s in json.loads(plan_file.read_text())["steps"]}
    mode = display(("files", str(target), "mode"))
    assert steps[("hardening", "manual")]["reason"] == (
        f"CI app declares {mode} as '0640', this CI as '0600': make the CIs agree")
    assert steps[("app", "manual")]["reason"] == (
        f"CI hardening declares {mode} as '0600', this CI as '0640': make the CIs agree")
    assert ("hardening", "lineinfile") in steps and len(steps) == 3

    target.chmod(0o600)  # hardening in sync: app's step alone would still undo it
    assert cli("--project", str(project.root), "plan", "--no-preview", "--out", str(plan_file)).code == 2
    steps = json.loads(plan_file.read_text())["steps"]
    assert sorted((s["ci"], s["action"]) for s in steps) == [("app", "manual"), ("hardening", "lineinfile")]


def test_an_account_declared_present_beside_its_attributes_in_another_ci_is_no_disagreement(cli, project,
                                                                                          tmp_path):
    """`present` in one CI and a record (`{uid: ...}`) in another declare the same account: no disagreement."""
    project.localhost(base={"users": {"rcn-no-such-user": "present"}},
                      app={"users": {"rcn-no-such-user": {"uid": 43210}}})
    plan_file = tmp_path / "plan.json"
    assert cli("--project", str(project.root), "plan", "--no-preview", "--out", str(plan_file)).code == 2
    steps = json.loads(plan_file.read_text())["steps"]
    [base] = [s for s in steps if s["ci"] == "base"]
    assert (base["action"], base["manual"]) == ("user", False), steps
    assert not [s for s in steps if "make the CIs agree" in (s["reason"] or "")], steps
