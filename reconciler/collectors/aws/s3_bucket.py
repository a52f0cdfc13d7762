"""aws.s3.bucket: S3 buckets, one ListBuckets per account; every other attribute is one call per bucket.

Those per-bucket calls (`DETAILS`) are made only for buckets matched to a CI that declares the
attribute, or — for tags — for every bucket when some CI matches buckets by tags. The region is part
of a bucket's identity: it comes from ListBuckets' `BucketRegion`, which AWS sends (no extra call), else
(moto, older S3-compatible endpoints) from one GetBucketLocation per bucket.

"Not configured" answers are facts, not failures, and we report what real S3 would enforce:
- no default-encryption configuration (moto raises ServerSideEncryptionConfigurationNotFoundError for
  every bucket; real S3 has applied SSE-S3 to every bucket since January 2023) -> `encryption: AES256`,
  with `encryption_configured: false` so a reviewer can still tell;
- no public access block -> the four flags false; no lifecycle -> 0 rules; no tag set -> `{}`.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .spec import (
    BOOL,
    MATCHER,
    TAGS,
    Detail,
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
    list_args={"PaginationConfig": {"PageSize": 1000}},
    normalise=normalise,
    identity=identity,
    account_level=True,
    details=DETAILS,
    created_key="creation_date",
)
