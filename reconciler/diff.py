"""Drift: a CI's declared state against the facts its collector observed.

In: a CI (desired, ignore, severity rules) and its normalised facts. Out: a list of Drift, one per
declared path that is not satisfied. Facts nobody declared are never looked at.

Two passes, so that the common case stays cheap:
1. `_satisfied` walks the declared tree once, applying matchers at the leaves. A CI in sync stops here;
   DeepDiff is never called for it.
2. Otherwise both sides are cut down to the declared paths that are not satisfied, and DeepDiff finds
   and classifies the differences between those small trees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping

from deepdiff import DeepDiff

from .matchers import ABSENT, MISSING, leaf_matcher, matches, normalise
from .model import CI, Change, Drift, severity_rank

ORDERED = "ordered"


@dataclass(frozen=True)
class Rules:
    """Project-wide ignore and severity rules, globs on "kind:ci:path"."""

    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] | None = None
    default_severity: str = "medium"


def compute_drift(ci: CI, facts: Mapping[str, Any], rules: Rules = Rules()) -> list[Drift]:
    """Every declared path of `ci` that `facts` do not satisfy, with ignore and severity rules applied."""
    if _satisfied(ci.desired, facts):
        return []
    found = [d for d in _deep_drift(ci.desired, facts) if not _ignored(ci, d.path, rules)]
    return [_with_severity(ci, d, rules) for d in found]


# --- pass 1: the fast walk ---------------------------------------------------------------------------

def _is_leaf(desired: Any) -> bool:
    return not isinstance(desired, (dict, list)) or _is_regex(desired)


def _is_regex(desired: Any) -> bool:
    return isinstance(desired, dict) and len(desired) == 1 and "regex" in desired


def _is_ordered(desired: Any) -> bool:
    return isinstance(desired, dict) and len(desired) == 1 and ORDERED in desired


def _satisfied(desired: Any, actual: Any) -> bool:
    """The hot path: called for every declared node of every CI, so it avoids all needless work."""
    cls = desired.__class__
    if cls is dict:
        if len(desired) == 1 and ("regex" in desired or ORDERED in desired):
            return matches(desired, actual) if "regex" in desired else _list_equal(desired[ORDERED], actual, True)
        if actual.__class__ is not dict:
            return False
        get = actual.get
        for key, want in desired.items():
            have = get(key, MISSING)
            if want == have and want.__class__ is have.__class__ and want != ABSENT:
                continue
            if not _satisfied(want, have):
                return False
        return True
    if cls is list:
        return _list_equal(desired, actual, ordered=False)
    return leaf_matcher(desired)(MISSING if actual is None else actual)


def _canonical(value: Any) -> Any:
    value = normalise(value)
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _list_equal(desired: list[Any], actual: Any, ordered: bool) -> bool:
    if actual.__class__ is not list:
        return False
    if desired == actual or (not ordered and _same_set(desired, actual)):
        return True
    want, have = [_canonical(v) for v in desired], [_canonical(v) for v in actual]
    return want == have if ordered else set(want) == set(have)


def _same_set(desired: list[Any], actual: list[Any]) -> bool:
    try:
        return set(desired) == set(actual)
    except TypeError:  # unhashable members: the canonical comparison decides
        return False


# --- pass 2: projection + DeepDiff -------------------------------------------------------------------

def _differing(desired: Any, actual: Any) -> tuple[Any, Any]:
    """(declared, observed) cut down to the paths that are not satisfied; a key absent from the observed
    side is one the target does not have."""
    if not isinstance(desired, dict) or _is_regex(desired) or _is_ordered(desired):
        return desired, actual
    if not isinstance(actual, dict):
        return desired, actual
    declared, observed = {}, {}
    for key, want in desired.items():
        have = actual.get(key, MISSING)
        if _satisfied(want, have):
            continue
        if have is MISSING or have is None:
            declared[key] = want
        else:
            declared[key], observed[key] = _differing(want, have)
    return declared, observed


def _deep_drift(desired: Mapping[str, Any], facts: Mapping[str, Any]) -> list[Drift]:
    declared, observed = _differing(desired, facts)
    tree = DeepDiff(declared, observed, threshold_to_diff_deeper=0, view="tree")
    drift: dict[tuple[Any, ...], Drift] = {}
    for report_type, changes in tree.items():
        for change in changes:
            path = _declared_path(change.path(output_format="list"), desired)
            if path not in drift:
                drift[path] = _drift_at(path, report_type, desired, facts)
    return sorted(drift.values(), key=lambda d: d.path)


def _declared_path(path: list[Any], desired: Mapping[str, Any]) -> tuple[Any, ...]:
    """Cut a DeepDiff path at the first list, `ordered` or matcher: those are compared as one value."""
    node: Any = desired
    kept: list[Any] = []
    for key in path:
        if not isinstance(node, dict) or _is_regex(node) or _is_ordered(node) or key not in node:
            break
        kept.append(key)
        node = node[key]
    return tuple(kept)


def _lookup(tree: Any, path: Iterable[Any]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree or tree[key] is None:
            return MISSING
        tree = tree[key]
    return tree


def _drift_at(path: tuple[Any, ...], report_type: str, desired: Any, facts: Any) -> Drift:
    want, have = _lookup(desired, path), _lookup(facts, path)
    if have is MISSING:
        change = Change.MISSING
    elif want == ABSENT:
        change = Change.UNEXPECTED
    elif isinstance(want, dict) != isinstance(have, dict) and not (_is_regex(want) or _is_ordered(want)):
        change = Change.TYPE
    else:
        change = Change.CHANGED
    shown = None if have is MISSING else have
    return Drift(path=".".join(str(p) for p in path), change=change, desired=want, actual=shown)


# --- rules ---------------------------------------------------------------------------------------------

def _glob_covers(pattern: str, path: str) -> bool:
    return fnmatchcase(path, pattern) or path.startswith(pattern + ".")


def _ignored(ci: CI, path: str, rules: Rules) -> bool:
    qualified = f"{ci.kind}:{ci.id}:{path}"
    return any(_glob_covers(g, path) for g in ci.ignore) or any(_glob_covers(g, qualified) for g in rules.ignore)


def _strongest(levels: Iterable[str]) -> str | None:
    return max(levels, key=severity_rank, default=None)


def _with_severity(ci: CI, drift: Drift, rules: Rules) -> Drift:
    qualified = f"{ci.kind}:{ci.id}:{drift.path}"
    level = (_strongest(lvl for g, lvl in ci.severity.items() if _glob_covers(g, drift.path))
             or _strongest(lvl for g, lvl in (rules.severity or {}).items() if _glob_covers(g, qualified))
             or rules.default_severity)
    return Drift(drift.path, drift.change, drift.desired, drift.actual, severity=level)
