"""aws.ec2.eip: Elastic IP addresses, one DescribeAddresses per region (the API has no pagination).

`associated_to` is the instance (or, failing that, the network interface) the address is bound to;
an unassociated EIP is billed for nothing, so the untracked view shows `associated`.
"""

from __future__ import annotations

from typing import Any

from .spec import BOOL, MATCHER, TAGS, KindSpec, Raw, make_kind, matchers, pick, tag_map

NAME = "aws.ec2.eip"

DESIRED = {**matchers("public_ip", "allocation_id", "domain", "private_ip_address", "network_border_group"),
           "associated": BOOL, "associated_to": MATCHER, "tags": TAGS, "name": MATCHER}


def normalise(raw: Raw) -> dict[str, Any]:
    facts = pick(raw, public_ip="PublicIp", allocation_id="AllocationId", domain="Domain",
                 private_ip_address="PrivateIpAddress", network_border_group="NetworkBorderGroup")
    # moto answers "" rather than leaving the field out for unassociated addresses
    target = raw.get("InstanceId") or raw.get("NetworkInterfaceId") or None
    facts["associated"] = bool(target or raw.get("AssociationId"))
    facts["associated_to"] = target
    facts["tags"] = tag_map(raw.get("Tags"))
    facts["name"] = facts["tags"].get("Name")
    return facts


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    native = raw.get("AllocationId") or raw["PublicIp"]
    arn = f"arn:aws:ec2:{region}:{account}:elastic-ip/{native}"
    return {"id": native, "name": tag_map(raw.get("Tags")).get("Name"), "arn": arn,
            "public_ip": raw.get("PublicIp")}


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED),
    service="ec2",
    list_call="describe_addresses",
    result_key="Addresses[]",
    paginated=False,
    normalise=normalise,
    identity=identity,
)
