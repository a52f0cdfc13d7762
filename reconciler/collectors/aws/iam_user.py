"""aws.iam.user: IAM users, one paginated ListUsers per account (IAM is global).

MFA, access keys, attached policies, console access and tags each cost one call per user and are
fetched only for users matched to a CI that declares them (tags: also when a CI matches users by tags).
Access key ids are shown masked (`AKIA…WXYZ`): enough to tell keys apart, never a whole credential.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .spec import (
    BOOL,
    MATCHER,
    SET,
    TAGS,
    Detail,
    KindSpec,
    Raw,
    error_code,
    make_kind,
    matchers,
    pick,
    record,
    uses,
)

NAME = "aws.iam.user"

_KEY = record(access_key_id=MATCHER, status=MATCHER, age_days=MATCHER, create_date=MATCHER)
DESIRED = {
    **matchers("user_name", "user_id", "path", "create_date", "password_last_used"),
    "mfa_enabled": BOOL,
    "console_access": BOOL,
    "access_keys": {"anyOf": [{"type": "array", "items": {"anyOf": [_KEY, MATCHER]}}, SET]},
    "attached_policies": SET,
    "tags": TAGS,
}


def mask(key_id: str) -> str:
    return f"{key_id[:4]}…{key_id[-4:]}" if len(key_id) > 8 else "…"


def age_days(created: Any, now: datetime | None = None) -> int | None:
    if not isinstance(created, datetime):
        return None
    moment = created if created.tzinfo else created.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - moment).days


@uses("list_mfa_devices")
def mfa(client: Any, raw: Raw) -> dict[str, Any]:
    pages = client.get_paginator("list_mfa_devices").paginate(UserName=raw["UserName"])
    return {"mfa_enabled": any(page.get("MFADevices") for page in pages)}


@uses("list_access_keys")
def access_keys(client: Any, raw: Raw) -> dict[str, Any]:
    pages = client.get_paginator("list_access_keys").paginate(UserName=raw["UserName"])
    keys = [key for page in pages for key in page.get("AccessKeyMetadata") or ()]
    return {"access_keys": [{"access_key_id": mask(k["AccessKeyId"]), "status": k.get("Status"),
                             "age_days": age_days(k.get("CreateDate")),
                             "create_date": pick(k, d="CreateDate").get("d")} for k in keys]}


@uses("list_attached_user_policies")
def attached_policies(client: Any, raw: Raw) -> dict[str, Any]:
    pages = client.get_paginator("list_attached_user_policies").paginate(UserName=raw["UserName"])
    return {"attached_policies": sorted(p["PolicyName"] for page in pages for p in page["AttachedPolicies"])}


@uses("get_login_profile")
def console_access(client: Any, raw: Raw) -> dict[str, Any]:
    try:
        client.get_login_profile(UserName=raw["UserName"])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return {"console_access": False}
        raise
    return {"console_access": True}


@uses("list_user_tags")
def tags(client: Any, raw: Raw) -> dict[str, Any]:
    pages = client.get_paginator("list_user_tags").paginate(UserName=raw["UserName"])
    return {"tags": {t["Key"]: t["Value"] for page in pages for t in page.get("Tags") or ()}}


DETAILS = (
    Detail(("mfa_enabled",), mfa),
    Detail(("access_keys",), access_keys),
    Detail(("attached_policies",), attached_policies),
    Detail(("console_access",), console_access),
    Detail(("tags",), tags),
)


def normalise(raw: Raw) -> dict[str, Any]:
    facts = pick(raw, user_name="UserName", user_id="UserId", path="Path", arn="Arn",
                 create_date="CreateDate", password_last_used="PasswordLastUsed")
    if raw.get("Tags"):  # ListUsers leaves tags out on real AWS; keep them when an answer carries them
        facts["tags"] = {t["Key"]: t["Value"] for t in raw["Tags"]}
    return facts


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    return {"id": raw["UserId"], "name": raw["UserName"], "arn": raw["Arn"]}


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED),
    service="iam",
    list_call="list_users",
    result_key="Users[]",
    list_args={"PaginationConfig": {"PageSize": 1000}},
    normalise=normalise,
    identity=identity,
    account_level=True,
    details=DETAILS,
    created_key="create_date",
)
