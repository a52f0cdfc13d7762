"""plan → apply over real SSH (the test sshd on loopback), every step kind, each checked with a probe of
its own: os.stat and file text, the sysctl.d file and a stand-in /proc/sys tree, pwd/grp for an account
and a group made for the test (removed afterwards), a harmless SysV init script whose state lives in a temp
file. Packages are previewed here (check mode) and installed for real in test_apply_packages.py, from a
local apt repository. And the Ansible half
of the read-only proof: an audit callback of Ansible's own sees every task run/plan/show/untracked start."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from .ssh_fixture import Sshd, sshd, stand_in_service  # noqa: F401

AUDIT = """
import json, os
from ansible import context
from ansible.plugins.callback import CallbackBase

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "rcn_audit"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_start(self, host, task):
        check = task.check_mode if isinstance(task.check_mode, bool) else bool(context.CLIARGS.get("check"))
        with open(os.environ["RCN_AUDIT_FILE"], "a") as out:
            out.write(json.dumps({"host": host.name, "action": task.action, "check": check}) + "\\n")
"""


@pytest.fixture
def names(tmp_path):
    suffix = f"{os.getpid() % 100000}{len(str(tmp_path)) % 10}"
    made = {"user": f"rcnu{suffix}", "group": f"rcng{suffix}", "service": f"rcn-test-{suffix}"}
    try:
        with stand_in_service(made["service"], tmp_path / "service.running"):
            yield made
    finally:
        subprocess.run(["userdel", made["user"]], capture_output=True)
        subprocess.run(["groupdel", made["group"]], capture_output=True)


def write_project(project, tmp_path, sshd: Sshd, names: dict[str, str]) -> dict[str, Path]:
    paths = {
        "conf": tmp_path / "app.conf",
        "root": tmp_path / "sys",
        "sysctl": tmp_path / "sysctl.d" / "r.conf",
        "home": tmp_path / "home",
    }
    paths["conf"].write_text("Port 22\n")
    paths["conf"].chmod(0o666)
    (paths["root"] / "vm").mkdir(parents=True)
    (paths["root"] / "vm" / "swappiness").write_text("60\n")
    hosts = {
        "web": sshd.host_vars("127.0.0.2"),
        "db": sshd.host_vars(
            "127.0.0.3",
            reconciler_sysctl_root=str(paths["root"]),
            reconciler_sysctl_file=str(paths["sysctl"]),
        ),
    }
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"hosts": hosts}}))
    project.write(
        "desired/hosts.yml",
        textwrap.dedent(f"""
        ci: web
        kind: server
        desired:
          files:
            {paths["conf"]}: {{mode: "0640", contains: ["PermitRootLogin no"]}}
          services: {{{names["service"]}: {{state: running}}}}
          users: {{{names["user"]}: {{shell: /bin/sh, home: {paths["home"]}}}}}
          groups: {{{names["group"]}: present}}
        ---
        ci: db
        kind: server
        desired:
          sysctl: {{vm.swappiness: "10"}}
    """),
    )
    return paths


def test_every_server_step_kind_applied_over_ssh(cli, project, tmp_path, sshd, names):
    paths = write_project(project, tmp_path, sshd, names)
    plan_file = tmp_path / "plan.json"
    planned = cli("--project", str(project.root), "plan", "--format", "markdown", "--out", str(plan_file))
    assert planned.code == 2, planned.err
    assert "<details><summary>preview (Ansible check mode" in planned.out and "| s001 |" in planned.out
    plan = json.loads(plan_file.read_text())
    assert sorted({s["action"] for s in plan["steps"]}) == [
        "file",
        "group",
        "lineinfile",
        "service",
        "sysctl",
        "user",
    ]
    assert all(not s["manual"] for s in plan["steps"])

    applied = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert stat.S_IMODE(os.stat(paths["conf"]).st_mode) == 0o640
    assert paths["conf"].read_text() == "Port 22\nPermitRootLogin no\n"
    assert (tmp_path / "service.running").exists()
    account = pwd.getpwnam(names["user"])
    assert account.pw_shell == "/bin/sh" and account.pw_dir == str(paths["home"])
    assert grp.getgrnam(names["group"])
    assert paths["sysctl"].read_text() == "vm.swappiness = 10\n"
    assert (paths["root"] / "vm" / "swappiness").read_text().strip() == "10"
    assert cli("--project", str(project.root), "run").code == 0



def test_a_file_mode_rides_on_its_line_step_and_both_are_previewed(cli, project, tmp_path, sshd, names):
    """One lineinfile run sets the missing line and the mode; the review still shows each step's change,
    and the service step names its module (no extra `setup` run on the host to find the service manager)."""
    write_project(project, tmp_path, sshd, names)
    plan_file = tmp_path / "plan.json"
    planned = cli("--project", str(project.root), "plan", "--format", "json", "--out", str(plan_file))
    assert planned.code == 2, planned.err
    steps = {(s["action"], s["ci"]): s for s in json.loads(plan_file.read_text())["steps"]}
    diffs = json.loads(planned.out)["preview"]["diffs"]
    mode, line = steps[("file", "web")], steps[("lineinfile", "web")]
    assert any("-mode: 0666" in d and "+mode: 0640" in d for d in diffs[mode["id"]]), diffs
    assert any("+PermitRootLogin no" in d for d in diffs[line["id"]]), diffs
    # each step shows its own change only, though one module run made both
    assert not any("mode:" in d for d in diffs[line["id"]]), diffs
    assert not any("PermitRootLogin" in d for d in diffs[mode["id"]]), diffs
    assert steps[("service", "web")]["args"]["use"] == "service"  # this container has no systemd
    assert "would fail" not in planned.out

def test_packages_are_previewed_in_check_mode(cli, project, tmp_path, sshd):
    hosts = {"web": sshd.host_vars("127.0.0.2")}
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"hosts": hosts}}))
    project.write(
        "desired/web.yml",
        """
        ci: web
        kind: server
        desired: {packages: {hello: present, openssh-server: ">=1.0", zzz-no-such-package: "1.0*"}}
    """,
    )
    planned = cli("--project", str(project.root), "plan")
    assert planned.code == 2, planned.err
    assert "package" in planned.out and "preview (Ansible check mode" in planned.out
    assert "would fail" not in planned.out
    assert "'1.0*' is a glob" in planned.out
    assert subprocess.run(["dpkg-query", "-W", "hello"], capture_output=True).returncode != 0  # not installed


def test_only_apply_runs_ansible_tasks_with_side_effects(cli, project, tmp_path, sshd, names, monkeypatch):
    plugins = tmp_path / "callbacks"
    plugins.mkdir()
    (plugins / "rcn_audit.py").write_text(AUDIT)
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("ANSIBLE_CALLBACK_PLUGINS", str(plugins))
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "rcn_audit")
    monkeypatch.setenv("RCN_AUDIT_FILE", str(audit))
    paths = write_project(project, tmp_path, sshd, names)
    root = str(project.root)
    before = (paths["conf"].read_text(), os.stat(paths["conf"]).st_mode)
    for command in (
        ["run"],
        ["plan", "--out", str(tmp_path / "plan.json")],
        ["show", "web"],
        ["untracked"],
        ["validate"],
    ):
        assert cli("--project", root, *command).code in (0, 2), command
    seen = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {t["action"] for t in seen if not t["check"]} == {"reconciler_facts"}
    assert any(t["check"] and t["action"].endswith("lineinfile") for t in seen)  # the preview ran
    assert (paths["conf"].read_text(), os.stat(paths["conf"]).st_mode) == before
    assert not (tmp_path / "service.running").exists()

    audit.unlink()
    assert cli("--project", root, "apply", str(tmp_path / "plan.json"), "--yes").code == 0
    applied = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(not t["check"] and t["action"].endswith("lineinfile") for t in applied)


def test_one_stale_host_refuses_the_whole_plan_before_any_host_is_changed(cli, project, tmp_path, sshd, names):
    paths = write_project(project, tmp_path, sshd, names)
    plan_file = tmp_path / "plan.json"
    root = str(project.root)
    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    (paths["root"] / "vm" / "swappiness").write_text("30\n")  # db changed after the review; web did not
    refused = cli("--project", root, "apply", str(plan_file), "--yes")
    assert refused.code == 1, refused.out + refused.err
    assert "stale" in refused.err and "db: its facts changed" in refused.err and "web:" not in refused.err
    assert stat.S_IMODE(os.stat(paths["conf"]).st_mode) == 0o666  # web's steps never ran
    assert paths["conf"].read_text() == "Port 22\n"
    assert not (tmp_path / "service.running").exists()
    assert not paths["sysctl"].exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(names["user"])
    history = cli("--project", root, "history", "web")
    assert "applied" not in history.out


def test_an_unknown_owner_fails_alone_not_the_line_step_of_the_same_file(cli, project, tmp_path, sshd):
    """Two CIs on one file (owner and mode in one, lines in the other): the owner step fails (no such
    account) and the mode and line steps are still applied and verified, each recorded for its own CI."""
    conf = tmp_path / "x.conf"
    conf.write_text("a\n")
    conf.chmod(0o666)
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"hosts": {"box": sshd.host_vars("127.0.0.4")}}}))
    project.write(
        "desired/box.yml",
        f"""
        ci: box-attrs
        kind: server
        match: {{host: box}}
        desired: {{files: {{{conf}: {{owner: rcn-no-such-user, mode: "0600"}}}}}}
        ---
        ci: box-lines
        kind: server
        match: {{host: box}}
        desired: {{files: {{{conf}: {{contains: ["b", "c"]}}}}}}
    """,
    )
    root, plan_file = str(project.root), tmp_path / "plan.json"
    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    applied = cli("--project", root, "apply", str(plan_file), "--yes")
    assert applied.code == 2, applied.out + applied.err
    results = {line.split()[0]: line for line in applied.out.splitlines() if line.startswith("s0")}
    failed = [line for line in results.values() if ": failed" in line]
    assert len(failed) == 1 and ".owner: failed" in failed[0], applied.out
    assert conf.read_text() == "a\nb\nc\n"
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    assert "applied+verified" in cli("--project", root, "history", "box-lines").out


def test_a_file_declared_to_exist_is_created_with_its_lines_and_mode(cli, project, tmp_path, sshd):
    new = tmp_path / "conf.d" / "new.conf"
    new.parent.mkdir()
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"hosts": {"box": sshd.host_vars("127.0.0.4")}}}))
    project.write(
        "desired/box.yml",
        f"""
        ci: box
        kind: server
        desired: {{files: {{{new}: {{exists: true, mode: "0640", contains: ["a = 1", "b = 2"]}}}}}}
    """,
    )
    root, plan_file = str(project.root), tmp_path / "plan.json"
    planned = cli("--project", root, "plan", "--out", str(plan_file))
    assert planned.code == 2, planned.err
    assert [s for s in json.loads(plan_file.read_text())["steps"] if s["manual"]] == [], planned.out
    assert not new.exists()
    applied = cli("--project", root, "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert new.read_text() == "a = 1\nb = 2\n"
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o640
    assert cli("--project", root, "run").code == 0


def test_lines_and_modes_that_look_like_numbers_are_applied_as_written(cli, project, tmp_path, sshd):
    """What was reviewed is what lands: a line `0x10` stays `0x10` (not 16), a mode "2750" is octal."""
    conf, shared = tmp_path / "n.conf", tmp_path / "shared"
    conf.write_text("x\n")
    shared.mkdir(mode=0o700)
    lines = ["0x10", "+5", "1_000", "0640", "{{ not_a_variable }}"]
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"hosts": {"box": sshd.host_vars("127.0.0.4")}}}))
    project.write("desired/box.yml", yaml.safe_dump({"ci": "box", "kind": "server", "desired": {"files": {
        str(conf): {"contains": lines}, str(shared): {"mode": "2750"}}}}).replace("{{", "{{ '{{' }}"))
    root, plan_file = str(project.root), tmp_path / "plan.json"
    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    applied = cli("--project", root, "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    assert conf.read_text() == "x\n" + "".join(f"{line}\n" for line in lines)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o2750
