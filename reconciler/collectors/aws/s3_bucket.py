"""aws.s3.bucket: S3 buckets, one ListBuckets per account; every other attribute is one call per bucket.

Those per-bucket calls (`DETAILS`) are made only for buckets matched to a CI that declares the
attribute, or — for tags — for every bucket when some CI matches buckets by tags. The region is part
of a bucket's identity: it comes from ListBuckets' `BucketRegion`, which AWS sends (no extra call); where
the answer lacks it (moto), from one ListBuckets filtered by `BucketRegion` per scanned region, all at
once — 1 + regions calls, however many buckets. An endpoint ignoring the filter answers every bucket for
every region, which two or more regions show as overlapping answers; a single region is checked by one
GetBucketLocation. Only then (the filter ignored) is every bucket located with its own GetBucketLocation.
Buckets found in no scanned region are located only when a CI could match them.
Owner-hint tags of untracked buckets come from the Resource Groups Tagging API (see hints.py).

"Not configured" answers are facts, not failures, and we report what real S3 would enforce:
- no default-encryption configuration (moto raises ServerSideEncryptionConfigurationNotFoundError for
  every bucket; real S3 has applied SSE-S3 to every bucket since January 2023) -> `encryption: AES256`,
  with `encryption_configured: false` so a reviewer can still tell;
- no public access block -> the four flags false; no lifecycle -> 0 rules; no tag set -> `{}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .spec import (
    BOOL,
    MATCHER,
    OUTSIDE_SCANNED_REGIONS,
    TAGS,
    Detail,
    Gather,
    KindSpec,
    Raw,
    error_code,
    make_kind,
    matchers,
    plain,
    record,
    uses,
)

NAME = "aws.s3.bucket"

_PAB = ("block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets")
DESIRED = {
    **matchers("region", "versioning", "encryption", "lifecycle_rule_count", "creation_date"),
    "encryption_configured": BOOL,
    "public_access_block": record(**{flag: BOOL for flag in _PAB}),
    "logging": record(enabled=BOOL, target_bucket=MATCHER, target_prefix=MATCHER),
    "tags": TAGS,
}


def _absent_as(codes: tuple[str, ...], value: Any, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as error:
        if error_code(error) in codes:
            return value
        raise


@uses("get_bucket_versioning")
def versioning(client: Any, raw: Raw) -> dict[str, Any]:
    answer = client.get_bucket_versioning(Bucket=raw["Name"])
    return {"versioning": answer.get("Status") or "Disabled"}


@uses("get_bucket_encryption")
def encryption(client: Any, raw: Raw) -> dict[str, Any]:
    answer = _absent_as(("ServerSideEncryptionConfigurationNotFoundError",), None,
                        client.get_bucket_encryption, Bucket=raw["Name"])
    if answer is None:
        return {"encryption": "AES256", "encryption_configured": False}
    rules = answer["ServerSideEncryptionConfiguration"].get("Rules") or [{}]
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    return {"encryption": default.get("SSEAlgorithm", "AES256"), "encryption_configured": True}


@uses("get_public_access_block")
def public_access_block(client: Any, raw: Raw) -> dict[str, Any]:
    answer = _absent_as(("NoSuchPublicAccessBlockConfiguration",), {},
                        client.get_public_access_block, Bucket=raw["Name"])
    config = answer.get("PublicAccessBlockConfiguration") or {}
    aws = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    return {"public_access_block": {ours: bool(config.get(theirs)) for ours, theirs in zip(_PAB, aws)}}


@uses("get_bucket_tagging")
def tags(client: Any, raw: Raw) -> dict[str, Any]:
    answer = _absent_as(("NoSuchTagSet", "NoSuchTagSetError"), {}, client.get_bucket_tagging,
                        Bucket=raw["Name"])
    return {"tags": {tag["Key"]: tag["Value"] for tag in answer.get("TagSet") or ()}}


@uses("get_bucket_lifecycle_configuration")
def lifecycle(client: Any, raw: Raw) -> dict[str, Any]:
    answer = _absent_as(("NoSuchLifecycleConfiguration",), {}, client.get_bucket_lifecycle_configuration,
                        Bucket=raw["Name"])
    return {"lifecycle_rule_count": len(answer.get("Rules") or ())}


@uses("get_bucket_logging")
def logging(client: Any, raw: Raw) -> dict[str, Any]:
    enabled = client.get_bucket_logging(Bucket=raw["Name"]).get("LoggingEnabled") or {}
    return {"logging": {"enabled": bool(enabled), "target_bucket": enabled.get("TargetBucket"),
                        "target_prefix": enabled.get("TargetPrefix")}}


@uses("get_bucket_location")
def location(client: Any, raw: Raw) -> dict[str, Any]:
    if raw.get("BucketRegion"):
        return {"region": raw["BucketRegion"]}
    constraint = client.get_bucket_location(Bucket=raw["Name"]).get("LocationConstraint")
    # the API's historical spellings: no constraint is us-east-1, "EU" is eu-west-1
    return {"region": {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(constraint, constraint)}


DETAILS = (
    Detail(("versioning",), versioning),
    Detail(("encryption", "encryption_configured"), encryption),
    Detail(("public_access_block",), public_access_block),
    Detail(("tags",), tags),
    Detail(("lifecycle_rule_count",), lifecycle),
    Detail(("logging",), logging),
    Detail(("region",), location),
)


def _buckets(client: Any, **filters: Any) -> list[dict[str, Any]]:
    # no MaxBuckets: moto cuts the list at MaxBuckets without a continuation token
    pages = client.get_paginator("list_buckets").paginate(**filters)
    records = list(pages.search("Buckets[]"))
    if any(not isinstance(record, dict) or "Name" not in record for record in records):
        raise BucketListError(operation="ListBuckets", why="an answer without bucket names")
    return records


class BucketListError(BotoCoreError):
    fmt = "{operation}: {why}"


def list_buckets(client_for: Callable[[str], Any], regions: list[str], gather: Gather) -> list[Raw]:
    """Every bucket of the account, with `BucketRegion` wherever one of the scanned regions holds it.
    The per-region listings (and their checks) are independent: they go out at once."""
    client = client_for(regions[0])  # ListBuckets and GetBucketLocation answer the same from any region
    records = gather(client, lambda _: _buckets(client), [None])[0]
    if all(record.get("BucketRegion") for record in records):
        return list[Raw](records)
    by_name = {record["Name"]: record for record in records}
    found: dict[str, str] = {}
    alone = len(regions) == 1  # nothing to overlap with: the answer's first bucket is located to check
    for region, names in zip(regions, gather(client, lambda region: _filtered(client, region, alone), regions)):
        if names is None or set(names) & set(found):
            return list[Raw](records)  # the filter was not applied: locate each bucket on its own (see unlocated)
        found.update((name, region) for name in names if name in by_name)
    for name, bucket in by_name.items():
        if name in found:
            bucket["BucketRegion"] = found[name]
        else:
            bucket[OUTSIDE_SCANNED_REGIONS] = True
    return list[Raw](records)


def _filtered(client: Any, region: str, check: bool) -> list[str] | None:
    """The names ListBuckets filtered by `region` answers, or None when the endpoint evidently ignored
    the filter (checked: its first bucket lives elsewhere)."""
    names = [record["Name"] for record in _buckets(client, BucketRegion=region)]
    if check and names and location(client, {"Name": names[0]})["region"] != region:
        return None
    return names


def normalise(raw: Raw) -> dict[str, Any]:
    facts: dict[str, Any] = {"name": raw["Name"], "creation_date": plain(raw.get("CreationDate"))}
    if raw.get("BucketRegion"):
        facts["region"] = raw["BucketRegion"]
    return facts


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    return {"id": raw["Name"], "name": raw["Name"], "arn": f"arn:aws:s3:::{raw['Name']}"}


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED, identifiers={"bucket": ("name",)}),
    service="s3",
    list_call="list_buckets",
    result_key="Buckets[]",
    normalise=normalise,
    identity=identity,
    account_level=True,
    details=DETAILS,
    created_key="creation_date",
    lister=list_buckets,
    tagging_type="s3:bucket",
)
