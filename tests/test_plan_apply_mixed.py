"""plan → apply of one plan mixing servers (the test sshd on loopback) and cloud resources (a moto server),
in the shape a real project has: a YAML inventory with a group whose group_vars carry the connection
(`ansible_user`, `ansible_port`, the key), desired state as a Jinja template looping over the group (two CIs
per host on the same file: its mode in one, several `contains` lines and a file still to create in the
other), an S3 bucket (versioning, tags) and a security group rule. Every change is probed on its own:
os.stat and the file's text, boto3 get calls."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from .aws_world import bucket, group
from .moto_fixture import ACCOUNT_A, moto, moto_server  # noqa: F401
from .ssh_fixture import Sshd, sshd  # noqa: F401

EU = "eu-west-1"
LINES = ["Port 22", "PermitRootLogin no", "MaxAuthTries 3"]  # the first one is there already

TEMPLATE = """
{% for host in groups['web'] %}
---
ci: {{ host }}-mode
kind: server
match: {host: {{ host }}}
desired:
  files:
    {{ hostvars[host].app_dir }}/app.conf: {mode: "0640"}
---
ci: {{ host }}-lines
kind: server
match: {host: {{ host }}}
desired:
  files:
    {{ hostvars[host].app_dir }}/app.conf: {contains: LINES}
    {{ hostvars[host].app_dir }}/new.conf: {exists: true, contains: ["a = 1"]}
{% endfor %}
"""


def write_project(project: Any, tmp_path: Path, sshd: Sshd, moto: Any, prefix: str) -> dict[str, Any]:
    session = moto.session(ACCOUNT_A, EU)
    sg = group(session.client("ec2"), f"{prefix}-sg", (22, "0.0.0.0/0"), (443, "0.0.0.0/0"))
    bucket(session.client("s3"), f"{prefix}-logs", Team="ops")
    dirs = {host: tmp_path / host for host in ("web1", "web2")}
    for directory in dirs.values():
        directory.mkdir()
        (directory / "app.conf").write_text("# app\nPort 22\n")
        (directory / "app.conf").chmod(0o666)
    connection = {k: v for k, v in sshd.host_vars("127.0.0.1").items() if k != "ansible_host"}
    hosts = {"web1": {"ansible_host": "127.0.0.2"}, "web2": {"ansible_host": "127.0.0.3"}}
    for host, directory in dirs.items():
        hosts[host]["app_dir"] = str(directory)
    project.write("inventories/hosts.yml", yaml.safe_dump({"all": {"children": {"web": {"hosts": hosts}}}}))
    project.write("inventories/group_vars/web.yml", yaml.safe_dump(connection))
    project.write("desired/web.yml.j2", TEMPLATE.replace("LINES", json.dumps(LINES)))
    project.write("reconciler.yml", f'aws: {{regions: [{EU}], accounts: [{{id: "{ACCOUNT_A}"}}]}}\n')
    project.write(
        "desired/cloud.yml",
        f"""
        ci: logs
        kind: aws.s3.bucket
        match: {{account: "{ACCOUNT_A}", name: {prefix}-logs}}
        desired: {{versioning: Enabled, tags: {{Owner: data, Env: prod}}}}
        ---
        ci: edge
        kind: aws.ec2.security_group
        match: {{account: "{ACCOUNT_A}", region: {EU}, id: {sg}}}
        desired: {{ingress: ["tcp/443 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8"]}}
    """,
    )
    return {"dirs": dirs, "sg": sg, "bucket": f"{prefix}-logs", "s3": session.client("s3"),
            "ec2": session.client("ec2")}


def ingress(world: dict[str, Any]) -> set[tuple[int, str]]:
    found = world["ec2"].describe_security_groups(GroupIds=[world["sg"]])["SecurityGroups"][0]
    return {(p["FromPort"], r["CidrIp"]) for p in found["IpPermissions"] for r in p["IpRanges"]}


def untouched(world: dict[str, Any]) -> bool:
    files = all(
        stat.S_IMODE(os.stat(d / "app.conf").st_mode) == 0o666 and (d / "app.conf").read_text() == "# app\nPort 22\n"
        and not (d / "new.conf").exists()
        for d in world["dirs"].values()
    )
    versioning = world["s3"].get_bucket_versioning(Bucket=world["bucket"]).get("Status")
    return files and versioning is None and ingress(world) == {(22, "0.0.0.0/0"), (443, "0.0.0.0/0")}


def test_a_templated_group_and_cloud_resources_in_one_plan(cli, project, tmp_path, sshd, moto):
    world = write_project(project, tmp_path, sshd, moto, "m1")
    root, plan_file = str(project.root), tmp_path / "change.plan"
    markdown = cli("--project", root, "plan", "--no-preview", "--format", "markdown")
    assert markdown.code == 2, markdown.err
    assert "### web2-lines (`server`)" in markdown.out and "### edge (`aws.ec2.security_group`)" in markdown.out
    review = cli("--project", root, "plan", "--format", "json", "--out", str(plan_file))
    assert review.code == 2, review.err
    steps = json.loads(plan_file.read_text())["steps"]
    assert [s for s in steps if s["manual"]] == []
    assert {s["ci"] for s in steps} == {"web1-mode", "web1-lines", "web2-mode", "web2-lines", "logs", "edge"}
    line = next(s for s in steps if s["ci"] == "web2-lines" and s["desired"] == "MaxAuthTries 3")
    assert any("+MaxAuthTries 3" in d for d in review.json()["preview"]["diffs"][line["id"]])
    assert untouched(world)  # planning changed nothing

    applied = cli("--project", root, "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    for directory in world["dirs"].values():
        assert stat.S_IMODE(os.stat(directory / "app.conf").st_mode) == 0o640
        assert (directory / "app.conf").read_text() == "# app\n" + "".join(f"{x}\n" for x in LINES)
        assert (directory / "new.conf").read_text() == "a = 1\n"
    assert world["s3"].get_bucket_versioning(Bucket=world["bucket"])["Status"] == "Enabled"
    tags = {t["Key"]: t["Value"] for t in world["s3"].get_bucket_tagging(Bucket=world["bucket"])["TagSet"]}
    assert tags == {"Team": "ops", "Owner": "data", "Env": "prod"}  # an undeclared tag is kept
    assert ingress(world) == {(22, "10.0.0.0/8"), (443, "0.0.0.0/0")}

    report = cli("--project", root, "run", "--format", "json").json()
    assert {i["ci"]: i["status"] for i in report["items"] if i["ci"]} == dict.fromkeys(
        ("edge", "logs", "web1-lines", "web1-mode", "web2-lines", "web2-mode"), "in_sync")
    timeline = cli("--project", root, "history", "web2-lines", "--format", "json").json()
    changes = [e for e in timeline if e["type"] == "change"]
    assert sorted(map(str, (c["after"] for c in changes))) == ["MaxAuthTries 3", "PermitRootLogin no", "True", "a = 1"]
    assert {c["result"] for c in changes} == {"applied+verified"}

    again = cli("--project", root, "apply", str(plan_file), "--yes")  # the same plan a second time
    assert again.code == 1 and "stale" in again.err, again.out + again.err
    assert (world["dirs"]["web1"] / "new.conf").read_text() == "a = 1\n"
    assert len([e for e in cli("--project", root, "history", "web2-lines", "--format", "json").json()
                if e["type"] == "change"]) == len(changes)


def test_a_stale_cloud_resource_or_host_refuses_the_mixed_plan_before_anything_changes(
        cli, project, tmp_path, sshd, moto):
    world = write_project(project, tmp_path, sshd, moto, "m2")
    root, plan_file = str(project.root), tmp_path / "change.plan"
    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    tagging = {"TagSet": [{"Key": "Team", "Value": "ops"}, {"Key": "Owner", "Value": "web"}]}
    world["s3"].put_bucket_tagging(Bucket=world["bucket"], Tagging=tagging)  # a declared tag changed since
    refused = cli("--project", root, "apply", str(plan_file), "--yes")
    assert refused.code == 1 and "stale" in refused.err and "logs:" in refused.err, refused.err
    assert "web1" not in refused.err and untouched(world)

    assert cli("--project", root, "plan", "--no-preview", "--out", str(plan_file)).code == 2
    (world["dirs"]["web2"] / "new.conf").write_text("a = 1\n")  # a host changed since: web2's CIs stale
    refused = cli("--project", root, "apply", str(plan_file), "--yes")
    assert refused.code == 1 and "stale" in refused.err and "web2-lines" in refused.err, refused.err
    (world["dirs"]["web2"] / "new.conf").unlink()
    assert untouched(world)  # not web1's files, not the cloud steps that come after the servers'
    assert "applied" not in cli("--project", root, "history", "logs").out
