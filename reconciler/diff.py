"""Drift: a CI's declared state against the facts its collector observed.

In: a CI (its expectations, parsed at load; ignore and severity rules) and its normalised facts. Out: a
list of Drift, one per declared path that is not satisfied. Facts nobody declared are never looked at.

One walk over the expectation tree (reconciler.expectations): a CI in sync costs one `satisfied` call
per declared node. Only for a CI that is not, a second walk descends into the mappings that fail and
reports each failing node with its path (a tuple of keys). Nothing here inspects a declared value to
guess what it means: the expectation's type says it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .expectations import Absent, Expectation, Fields, parse
from .matchers import MISSING
from .model import CI, Change, Drift, severity_rank
from .paths import DriftPath, covers, covers_qualified, dotted


@dataclass(frozen=True)
class Rules:
    """Project-wide ignore and severity rules, globs on "kind:ci:path"."""

    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] | None = None
    default_severity: str = "medium"


def compute_drift(ci: CI, facts: Mapping[str, Any], rules: Rules = Rules()) -> list[Drift]:
    """Every declared path of `ci` that `facts` do not satisfy, with ignore and severity rules applied."""
    expected = ci.expected if ci.expected is not None else expectations_of(ci)
    if expected.satisfied(facts):
        return []
    found: list[Drift] = []
    if isinstance(expected, Fields) and isinstance(facts, Mapping):
        _walk(expected, facts, (), found)
    else:
        found.append(_drift((), expected, facts))
    found.sort(key=lambda d: dotted(d.path))
    kept = [d for d in found if not _ignored(ci, d.path, rules)]
    return [_with_severity(ci, d, rules) for d in kept]


def expectations_of(ci: CI) -> Expectation:
    """For a CI built without going through project load (tests, benchmarks, plugins): parse its desired
    with its kind's schema once, and keep the result on the CI."""
    from .collectors import (
        kind_schema,  # the registry of kinds; imported late, the diff stage needs only this
    )

    expected = parse(kind_schema(ci.kind), dict(ci.desired))
    object.__setattr__(ci, "expected", expected)  # a cache of a value derived from the frozen CI
    return expected


def _walk(expected: Fields, actual: Mapping[str, Any], prefix: tuple[Any, ...], found: list[Drift]) -> None:
    get = actual.get
    for key, child in zip(expected.keys, expected.children, strict=True):
        have = get(key, MISSING)
        if have is None:
            have = MISSING
        if child.satisfied(have):
            continue
        path = prefix + (key,)
        if isinstance(child, Fields) and isinstance(have, Mapping):
            _walk(child, have, path, found)
        else:
            found.append(_drift(path, child, have))


def _drift(path: tuple[Any, ...], want: Expectation, have: Any) -> Drift:
    if have is MISSING:
        change = Change.MISSING
    elif isinstance(want, Absent):
        change = Change.UNEXPECTED
    elif isinstance(want, Fields) != isinstance(have, Mapping):
        change = Change.TYPE
    else:
        change = Change.CHANGED
    return Drift(path=DriftPath(path), change=change, desired=want.raw, actual=None if have is MISSING else have,
                 expected=want)


# --- rules ---------------------------------------------------------------------------------------------


def _ignored(ci: CI, path: tuple[Any, ...], rules: Rules) -> bool:
    return (any(covers(g, path) for g in ci.ignore)
            or any(covers_qualified(g, ci.kind, ci.id, path) for g in rules.ignore))


def _strongest(levels: Iterable[str]) -> str | None:
    return max(levels, key=severity_rank, default=None)


def _with_severity(ci: CI, drift: Drift, rules: Rules) -> Drift:
    level = (_strongest(lvl for g, lvl in ci.severity.items() if covers(g, drift.path))
             or _strongest(lvl for g, lvl in (rules.severity or {}).items()
                           if covers_qualified(g, ci.kind, ci.id, drift.path))
             or rules.default_severity)
    return Drift(drift.path, drift.change, drift.desired, drift.actual, severity=level, expected=drift.expected)
