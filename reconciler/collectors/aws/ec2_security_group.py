"""aws.ec2.security_group: security groups, one paginated DescribeSecurityGroups per region.

Rules are flattened into a set of strings that read well in a diff: `tcp/22 from 0.0.0.0/0`,
`tcp/8000-8080 from sg-0abc`, `icmp/8:0 from 10.0.0.0/8`, `all to 0.0.0.0/0` (egress reads "to").
Each CIDR / group / prefix list of a permission becomes its own string, so one added source is one
`changed` element in the set. The `default` group of each VPC is a provider default.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .spec import SET, TAGS, KindSpec, Raw, make_kind, matchers, pick, tag_map

NAME = "aws.ec2.security_group"

DESIRED = {**matchers("group_name", "group_id", "description", "vpc_id"),
           "ingress": SET, "egress": SET, "tags": TAGS}


def _ports(permission: Raw) -> str:
    protocol = str(permission.get("IpProtocol", "-1")).lower()
    if protocol in ("-1", "all"):
        return "all"
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if protocol in ("icmp", "1", "icmpv6", "58"):
        return protocol if low in (None, -1) else f"{protocol}/{low}:{high}"
    if low is None or (low, high) in ((0, 65535), (-1, -1)):
        return protocol
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def _peers(permission: Raw) -> Iterator[str]:
    for item in permission.get("IpRanges") or ():
        yield item["CidrIp"]
    for item in permission.get("Ipv6Ranges") or ():
        yield item["CidrIpv6"]
    for item in permission.get("UserIdGroupPairs") or ():
        yield item.get("GroupId") or item.get("GroupName", "?")
    for item in permission.get("PrefixListIds") or ():
        yield item["PrefixListId"]


def rule_strings(permissions: Any, word: str) -> list[str]:
    return sorted({f"{_ports(p)} {word} {peer}" for p in permissions or () for peer in _peers(p)})


def normalise_rule(rule: Any) -> Any:
    """Desired rules written by hand: case and spacing never matter (`TCP/22  from 0.0.0.0/0`), nor how the
    ports are spelled: `tcp/0-65535`, `udp/53-53` and `-1` are written as AWS's rules read back (`tcp`,
    `udp/53`, `all`), so that a fixed rule compares equal."""
    if not isinstance(rule, str) or not rule.split():
        return rule
    words = rule.split()
    return " ".join([_spelled_ports(words[0].lower()),
                     *(w.lower() if w.lower() in ("from", "to") else w for w in words[1:])])


def _spelled_ports(text: str) -> str:
    """`protocol/low-high` as _ports writes it; anything else (icmp types, odd text) as it is."""
    protocol, _, ports = text.partition("/")
    if protocol in ("-1", "all"):
        return "all"
    low, _, high = ports.partition("-")
    if protocol in ("icmp", "1", "icmpv6", "58") or not (low.isdigit() and (high or low).isdigit()):
        return text
    if (int(low), int(high or low)) == (0, 65535):
        return protocol
    return f"{protocol}/{int(low)}" if int(low) == int(high or low) else f"{protocol}/{int(low)}-{int(high)}"


def normalise_desired(desired: dict[str, Any]) -> dict[str, Any]:
    for key in ("ingress", "egress"):
        if isinstance(desired.get(key), list):
            desired[key] = [normalise_rule(rule) for rule in desired[key]]
    return desired


def normalise(raw: Raw) -> dict[str, Any]:
    facts = pick(raw, group_name="GroupName", group_id="GroupId", description="Description", vpc_id="VpcId")
    facts["ingress"] = rule_strings(raw.get("IpPermissions"), "from")
    facts["egress"] = rule_strings(raw.get("IpPermissionsEgress"), "to")
    facts["tags"] = tag_map(raw.get("Tags"))
    return facts


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    arn = raw.get("SecurityGroupArn") or f"arn:aws:ec2:{region}:{account}:security-group/{raw['GroupId']}"
    return {"id": raw["GroupId"], "name": raw.get("GroupName"), "arn": arn}


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED, normalise_desired),
    service="ec2",
    list_call="describe_security_groups",
    result_key="SecurityGroups[]",
    list_args={"PaginationConfig": {"PageSize": 1000}},
    normalise=normalise,
    identity=identity,
    is_default=lambda raw: raw.get("GroupName") == "default",
)

