"""AWS fixers: a drift of an aws.* CI → one boto3 call, planned here and carried out by `execute`.

Automatic: S3 bucket versioning, default encryption, public access block and tags; security group
rules (authorize / revoke exactly the differing rule strings); instance, volume and RDS tags; RDS backup
retention and deletion protection. Disruptive (manual unless --allow-disruptive): instance type (needs a
stop), IMDSv2 (breaks IMDSv1 clients), RDS instance class, revoking the last rule that admits SSH/RDP.
Manual always: RDS engine, IAM MFA and console access, and anything else. A cloud step never deletes a
resource; untracked resources are never planned at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import NOT_EXACT, Fix, Need, disruptive, manual

S3, SG, INSTANCE, VOLUME, RDS, IAM = (
    "aws.s3.bucket",
    "aws.ec2.security_group",
    "aws.ec2.instance",
    "aws.ec2.volume",
    "aws.rds.instance",
    "aws.iam.user",
)
KINDS = (S3, SG, INSTANCE, VOLUME, RDS, IAM, "aws.ec2.eip")
_PAB = {
    "block_public_acls": "BlockPublicAcls",
    "ignore_public_acls": "IgnorePublicAcls",
    "block_public_policy": "BlockPublicPolicy",
    "restrict_public_buckets": "RestrictPublicBuckets",
}
_ADMIN_PORTS = (22, 3389)  # SSH, RDP: revoking the last rule that admits one may lock the admins out


def fix(need: Need) -> Sequence[Fix]:
    attribute = need.parts[0] if need.parts else None
    if attribute == "tags" and need.kind in (S3, SG, INSTANCE, VOLUME, RDS):
        return _tags(need)
    planner = _PLANNERS.get((need.kind, attribute))
    if planner is None:
        return [
            manual(f"no automatic fix for {attribute} of {need.kind}: change it with your provisioning tool")
        ]
    if need.exact is NOT_EXACT:
        return [manual(f"{need.why_not_exact}: choose the value to set")]
    return planner(need)


def _tags(need: Need) -> list[Fix]:
    if need.exact is NOT_EXACT or need.exact == "absent":
        return [manual(f"{need.why_not_exact or 'removing a tag'}: set the tag by hand")]
    wanted = need.exact if len(need.parts) == 1 else {need.parts[1]: need.exact}
    if not isinstance(wanted, dict) or any(
        not isinstance(v, (str, int, float, bool)) for v in wanted.values()
    ):
        return [manual("tags declared with matchers name no single value")]
    tags = {str(k): str(v) for k, v in wanted.items()}
    return [Fix("tag_resource", {"tags": tags}, "low", f"sets tag(s) {', '.join(sorted(tags))}")]


def _versioning(need: Need) -> list[Fix]:
    if need.exact not in ("Enabled", "Suspended"):
        return [manual(f"versioning cannot be set to {need.exact!r} (only Enabled or Suspended)")]
    risk = "low" if need.exact == "Enabled" else "medium"
    return [Fix("put_bucket_versioning", {"status": need.exact}, risk, f"sets versioning {need.exact}")]


def _encryption(need: Need) -> list[Fix]:
    return [
        Fix(
            "put_bucket_encryption", {"algorithm": need.exact}, "low", f"sets default encryption {need.exact}"
        )
    ]


def _public_access(need: Need) -> list[Fix]:
    wanted = need.exact if len(need.parts) == 1 else {need.parts[1]: need.exact}
    if not isinstance(wanted, dict) or not set(wanted) <= set(_PAB):
        return [manual("public_access_block: declare its four flags as booleans")]
    opens = any(value in (False, "false") for value in wanted.values())
    return [
        Fix(
            "put_public_access_block",
            {"flags": {k: bool(v in (True, "true")) for k, v in wanted.items()}},
            "high" if opens else "low",
            "opens network access: lifts a public access block" if opens else "blocks public access",
        )
    ]


def _rules(need: Need) -> list[Fix]:
    direction = need.parts[0]
    want = set(need.exact.get("ordered", []) if isinstance(need.exact, dict) else need.exact or [])
    have = set(need.actual or [])
    fixes = [_authorize(direction, rule) for rule in sorted(want - have)]
    remaining = want & have | want
    fixes += [_revoke(direction, rule, remaining, need) for rule in sorted(have - want)]
    return fixes


def _authorize(direction: str, rule: str) -> Fix:
    if parse_rule(rule) is None:
        return manual(f"rule {rule!r} cannot be parsed into an IP permission")
    public = rule.endswith((" 0.0.0.0/0", " ::/0"))
    return Fix(
        "authorize_rule",
        {"direction": direction, "rule": rule},
        "high" if public else "medium",
        "opens network access" + (" to the whole internet" if public else ""),
        desired=rule,
        element="add",
    )


def _revoke(direction: str, rule: str, remaining: set[str], need: Need) -> Fix:
    step = Fix(
        "revoke_rule",
        {"direction": direction, "rule": rule},
        "medium",
        "closes network access",
        desired=rule,
        element="remove",
    )
    if parse_rule(rule) is None:
        return manual(f"rule {rule!r} cannot be parsed into an IP permission")
    lost = [port for port in _ADMIN_PORTS if _admits(rule, port) and not any(_admits(r, port) for r in remaining)]
    if direction == "ingress" and lost:
        return disruptive(step, need, f"removes the last rule admitting tcp/{lost[0]} (you may lock yourself out)")
    return step


def _admits(rule: str, port: int) -> bool:
    """Whether a rule lets TCP `port` in: `tcp/22`, a range holding it (`tcp/20-25`, `tcp`), or `all`."""
    permission = parse_rule(rule)
    if permission is None or permission["IpProtocol"] not in ("-1", "tcp", "6"):
        return False
    return permission["IpProtocol"] == "-1" or permission["FromPort"] <= port <= permission["ToPort"]


def _instance_type(need: Need) -> list[Fix]:
    step = Fix("modify_instance_type", {"instance_type": need.exact}, "high", f"changes type to {need.exact}")
    return [disruptive(step, need, "the instance must be stopped to change its type")]


def _imds(need: Need) -> list[Fix]:
    step = Fix(
        "modify_metadata_options",
        {"http_tokens": "required" if need.exact in (True, "true") else "optional"},
        "high",
        "changes instance metadata access",
    )
    return [disruptive(step, need, "software on the instance that still uses IMDSv1 loses its credentials")]


def _rds(field: str, risk: str, why: str) -> Callable[[Need], list[Fix]]:
    def plan(need: Need) -> list[Fix]:
        return [Fix("modify_db_instance", {field: need.exact}, risk, why.format(need.exact))]

    return plan


def _rds_class(need: Need) -> list[Fix]:
    step = Fix(
        "modify_db_instance", {"DBInstanceClass": need.exact}, "high", f"changes class to {need.exact}"
    )
    return [disruptive(step, need, "the database restarts to change its class")]


_PLANNERS: dict[tuple[str, Any], Callable[[Need], list[Fix]]] = {
    (S3, "versioning"): _versioning,
    (S3, "encryption"): _encryption,
    (S3, "public_access_block"): _public_access,
    (SG, "ingress"): _rules,
    (SG, "egress"): _rules,
    (INSTANCE, "instance_type"): _instance_type,
    (INSTANCE, "imds_v2_required"): _imds,
    (RDS, "backup_retention_period"): _rds("BackupRetentionPeriod", "low", "keeps backups {} day(s)"),
    (RDS, "deletion_protection"): _rds("DeletionProtection", "medium", "sets deletion protection {}"),
    (RDS, "db_instance_class"): _rds_class,
    (RDS, "engine"): lambda n: [
        manual("changing the engine is a migration: do it with your provisioning tool")
    ],
    (RDS, "engine_version"): lambda n: [manual("engine upgrades need a maintenance window: schedule it")],
    (IAM, "mfa_enabled"): lambda n: [
        manual("MFA is enrolled by the user with their device", "high", "touches authentication")
    ],
    (IAM, "console_access"): lambda n: [
        manual(
            "console access (a login profile and its password) is set by an administrator by hand",
            "high",
            "touches authentication",
        )
    ],
}


# --- security group rule strings back into IP permissions --------------------------------------------


def parse_rule(rule: str) -> dict[str, Any] | None:
    """`tcp/22 from 10.0.0.0/8` → an IpPermission; None when the string is not one we write."""
    words = rule.split()
    if len(words) != 3 or words[1] not in ("from", "to"):
        return None
    permission = _ports(words[0])
    if permission is None:
        return None
    peer = words[2]
    if peer.startswith("sg-"):
        permission["UserIdGroupPairs"] = [{"GroupId": peer}]
    elif peer.startswith("pl-"):
        permission["PrefixListIds"] = [{"PrefixListId": peer}]
    else:
        try:
            network = ipaddress.ip_network(peer, strict=False)
        except ValueError:
            return None
        key, field = ("IpRanges", "CidrIp") if network.version == 4 else ("Ipv6Ranges", "CidrIpv6")
        permission[key] = [{field: peer}]
    return permission


def _ports(text: str) -> dict[str, Any] | None:
    protocol, _, ports = text.partition("/")
    if protocol == "all":
        return {"IpProtocol": "-1"}
    if not ports:
        return {
            "IpProtocol": protocol,
            "FromPort": -1 if protocol.startswith("icmp") else 0,
            "ToPort": -1 if protocol.startswith("icmp") else 65535,
        }
    low, _, high = ports.replace(":", "-").partition("-")
    try:
        return {"IpProtocol": protocol, "FromPort": int(low), "ToPort": int(high or low)}
    except ValueError:
        return None


# --- carrying out one step ---------------------------------------------------------------------------


def execute(step: Mapping[str, Any], client_for: Callable[[str], Any]) -> None:
    """Make the boto3 call of one automatic cloud step; raises botocore's errors on failure."""
    target, args, action = step["target"], step["args"], step["action"]
    kind = step["kind"]
    if action == "tag_resource":
        return _tag(kind, target, args["tags"], client_for)
    if kind == S3:
        return _s3(action, target["id"], args, client_for("s3"))
    if kind == SG:
        ec2 = client_for("ec2")
        call = getattr(
            ec2,
            f"{'authorize' if action == 'authorize_rule' else 'revoke'}_security_group_{args['direction']}",
        )
        call(GroupId=target["id"], IpPermissions=[parse_rule(args["rule"])])
        return None
    if action == "modify_instance_type":
        _resize(client_for("ec2"), target["id"], args["instance_type"])
    elif action == "modify_metadata_options":
        client_for("ec2").modify_instance_metadata_options(
            InstanceId=target["id"], HttpTokens=args["http_tokens"]
        )
    elif action == "modify_db_instance":
        client_for("rds").modify_db_instance(DBInstanceIdentifier=target["id"], ApplyImmediately=True, **args)
    else:
        raise ValueError(f"unknown cloud action {action}")
    return None


def _resize(ec2: Any, instance: str, instance_type: str) -> None:
    """Stop (when running), change the type, start again: the disruption the plan warned about."""
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    if state == "running":
        ec2.stop_instances(InstanceIds=[instance])
        ec2.get_waiter("instance_stopped").wait(
            InstanceIds=[instance], WaiterConfig={"Delay": 1, "MaxAttempts": 600}
        )
    ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": instance_type})
    if state == "running":
        ec2.start_instances(InstanceIds=[instance])


def _tag(
    kind: str, target: Mapping[str, Any], tags: Mapping[str, str], client_for: Callable[[str], Any]
) -> None:
    pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
    if kind == S3:
        s3 = client_for("s3")
        try:
            current = s3.get_bucket_tagging(Bucket=target["id"]).get("TagSet") or []
        except s3.exceptions.ClientError:
            current = []
        merged = {t["Key"]: t["Value"] for t in current} | dict(tags)
        s3.put_bucket_tagging(
            Bucket=target["id"], Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]}
        )
    elif kind == RDS:
        client_for("rds").add_tags_to_resource(ResourceName=target["arn"], Tags=pairs)
    else:
        client_for("ec2").create_tags(Resources=[target["id"]], Tags=pairs)


def _s3(action: str, bucket: str, args: Mapping[str, Any], s3: Any) -> None:
    if action == "put_bucket_versioning":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": args["status"]})
    elif action == "put_bucket_encryption":
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": args["algorithm"]}}
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
    elif action == "put_public_access_block":
        try:
            current = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except s3.exceptions.ClientError:
            current = {}
        config = {aws: bool(current.get(aws)) for aws in _PAB.values()}
        config.update({_PAB[ours]: value for ours, value in args["flags"].items()})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    else:
        raise ValueError(f"unknown S3 action {action}")
