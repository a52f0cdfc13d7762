"""The declarative header every aws kind module fills in, and the small helpers they share.

A kind module says, as data: which boto3 service and list API enumerate it (with its paginator and the
JMESPath of the records in each page), how a raw record names itself (id, name, ARN), how it translates
into the SPEC §2.2 fact vocabulary (`normalise`), whether it is a provider default, and which attributes
need one extra call per resource (`details`, fetched only for what a CI declares or matching needs).
The scanner and matcher read these headers; nothing else knows a raw boto3 shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ... import expectations
from ...fixers import aws as aws_fixers
from ..base import Kind

Raw = Mapping[str, Any]
# gather(client, call, items) -> [call(item) for item in items], run at once, each holding a slot of the
# client's endpoint (scan.gatherer)
Gather = Callable[[Any, Callable[[Any], Any], Sequence[Any]], list[Any]]
# a lister's mark on a record found in none of the scanned regions (its region left unknown)
OUTSIDE_SCANNED_REGIONS = "x-reconciler-outside-scanned-regions"

# --- desired-schema building blocks (same matcher grammar as the server kind) -----------------------

MATCHER = expectations.VALUE  # the one matcher grammar lives in reconciler.expectations
SET = expectations.SET

TAGS: dict[str, Any] = {"type": "object", "additionalProperties": MATCHER}
BOOL: dict[str, Any] = {"anyOf": [{"type": "boolean"}, expectations.PRESENCE]}


def record(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


def matchers(*names: str) -> dict[str, Any]:
    return {name: MATCHER for name in names}


MATCH_SCHEMA = record(account={"type": ["string", "integer"]}, region={"type": "string"},
                      id={"type": "string"}, name={"type": "string"}, arn={"type": "string"}, tags=TAGS)


def make_kind(name: str, desired: dict[str, Any],
              normalise_desired: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
              identifiers: Mapping[str, tuple[str, ...]] | None = None) -> Kind:
    """An aws Kind: match by {account, region, id|name|arn|tags}; without `match`, the CI id is the name.
    `identifiers`: identity keys carrying a register identifier (an instance's `id` is its instance_id)."""
    return Kind(name=name, desired_schema=record(**desired), match_schema=MATCH_SCHEMA,
                normalise_desired=normalise_desired, default_match=lambda ci_id: {"name": ci_id},
                identifiers=dict(identifiers or {}),
                actions={"plan": aws_fixers.fix, "execute": aws_fixers.execute})


# --- the header --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """Facts that cost one extra call per resource; `fetch(client, raw)` returns them as a dict."""

    provides: tuple[str, ...]
    fetch: Callable[[Any, Raw], dict[str, Any]]


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    service: str
    list_call: str
    result_key: str  # JMESPath of the records within one page
    normalise: Callable[[Raw], dict[str, Any]]
    identity: Callable[[Raw, str, str | None], dict[str, Any]]  # raw, account, region -> id/name/arn
    paginated: bool = True
    list_args: Mapping[str, Any] = field(default_factory=dict)
    account_level: bool = False  # listed once per account (S3, IAM), not per region
    is_default: Callable[[Raw], bool] = lambda raw: False
    details: tuple[Detail, ...] = ()
    # per-CI shaping of facts to the form the CI declared (e.g. security groups by name or by id)
    tailor: Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None
    created_key: str | None = None  # the fact holding the creation time
    # a listing of its own, given a client per region, the scanned regions and a way to run independent
    # calls at once, each holding a slot of its endpoint (S3: buckets per region)
    lister: Callable[[Callable[[str], Any], list[str], Gather], list[Raw]] | None = None
    # the Resource Groups Tagging API type (`s3:bucket`) when GetResources answers tags for this kind
    tagging_type: str | None = None

    @property
    def name(self) -> str:
        return self.kind.name

    def detail_for(self, fact: str) -> Detail | None:
        return next((d for d in self.details if fact in d.provides), None)

    def operations(self) -> set[str]:
        """The boto3 method names this kind calls (to attribute API call counts to kinds)."""
        return {self.list_call} | {op for d in self.details for op in getattr(d.fetch, "operations", ())}


def uses(*operations: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a detail fetcher with the API operations it calls (for per-kind call counts)."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        function.operations = operations  # type: ignore[attr-defined]
        return function

    return mark


# --- shared translation helpers ---------------------------------------------------------------------


def tag_map(tags: Any) -> dict[str, str]:
    """AWS's [{Key, Value}] (any casing of the keys) -> {key: value}."""
    result = {}
    for tag in tags or ():
        key = tag.get("Key", tag.get("key"))
        result[key] = tag.get("Value", tag.get("value", ""))
    return result


def iso(value: Any) -> Any:
    """datetimes as ISO strings so that facts stay plain JSON."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return iso(value)


def pick(raw: Raw, **names: str) -> dict[str, Any]:
    """{fact: raw[AwsField]} for the fields present: fact names are snake_case of AWS field names."""
    return {fact: plain(raw[aws]) for fact, aws in names.items() if aws in raw}


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


OWNER_HINT_KEYS = ("owner", "team", "costcenter", "cost-center", "cost_center", "project", "contact",
                   "created-by", "createdby", "environment", "application")


def owner_hints(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a person deciding about an untracked resource looks for first."""
    return {key: value for key, value in tags.items() if key.lower() in OWNER_HINT_KEYS}
