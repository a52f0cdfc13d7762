"""aws.ec2.instance: EC2 instances, listed with one paginated DescribeInstances per region.

Everything SPEC §2.2 names is in the list response, so instances never cost a per-resource call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .spec import BOOL, MATCHER, SET, TAGS, KindSpec, Raw, make_kind, matchers, pick, tag_map

NAME = "aws.ec2.instance"

DESIRED = {
    **matchers("instance_type", "state", "image_id", "subnet_id", "vpc_id", "iam_instance_profile",
               "public_ip_address", "private_ip_address", "availability_zone", "key_name", "launch_time"),
    "security_groups": SET,
    "security_group_ids": SET,
    "ebs_optimized": BOOL,
    "imds_v2_required": BOOL,
    "tags": TAGS,
    "name": MATCHER,
}


def normalise(raw: Raw) -> dict[str, Any]:
    facts = pick(raw, instance_type="InstanceType", image_id="ImageId", subnet_id="SubnetId",
                 vpc_id="VpcId", public_ip_address="PublicIpAddress", private_ip_address="PrivateIpAddress",
                 key_name="KeyName", launch_time="LaunchTime", ebs_optimized="EbsOptimized")
    groups = raw.get("SecurityGroups") or []
    facts.update(
        state=(raw.get("State") or {}).get("Name"),
        availability_zone=(raw.get("Placement") or {}).get("AvailabilityZone"),
        security_groups=sorted(g["GroupName"] for g in groups if g.get("GroupName")),
        security_group_ids=sorted(g["GroupId"] for g in groups),
        iam_instance_profile=(raw.get("IamInstanceProfile") or {}).get("Arn"),
        imds_v2_required=(raw.get("MetadataOptions") or {}).get("HttpTokens") == "required",
        tags=tag_map(raw.get("Tags")),
    )
    facts.setdefault("public_ip_address", None)
    facts["name"] = facts["tags"].get("Name")
    return facts


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    name = tag_map(raw.get("Tags")).get("Name")
    arn = f"arn:aws:ec2:{region}:{account}:instance/{raw['InstanceId']}"
    return {"id": raw["InstanceId"], "name": name, "arn": arn}


def tailor(facts: dict[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """SPEC: `security_groups` is a set of group names *or ids*: answer in the form the CI declared."""
    declared = desired.get("security_groups")
    if isinstance(declared, list) and declared and all(str(g).startswith("sg-") for g in declared):
        return {**facts, "security_groups": facts["security_group_ids"]}
    return facts


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED, identifiers={"instance_id": ("id",)}),
    service="ec2",
    list_call="describe_instances",
    result_key="Reservations[].Instances[]",
    list_args={"PaginationConfig": {"PageSize": 1000}},
    normalise=normalise,
    identity=identity,
    tailor=tailor,
    created_key="launch_time",
    # terminated instances linger in listings for an hour; they are not resources anyone owns any more
    is_default=lambda raw: (raw.get("State") or {}).get("Name") in ("terminated", "shutting-down"),
)
