"""Drift grouped by cause: the same drift on many CIs is one thing to fix, not many.

In: report items (after classify), and optionally each CI's context (inventory groups, baselines it
extends) and when each drift was first seen. Out: causes, largest first — plain dicts, the shape of the
JSON report's `causes[]`. Pure: no I/O; the pipeline passes what it knows, the renderers fall back to
the items alone (a re-rendered old report has no context).

Two drifts are the same cause when kind, path, change and desired are equal and either the actual
value is equal too or the desired value is a matcher (a version constraint, a glob, a regex) that all
of them fail the same way — "nginx `>=1.22` declared, 1.18.0 or 1.20.1 found" is one upgrade to do.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..model import Drift, Item, severity_rank

_CONSTRAINT_START = ("<", ">", "=", "!", "~", "^")
_GLOB_CHARS = ("*", "?", "[")
SHOWN_CIS = 10  # CIs named per cause in a report; the rest is a count


def path_text(path: Any) -> str:
    """A drift path for people: a dotted string as it is, or a tuple of keys in its display form."""
    if isinstance(path, str):
        return path
    display = getattr(path, "display", None)
    if display is not None:
        return display() if callable(display) else str(display)
    return ".".join(str(part) for part in path)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def is_matcher(desired: Any) -> bool:
    """A desired value that many actual values can fail: a version constraint, a glob, a regex."""
    if isinstance(desired, Mapping):
        return "regex" in desired
    if isinstance(desired, str):
        text = desired.strip()
        return text.startswith(_CONSTRAINT_START) or any(c in text for c in _GLOB_CHARS)
    return False


def cause_key(kind: str | None, drift: Drift) -> tuple[str, ...]:
    actual = "" if is_matcher(drift.desired) else _canonical(drift.actual)
    return (kind or "", path_text(drift.path), drift.change.value, _canonical(drift.desired), actual)


def cause_id(key: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:12]


def find_causes(items: Iterable[Item], context: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                first_seen: Mapping[tuple[str, str], str] | None = None) -> list[dict[str, Any]]:
    """Causes of the unwaived drift of `items`, most CIs first. `context`: CI id -> {"groups": [...],
    "baselines": [...]}; `first_seen`: (CI id, path text) -> ISO time the drift was first seen."""
    groups: dict[tuple[str, ...], list[tuple[Item, Drift]]] = {}
    for item in items:
        if not item.ci:
            continue
        for drift in item.drift:
            if not drift.waived:
                groups.setdefault(cause_key(item.kind, drift), []).append((item, drift))
    causes = [_cause(key, members, context or {}, first_seen or {}) for key, members in groups.items()]
    causes.sort(key=lambda c: (-c["count"], -severity_rank(c["severity"]), c["kind"], c["path"], c["id"]))
    return causes


def _cause(key: tuple[str, ...], members: list[tuple[Item, Drift]],
           context: Mapping[str, Mapping[str, Sequence[str]]], first_seen: Mapping[tuple[str, str], str]
           ) -> dict[str, Any]:
    first_item, first_drift = members[0]
    cis = sorted({item.ci for item, _drift in members if item.ci})
    actuals = Counter(_canonical(drift.actual) for _item, drift in members)
    seen = [first_seen[(item.ci, key[1])] for item, _drift in members if item.ci and (item.ci, key[1]) in first_seen]
    return {
        "id": cause_id(key), "kind": first_item.kind, "path": key[1], "change": first_drift.change.value,
        "desired": first_drift.desired,
        "actual": [json.loads(value) for value, _n in actuals.most_common()],
        "severity": max((drift.severity for _item, drift in members), key=severity_rank),
        "count": len(cis), "cis": cis,
        "owners": dict(sorted(Counter(item.owner or "(no owner)" for item, _d in members).items())),
        "groups": _shared(cis, context, "groups"), "baselines": _shared(cis, context, "baselines"),
        "first_seen": min(seen) if seen else None,
    }


def _shared(cis: Sequence[str], context: Mapping[str, Mapping[str, Sequence[str]]], name: str) -> list[str]:
    """What every CI of the cause has in common: the likeliest place to fix it."""
    shared: set[str] | None = None
    for ci in cis:
        values = set(context.get(ci, {}).get(name, ()))
        shared = values if shared is None else shared & values
        if not shared:
            return []
    return sorted(shared or ())


def cause_line(cause: Mapping[str, Any]) -> str:
    """One line a person reads: what is wrong, on how many CIs, where they have it in common."""
    actual = " or ".join(_show(value) for value in cause["actual"][:3])
    if len(cause["actual"]) > 3:
        actual += f" (+{len(cause['actual']) - 3} more values)"
    where = [f"group {', '.join(cause['groups'])}"] if cause.get("groups") else []
    where += [f"baseline {', '.join(cause['baselines'])}"] if cause.get("baselines") else []
    where += [f"since {cause['first_seen'][:10]}"] if cause.get("first_seen") else []
    noun = "CI" if cause["count"] == 1 else "CIs"
    return (f"{cause['path']}: {actual} where {_show(cause['desired'])} is declared — {cause['count']} {noun} "
            f"({cause['kind']}, {cause['severity']})" + (f", {'; '.join(where)}" if where else ""))


def named_cis(cause: Mapping[str, Any], limit: int = SHOWN_CIS) -> str:
    shown = cause["cis"][:limit]
    more = f" … and {cause['count'] - len(shown)} more" if cause["count"] > len(shown) else ""
    return ", ".join(shown) + more


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def covered_by(item: Item, cause_ids: set[str]) -> bool:
    """Whether every unwaived drift of the item belongs to one of these causes."""
    drift = [d for d in item.drift if not d.waived]
    return bool(drift) and all(cause_id(cause_key(item.kind, d)) in cause_ids for d in drift)


def causes_of(result: Any) -> list[dict[str, Any]]:
    """The causes a run recorded, else computed from its items (an older recorded report)."""
    return list(getattr(result, "causes", None) or find_causes(result.items))
