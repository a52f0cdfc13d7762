"""Matching CIs to scanned resources: {account, region, id | name | arn | tags} -> one resource or a reason.

Pure functions over ScopeResults. A CI is matched only within the scopes its `match` allows; several
resources for one CI is an error naming them (never a guess); not found while a scope it could live in
failed is `unknown`, not `missing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model import CI
from .scan import Resource, ScopeResult
from .spec import KindSpec

IDENTITY_KEYS = ("id", "name", "arn")


@dataclass
class Outcome:
    ci: CI
    spec: KindSpec
    match: dict[str, Any]
    scopes: list[ScopeResult] = field(default_factory=list)
    resource: Resource | None = None
    error: str | None = None

    @property
    def missing(self) -> bool:
        return self.resource is None and self.error is None


def effective_match(ci: CI, spec: KindSpec) -> dict[str, Any]:
    match = dict(ci.match or {})
    if not any(key in match for key in (*IDENTITY_KEYS, "tags")) and spec.kind.default_match:
        match.update(spec.kind.default_match(ci.id))
    if "account" in match:
        match["account"] = str(match["account"])
    return match


def in_scope(scope: ScopeResult, match: Mapping[str, Any], unverified: set[str]) -> bool:
    if "account" in match and scope.account != match["account"] and scope.account not in unverified:
        return False
    return scope.region is None or "region" not in match or scope.region == match["region"]


def matches(resource: Resource, match: Mapping[str, Any], check_region: bool = True) -> bool:
    if any(key in match and resource.identity.get(key) != match[key] for key in IDENTITY_KEYS):
        return False
    if check_region and "region" in match and resource.region != match["region"]:
        return False
    tags = resource.facts.get("tags") or {}
    return all(tags.get(key) == str(value) for key, value in (match.get("tags") or {}).items())


def prepare(ci: CI, spec: KindSpec, results: Iterable[ScopeResult], unverified: set[str]) -> Outcome:
    """The scopes a CI may live in; an error when the configuration scans none of them."""
    match = effective_match(ci, spec)
    outcome = Outcome(ci, spec, match)
    outcome.scopes = [s for s in results if s.spec is spec and in_scope(s, match, unverified)]
    if not outcome.scopes:
        where = ", ".join(f"{k} {match[k]}" for k in ("account", "region") if k in match)
        outcome.error = f"no scanned scope covers {where or 'this CI'} (see aws.accounts / aws.regions)"
    return outcome


def candidates(outcome: Outcome, check_region: bool = True) -> list[Resource]:
    key = next((k for k in IDENTITY_KEYS if k in outcome.match), None)
    if key is None:  # by tags only: every resource in scope
        found = [r for s in outcome.scopes if s.ok for r in s.resources or ()]
    else:
        found = [r for s in outcome.scopes if s.ok for r in s.having(key, outcome.match[key])]
    return [r for r in found if matches(r, outcome.match, check_region)]


def resolve(outcome: Outcome) -> Outcome:
    """Settle a prepared outcome once every fact matching needs (tags, bucket regions) is known."""
    if outcome.error:
        return outcome
    if "tags" in outcome.match:
        broken = [r for s in outcome.scopes if s.ok for r in s.resources or () if "tags" in r.detail_errors]
        if broken:
            outcome.error = f"cannot match by tags: tags of {broken[0].describe()}: {broken[0].detail_errors['tags']}"
            return outcome
    lost = [r for r in candidates(outcome, check_region=False) if "region" in r.detail_errors]
    if lost:
        outcome.error = f"cannot locate {lost[0].describe()}: {lost[0].detail_errors['region']}"
        return outcome
    found = candidates(outcome)
    if len(found) > 1:
        names = "; ".join(r.describe() for r in found[:10])
        outcome.error = f"match is ambiguous: {len(found)} resources match {outcome.match}: {names}"
    elif found:
        outcome.resource = found[0]
    else:
        failed = [s for s in outcome.scopes if not s.ok]
        if failed:
            outcome.error = (f"not found in the scopes scanned, and {failed[0].label} "
                             f"({outcome.spec.name}) could not be scanned: {failed[0].error}")
    return outcome
