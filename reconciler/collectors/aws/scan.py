"""Scanning: list every kind in every account/region scope, and fetch per-resource details on demand.

In: verified Accounts, the KindSpecs to scan, the regions. Out: one ScopeResult per
(account, region|global, kind) — the normalised Resources it holds, or the error that kept it from being
listed (AccessDenied on one API fails only that kind there). One list call per page, never a
per-resource describe (a kind may bring its own lister: S3 lists buckets per region); `fetch_details`
runs the extra per-resource calls a caller asks for. Each scope holds LIST_WEIGHT of its endpoint's slots
while it lists, so a heavy page is not slowed down by a crowd of requests to the same server, and each
per-resource call one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import jmespath
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .sessions import LIST_WEIGHT, Account, Clients, Redactor, describe_error
from .spec import OUTSIDE_SCANNED_REGIONS, Detail, Gather, KindSpec, Raw

GLOBAL = "global"
INDEXED = ("id", "name", "arn")  # identity keys a CI matches on
# what a call may raise when AWS (or whatever answers in its place) says no or says nonsense
AWS_ERRORS = (BotoCoreError, ClientError, ResponseParserError)


class UnexpectedAnswer(BotoCoreError):
    fmt = "{operation}: the answer holds no {key} records (not an AWS API response?)"


def scope_label(account: str, region: str | None) -> str:
    return f"{account}/{region or GLOBAL}"


@dataclass
class Resource:
    spec: KindSpec
    account: str
    region: str | None  # None for account-level kinds until their region is known
    raw: Raw
    facts: dict[str, Any]
    identity: dict[str, Any]
    detail_errors: dict[str, str] = field(default_factory=dict)
    hint_tags: dict[str, str] | None = None  # tags learnt for owner hints only (hints.py), not facts

    @property
    def scope(self) -> str:
        return scope_label(self.account, None if self.spec.account_level else self.region)

    def describe(self) -> str:
        name = self.identity.get("name")
        label = self.identity["id"] + (f" ({name})" if name and name != self.identity["id"] else "")
        return f"{label} in {scope_label(self.account, self.region)}"


@dataclass
class ScopeResult:
    account: str
    region: str | None  # None: account-level (global) scope
    spec: KindSpec
    resources: list[Resource] | None = None
    error: str | None = None
    note: str | None = None  # listed fine, but something extra (owner hints) could not be had
    _index: dict[tuple[str, Any], list[Resource]] | None = field(default=None, repr=False, compare=False)
    _indexed: list[Resource] | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        return scope_label(self.account, self.region)

    @property
    def ok(self) -> bool:
        return self.error is None

    def having(self, key: str, value: Any) -> list[Resource]:
        """The resources whose identity `key` (id, name or arn: fixed once listed) is `value`: matching
        200 CIs against 1,000 buckets one by one took ~1 s of the GIL here, while calls waited."""
        if self._index is None or self._indexed is not self.resources:
            index: dict[tuple[str, Any], list[Resource]] = defaultdict(list)
            for resource in self.resources or ():
                for name in INDEXED:
                    if name in resource.identity:
                        index[(name, resource.identity[name])].append(resource)
            self._index, self._indexed = dict(index), self.resources
        return self._index.get((key, value), [])


def make_resource(spec: KindSpec, account: str, region: str | None, raw: Raw) -> Resource:
    facts = spec.normalise(raw)
    where = region if not spec.account_level else facts.get("region")
    ident = {"account": account, "region": where, **spec.identity(raw, account, region)}
    return Resource(spec, account, where, raw, facts, {k: v for k, v in ident.items() if v is not None})


def make_resources(spec: KindSpec, account: str, region: str | None, records: list[Raw]) -> list[Resource]:
    try:
        return [make_resource(spec, account, region, raw) for raw in records]
    except (KeyError, TypeError, AttributeError) as error:  # a record without its id: not AWS's answer
        raise UnexpectedAnswer(operation=spec.list_call, key=f"well-formed ({type(error).__name__}: {error})")


def list_records(client: Any, spec: KindSpec) -> list[Raw]:
    if spec.paginated:
        pages = client.get_paginator(spec.list_call).paginate(**spec.list_args)
        records = list(pages.search(spec.result_key))
    else:
        args = {k: v for k, v in spec.list_args.items() if k != "PaginationConfig"}
        records = jmespath.search(spec.result_key, getattr(client, spec.list_call)(**args)) or []
    return checked(records, spec.list_call, spec.result_key)


def checked(records: list[Any], operation: str, key: str) -> list[Raw]:
    """A page without the records it should hold is a failure, never an empty scope."""
    if any(not isinstance(record, Mapping) for record in records):
        raise UnexpectedAnswer(operation=operation, key=key)
    return records


def list_scope(account: Account, spec: KindSpec, region: str, clients: Clients, redact: Redactor,
               regions: Sequence[str] = ()) -> ScopeResult:
    """List one kind in one scope. `region` is where the client points; account-level scopes have none
    (their lister, if any, is given every scanned region)."""
    scope_region = None if spec.account_level else region
    assert account.id is not None
    try:
        client = clients.for_account(account, spec.service, region)
        if spec.lister:  # its calls take their own slots: independent ones (per region) go out at once
            records = spec.lister(lambda where: clients.for_account(account, spec.service, where),
                                  list(regions) or [region], gatherer(clients))
        else:
            with clients.slot(client, LIST_WEIGHT):
                records = list_records(client, spec)
        resources = make_resources(spec, account.id, scope_region, records)
    except AWS_ERRORS as error:
        return ScopeResult(account.id, scope_region, spec, error=redact(describe_error(error)))
    return ScopeResult(account.id, scope_region, spec, resources=resources)


def gatherer(clients: Clients) -> Gather:
    """A lister's way to make independent calls at once, each within its endpoint's cap."""

    def gather(client: Any, call: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        def one(item: Any) -> Any:
            with clients.slot(client, LIST_WEIGHT):
                return call(item)

        if len(items) <= 1:
            return [one(item) for item in items]
        with ThreadPoolExecutor(len(items), thread_name_prefix="aws-gather") as pool:
            return list(pool.map(one, items))

    return gather


def fetch_detail(resource: Resource, detail: Detail, client: Any, redact: Redactor,
                 clients: Clients | None = None) -> None:
    try:
        with clients.slot(client) if clients else nullcontext():
            resource.facts.update(detail.fetch(client, resource.raw))
    except AWS_ERRORS as error:
        for fact in detail.provides:
            resource.detail_errors[fact] = redact(describe_error(error))
        return
    if "region" in detail.provides and resource.spec.account_level:
        resource.region = resource.facts["region"]
        resource.identity["region"] = resource.region


def submit_details(pool: Executor, wanted: Iterable[tuple[Resource, str]], accounts: dict[str, Account],
                   clients: Clients, home_region: str, redact: Redactor) -> list[Future[None]]:
    """Queue one call per (resource, detail) for each (resource, fact) not yet known."""
    jobs: dict[tuple[int, int], tuple[Resource, Detail]] = {}
    for resource, fact in wanted:
        detail = resource.spec.detail_for(fact)
        if detail is None or fact in resource.facts or fact in resource.detail_errors:
            continue
        jobs[(id(resource), id(detail))] = (resource, detail)
    futures = []
    for resource, detail in jobs.values():
        region = resource.region if not resource.spec.account_level else home_region
        client = clients.for_account(accounts[resource.account], resource.spec.service, region or home_region)
        futures.append(pool.submit(fetch_detail, resource, detail, client, redact, clients))
    return futures


def fetch_details(pool: Executor, wanted: Iterable[tuple[Resource, str]], accounts: dict[str, Account],
                  clients: Clients, home_region: str, redact: Redactor) -> None:
    for future in submit_details(pool, wanted, accounts, clients, home_region, redact):
        future.result()


def unlocated(result: ScopeResult) -> list[tuple[Resource, str]]:
    """Resources of an account-level scope whose region (part of their identity) the listing left out,
    and did not find in any scanned region either (those are elsewhere: located only if a CI asks)."""
    if not result.ok or not result.spec.detail_for("region"):
        return []
    return [(r, "region") for r in result.resources or () if r.region is None and not outside(r)]


def outside(resource: Resource) -> bool:
    """Listed, but in none of the scanned regions (a lister's mark): not untracked, not located up front."""
    return bool(resource.raw.get(OUTSIDE_SCANNED_REGIONS))


def fail_unlocated(result: ScopeResult) -> None:
    """A region we could not learn fails the scope: nothing there is then reported untracked or missing."""
    failed = [r for r in result.resources or () if "region" in r.detail_errors]
    if failed:
        result.error = f"{failed[0].describe()}: {failed[0].detail_errors['region']}"
        result.resources = None
