"""plan → apply for cloud kinds on a real moto server, probed with boto3 get calls; and the read-only
proof: every AWS request run/plan/untracked/show make, seen by a recording proxy, is a read."""

from __future__ import annotations

import json
from typing import Any

from .aws_proxy import Proxy, writes
from .aws_world import bucket, database, group, instance, volume
from .moto_fixture import ACCOUNT_A, ACCOUNT_B, ROLE_B, moto, moto_server  # noqa: F401

EU = "eu-west-1"


def seed(moto: Any, prefix: str) -> dict[str, str]:
    session = moto.session(ACCOUNT_A, EU)
    ec2, s3 = session.client("ec2"), session.client("s3")
    ids = {
        "instance": instance(ec2, f"{prefix}-web"),
        "volume": volume(ec2, f"{prefix}-data", 10),
        "sg": group(ec2, f"{prefix}-sg", (22, "0.0.0.0/0"), (443, "0.0.0.0/0")),
    }
    bucket(s3, f"{prefix}-logs")
    bucket(s3, f"{prefix}-stray", Team="nobody")
    database(session.client("rds"), f"{prefix}-orders", multi_az=False)
    session.client("iam").create_user(UserName=f"{prefix}-carol")
    return ids


def write_project(project, prefix: str, ids: dict[str, str]) -> None:
    where = f'account: "{ACCOUNT_A}", region: {EU}'
    project.write(
        "reconciler.yml",
        f"""
        aws:
          regions: [{EU}]
          accounts: [{{id: "{ACCOUNT_A}"}}]
    """,
    )
    project.write(
        "desired/cloud.yml",
        f"""
        ci: logs
        kind: aws.s3.bucket
        match: {{account: "{ACCOUNT_A}", name: {prefix}-logs}}
        desired:
          versioning: Enabled
          encryption: "aws:kms"
          public_access_block: {{block_public_acls: true, ignore_public_acls: true, block_public_policy: true,
                                restrict_public_buckets: true}}
          tags: {{Owner: data}}
        ---
        ci: web-sg
        kind: aws.ec2.security_group
        match: {{{where}, id: {ids["sg"]}}}
        desired: {{ingress: ["tcp/443 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8"]}}
        ---
        ci: web
        kind: aws.ec2.instance
        match: {{{where}, id: {ids["instance"]}}}
        desired: {{tags: {{Owner: web}}, instance_type: t3.small, imds_v2_required: true}}
        ---
        ci: data
        kind: aws.ec2.volume
        match: {{{where}, id: {ids["volume"]}}}
        desired: {{tags: {{Backup: daily}}}}
        ---
        ci: orders
        kind: aws.rds.instance
        match: {{{where}, name: {prefix}-orders}}
        desired: {{backup_retention_period: 14, deletion_protection: true, tags: {{Team: orders, Tier: gold}},
                  db_instance_class: db.t3.large}}
        ---
        ci: carol
        kind: aws.iam.user
        match: {{account: "{ACCOUNT_A}", name: {prefix}-carol}}
        desired: {{mfa_enabled: true}}
        ---
        ci: ghost
        kind: aws.s3.bucket
        match: {{account: "{ACCOUNT_A}", name: {prefix}-ghost}}
        desired: {{versioning: Enabled}}
    """,
    )


def plan(cli, project, tmp_path, *extra: str) -> tuple[dict, Any]:
    plan_file = tmp_path / "plan.json"
    made = cli("--project", str(project.root), "plan", "--format", "json", "--out", str(plan_file), *extra)
    assert made.code == 2, made.err
    return json.loads(plan_file.read_text()), plan_file


def by_path(steps: list[dict], ci: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for step in steps:
        if step["ci"] == ci:
            found.setdefault(step["path"], []).append(step)
    return found


def test_detection_is_read_only_and_apply_fixes_each_cloud_kind(cli, project, tmp_path, moto, monkeypatch):
    ids = seed(moto, "p1")
    write_project(project, "p1", ids)
    with Proxy(moto.url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        root = str(project.root)
        assert cli("--project", root, "run").code == 2
        made, plan_file = plan(cli, project, tmp_path)
        assert cli("--project", root, "untracked").code in (0, 2)
        assert cli("--project", root, "show", "logs").code == 0
        seen = proxy.take()
        assert seen and writes(seen) == [], writes(seen)

        steps = made["steps"]
        manual = {(s["ci"], s["path"]) for s in steps if s["manual"]}
        assert {
            ("web", "instance_type"),
            ("web", "imds_v2_required"),
            ("orders", "db_instance_class"),
            ("carol", "mfa_enabled"),
            ("ghost", ""),
        } <= manual
        assert next(s for s in steps if s["ci"] == "ghost")["reason"].endswith(
            "create it with your provisioning tool"
        )
        rules = {(s["action"], s["args"]["rule"]) for s in steps if s["ci"] == "web-sg"}
        assert rules == {
            ("authorize_rule", "tcp/22 from 10.0.0.0/8"),
            ("revoke_rule", "tcp/22 from 0.0.0.0/0"),
        }

        applied = cli("--project", root, "apply", str(plan_file), "--yes")
        assert applied.code == 0, applied.out + applied.err
        made_writes = writes(proxy.take())
        assert made_writes and not any("stray" in path for op, path in proxy.requests)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    assert not any(op.startswith("Delete") and op != "DeleteTags" for op in made_writes)
    probe(moto, "p1", ids)
    history = cli("--project", str(project.root), "history", "web-sg")
    assert "applied+verified" in history.out and "skipped" not in history.out


def probe(moto: Any, prefix: str, ids: dict[str, str]) -> None:
    session = moto.session(ACCOUNT_A, EU)
    s3, ec2, rds = session.client("s3"), session.client("ec2"), session.client("rds")
    name = f"{prefix}-logs"
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    assert {"Key": "Owner", "Value": "data"} in s3.get_bucket_tagging(Bucket=name)["TagSet"]
    stray = s3.get_bucket_tagging(Bucket=f"{prefix}-stray")["TagSet"]
    assert stray == [{"Key": "Team", "Value": "nobody"}]  # untracked: never touched
    sg = ec2.describe_security_groups(GroupIds=[ids["sg"]])["SecurityGroups"][0]
    cidrs = {(p["FromPort"], r["CidrIp"]) for p in sg["IpPermissions"] for r in p["IpRanges"]}
    assert cidrs == {(22, "10.0.0.0/8"), (443, "0.0.0.0/0")}
    web = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0]
    assert {"Key": "Owner", "Value": "web"} in web["Tags"] and web["InstanceType"] == "t3.micro"
    vol = ec2.describe_volumes(VolumeIds=[ids["volume"]])["Volumes"][0]
    assert {"Key": "Backup", "Value": "daily"} in vol["Tags"]
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{prefix}-orders")["DBInstances"][0]
    assert db["BackupRetentionPeriod"] == 14 and db["DeletionProtection"] is True
    assert db["DBInstanceClass"] == "db.t3.micro"
    tags = rds.list_tags_for_resource(ResourceName=db["DBInstanceArn"])["TagList"]
    assert {"Key": "Tier", "Value": "gold"} in tags


def test_disruptive_fixes_are_automatic_only_when_allowed(cli, project, tmp_path, moto):
    ids = seed(moto, "p2")
    write_project(project, "p2", ids)
    made, plan_file = plan(cli, project, tmp_path, "--allow-disruptive", "--limit", "web")
    steps = by_path(made["steps"], "web")
    assert not steps["instance_type"][0]["manual"] and steps["instance_type"][0]["risk"] == "high"
    assert "disruptive" in steps["imds_v2_required"][0]["why"]
    applied = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    ec2 = moto.session(ACCOUNT_A, EU).client("ec2")
    web = ec2.describe_instances(InstanceIds=[ids["instance"]])["Reservations"][0]["Instances"][0]
    assert web["InstanceType"] == "t3.small" and web["MetadataOptions"]["HttpTokens"] == "required"
    assert web["State"]["Name"] == "running"  # stopped for the resize, started again


def test_revoking_a_port_range_or_all_traffic_rule_that_last_admits_ssh_is_disruptive(cli, project, tmp_path, moto):
    """Not only a `tcp/22` rule admits SSH: a port range holding 22 and an all-traffic rule do too."""
    ec2 = moto.session(ACCOUNT_A, EU).client("ec2")
    sg = group(ec2, "p3-sg", (443, "0.0.0.0/0"))
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 20, "ToPort": 25, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.1.0.0/16"}]},
    ])
    project.write("reconciler.yml", f'aws: {{regions: [{EU}], accounts: [{{id: "{ACCOUNT_A}"}}]}}\n')
    project.write("desired/sg.yml", f"""
        ci: sg
        kind: aws.ec2.security_group
        match: {{account: "{ACCOUNT_A}", region: {EU}, id: {sg}}}
        desired: {{ingress: ["tcp/443 from 0.0.0.0/0"]}}
    """)
    made, plan_file = plan(cli, project, tmp_path)
    revokes = {s["args"]["rule"]: s for s in made["steps"] if s["action"] == "revoke_rule"}
    assert set(revokes) == {"tcp/20-25 from 10.0.0.0/8", "all from 10.1.0.0/16"}
    assert all(s["manual"] and "last rule admitting tcp/22" in s["reason"] for s in revokes.values()), revokes
    assert cli("--project", str(project.root), "apply", str(plan_file), "--yes").code == 0
    permissions = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    assert len(permissions) == 3  # nothing revoked


def test_apply_reaches_a_second_account_through_its_role_and_resources_matched_by_name_or_tags(
        cli, project, tmp_path, moto):
    """The steps of account B go through its assumed role; a group matched by name and a bucket matched by
    tags are changed through the ids collection found, each probed with boto3."""
    other = moto.session(ACCOUNT_B, EU)
    other.client("s3").create_bucket(Bucket="p4-b-logs", CreateBucketConfiguration={"LocationConstraint": EU})
    sg = group(other.client("ec2"), "p4-b-web", (22, "0.0.0.0/0"))
    bucket(moto.session(ACCOUNT_A, EU).client("s3"), "p4-a-shop", App="shop")
    project.write("reconciler.yml", f"""
        aws:
          regions: [{EU}]
          accounts: [{{id: "{ACCOUNT_A}"}}, {{id: "{ACCOUNT_B}", role_arn: "{ROLE_B}"}}]
    """)
    project.write("desired/cloud.yml", f"""
        ci: b-logs
        kind: aws.s3.bucket
        match: {{account: "{ACCOUNT_B}", name: p4-b-logs}}
        desired: {{versioning: Enabled, tags: {{Owner: b}}}}
        ---
        ci: b-web
        kind: aws.ec2.security_group
        match: {{account: "{ACCOUNT_B}", region: {EU}, name: p4-b-web}}
        desired: {{ingress: ["tcp/22 from 10.0.0.0/8"]}}
        ---
        ci: shop
        kind: aws.s3.bucket
        match: {{account: "{ACCOUNT_A}", tags: {{App: shop}}}}
        desired: {{versioning: Enabled}}
    """)
    made, plan_file = plan(cli, project, tmp_path)
    assert {(s["ci"], s["target"]["account"]) for s in made["steps"]} == {
        ("b-logs", ACCOUNT_B), ("b-web", ACCOUNT_B), ("shop", ACCOUNT_A)}
    applied = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert applied.code == 0, applied.out + applied.err
    s3_b, ec2_b = other.client("s3"), other.client("ec2")
    assert s3_b.get_bucket_versioning(Bucket="p4-b-logs")["Status"] == "Enabled"
    assert s3_b.get_bucket_tagging(Bucket="p4-b-logs")["TagSet"] == [{"Key": "Owner", "Value": "b"}]
    found = ec2_b.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    assert [(p["FromPort"], r["CidrIp"]) for p in found for r in p["IpRanges"]] == [(22, "10.0.0.0/8")]
    shop = moto.session(ACCOUNT_A, EU).client("s3").get_bucket_versioning(Bucket="p4-a-shop")
    assert shop["Status"] == "Enabled"


def test_a_rule_spelled_another_way_converges_after_apply(cli, project, tmp_path, moto):
    """`tcp/0-65535`, `udp/53-53` and `-1` are the rules AWS reads back as `tcp`, `udp/53` and `all`: the
    fix applies once, verifies, and the next run is in sync (no drift forever, no duplicate authorize)."""
    ec2 = moto.session(ACCOUNT_A, EU).client("ec2")
    sg = group(ec2, "p5-sg", (443, "0.0.0.0/0"))
    project.write("reconciler.yml", f'aws: {{regions: [{EU}], accounts: [{{id: "{ACCOUNT_A}"}}]}}\n')
    project.write("desired/sg.yml", f"""
        ci: sg
        kind: aws.ec2.security_group
        match: {{account: "{ACCOUNT_A}", region: {EU}, id: {sg}}}
        desired: {{ingress: ["tcp/443 from 0.0.0.0/0", "TCP/0-65535 from 10.0.0.0/8", "udp/53-53 from 10.2.0.0/16",
                            "-1 from 10.9.0.0/16"]}}
    """)
    _, plan_file = plan(cli, project, tmp_path)
    applied = cli("--project", str(project.root), "apply", str(plan_file), "--yes")
    assert applied.code == 0 and applied.out.count("applied+verified") == 3, applied.out + applied.err
    found = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    assert {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), r["CidrIp"]) for p in found for r in p["IpRanges"]} == {
        ("tcp", 443, 443, "0.0.0.0/0"), ("tcp", 0, 65535, "10.0.0.0/8"), ("udp", 53, 53, "10.2.0.0/16"),
        ("-1", None, None, "10.9.0.0/16")}
    report = cli("--project", str(project.root), "run", "--format", "json").json()
    assert [i["status"] for i in report["items"] if i["ci"] == "sg"] == ["in_sync"]
