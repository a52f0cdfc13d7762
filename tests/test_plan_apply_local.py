"""plan → review → apply on this machine (local connection), every change under a temp directory:
file modes, missing lines, a kernel parameter (its sysctl.d file and a stand-in /proc/sys tree), each
checked with an independent probe (os.stat, the file's text), then the register's record."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest


def write_project(project, tmp_path, extra: str = "") -> dict:
    target, root = tmp_path / "app.conf", tmp_path / "proc-sys"
    (root / "net" / "ipv4").mkdir(parents=True)
    (root / "net" / "ipv4" / "ip_forward").write_text("1\n")
    target.write_text("PermitRootLogin yes\n")
    target.chmod(0o644)
    sysctl_file = tmp_path / "sysctl.d" / "90-reconciler.conf"
    sysctl_file.parent.mkdir()
    project.write("inventories/hosts.yml", f"""
        all:
          hosts:
            localhost:
              ansible_connection: local
              ansible_python_interpreter: {sys.executable}
              reconciler_sysctl_root: {root}
              reconciler_sysctl_file: {sysctl_file}
    """)
    project.write("desired/local.yml", f"""
        ci: workstation
        kind: server
        match: {{host: localhost}}
        desired:
          files:
            {target}: {{mode: "0600", contains: ["PermitRootLogin no", "MaxAuthTries 3"]}}
          sysctl: {{net.ipv4.ip_forward: "0"}}
{extra}
    """)
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
    actions = sorted((s["action"], s["path"]) for s in plan["steps"])
    target = str(paths["target"])
    assert actions == [("file", f"files.{target}.mode"), ("lineinfile", f"files.{target}.contains"),
                       ("lineinfile", f"files.{target}.contains"), ("sysctl", "sysctl.net.ipv4.ip_forward")]
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
    assert "applied+verified" in history.out and f"files.{target}.mode" in history.out
