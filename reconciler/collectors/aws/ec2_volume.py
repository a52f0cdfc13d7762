"""aws.ec2.volume: EBS volumes, one paginated DescribeVolumes per region.

`attached_to` is the instance id (a sorted list for multi-attach volumes), None when unattached —
an unattached volume costs money for nothing, so the untracked view shows `attached`. Attached
volumes (root volumes first) are part of their instance, like a provider default: only --strict lists them.
"""

from __future__ import annotations

from typing import Any

from .spec import BOOL, MATCHER, TAGS, KindSpec, Raw, make_kind, matchers, pick, tag_map

NAME = "aws.ec2.volume"

DESIRED = {**matchers("size", "volume_type", "state", "availability_zone", "iops", "throughput",
                      "kms_key_id", "snapshot_id", "create_time"),
           "encrypted": BOOL, "attached": BOOL, "attached_to": MATCHER, "tags": TAGS, "name": MATCHER}


def normalise(raw: Raw) -> dict[str, Any]:
    facts = pick(raw, size="Size", volume_type="VolumeType", state="State", availability_zone="AvailabilityZone",
                 iops="Iops", throughput="Throughput", kms_key_id="KmsKeyId", snapshot_id="SnapshotId",
                 create_time="CreateTime", encrypted="Encrypted")
    instances = sorted({a["InstanceId"] for a in raw.get("Attachments") or () if a.get("InstanceId")})
    facts["attached"] = bool(instances)
    facts["attached_to"] = instances[0] if len(instances) == 1 else (instances or None)
    facts["tags"] = tag_map(raw.get("Tags"))
    facts["name"] = facts["tags"].get("Name")
    return facts


def part_of_instance(raw: Raw) -> bool:
    """An attached volume (every instance's root volume, to begin with) is decided about with its
    instance, which untracked lists on its own; so it is left out unless --strict. We do not rely on
    the attachment's DeleteOnTermination: moto leaves it out of DescribeVolumes."""
    return any(a.get("InstanceId") for a in raw.get("Attachments") or ())


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    arn = f"arn:aws:ec2:{region}:{account}:volume/{raw['VolumeId']}"
    return {"id": raw["VolumeId"], "name": tag_map(raw.get("Tags")).get("Name"), "arn": arn}


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED),
    service="ec2",
    list_call="describe_volumes",
    result_key="Volumes[]",
    list_args={"PaginationConfig": {"PageSize": 500}},
    normalise=normalise,
    identity=identity,
    created_key="create_time",
    is_default=lambda raw: part_of_instance(raw),
)
