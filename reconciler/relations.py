"""Relationships and impact: what depends on a drifted CI.

In: the resources a run observed (their normalised facts already say which security groups an instance
uses, which instance a volume or an Elastic IP is attached to, ...), the CIs' declared `relations`, and
the report items (for names and owners). Out: per drifted CI, the items that depend on it, counted by
kind and by owner — the JSON report's `impact`. Pure: no I/O.

An edge (a, relation, b) reads "a depends on b": a drift on b reaches a.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .model import CI, Item, Observed, Status

NO_OWNER = "(no owner)"
SAMPLE = 20  # dependents named per drifted CI; the rest are counted


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, (list, tuple, set)) else []


def fact_edges(resource: Observed) -> list[tuple[str, str, str]]:
    """The relations a resource's own facts hold, between AWS resource ids."""
    facts, own = resource.facts, str(resource.identity.get("id", ""))
    edges: list[tuple[str, str, str]] = []
    if resource.kind == "aws.ec2.instance":
        edges += [(own, "uses_security_group", g) for g in _ids(facts.get("security_group_ids"))]
        edges += [(own, "in_subnet", s) for s in _ids(facts.get("subnet_id"))]
    elif resource.kind == "aws.ec2.volume":
        edges += [(i, "uses_volume", own) for i in _ids(facts.get("attached_to"))]
    elif resource.kind == "aws.ec2.eip":
        edges += [(own, "attached_to", i) for i in _ids(facts.get("associated_to"))]
    elif resource.kind == "aws.rds.instance":
        groups = facts.get("vpc_security_group_ids") or facts.get("security_group_ids")
        edges += [(own, "uses_security_group", g) for g in _ids(groups)]
    return [edge for edge in edges if edge[0] and edge[2]]


def _node_names(observed: Iterable[Observed]) -> dict[str, str]:
    """AWS resource id -> the CI it is, else the resource's own id."""
    return {str(o.identity["id"]): o.ci or str(o.identity["id"]) for o in observed if o.identity.get("id")}


def relation_edges(observed: Sequence[Observed], cis: Iterable[CI]) -> set[tuple[str, str, str]]:
    """Discovered and declared edges between node names (CI ids, or resource ids nothing declares)."""
    names = _node_names(observed)
    edges = {(names.get(a, a), rel, names.get(b, b)) for o in observed for a, rel, b in fact_edges(o)}
    edges |= {(ci.id, rel, target) for ci in cis for rel, targets in ci.relations.items() for target in targets}
    return edges


def _owners(items: Iterable[Item]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Node name -> owner, and node name -> kind, from the report items."""
    owners: dict[str, str | None] = {}
    kinds: dict[str, str] = {}
    for item in items:
        name = item.ci or str(item.identity.get("id") or item.asset or "")
        if name:
            owners[name] = item.owner or _hinted(item.details)
            kinds[name] = item.kind or "asset"
    return owners, kinds


def _hinted(details: Mapping[str, Any]) -> str | None:
    hints = details.get("owner_hints") if details else None
    if isinstance(hints, Mapping) and hints:
        for key, value in hints.items():
            if key.lower() in ("owner", "team"):
                return str(value)
    return None


def impact(items: Sequence[Item], edges: Iterable[tuple[str, str, str]]) -> dict[str, dict[str, Any]]:
    """For each drifted CI that something depends on: its dependents, by kind and by owner."""
    drifted = {item.ci for item in items if item.ci and item.status == Status.DRIFTED}
    dependents: dict[str, set[str]] = {}
    for a, _rel, b in edges:
        if b in drifted and a != b:
            dependents.setdefault(b, set()).add(a)
    owners, kinds = _owners(items)
    result = {}
    for ci, names in sorted(dependents.items()):
        ordered = sorted(names)
        result[ci] = {"count": len(ordered), "kinds": dict(Counter(kinds.get(n, "unknown") for n in ordered)),
                      "owners": dict(sorted(Counter(owners.get(n) or NO_OWNER for n in ordered).items())),
                      "dependents": ordered[:SAMPLE]}
    return result


def impact_line(ci: str, kind: str | None, entry: Mapping[str, Any]) -> str:
    """"web-sg (aws.ec2.security_group): its drift reaches 14 dependents (14 aws.ec2.instance), 3 of them
    owned by team-web, 11 with no owner"."""
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(entry["kinds"].items()))
    owned = [f"{n} of them owned by {o}" if o != NO_OWNER else f"{n} with no owner"
             for o, n in sorted(entry["owners"].items(), key=lambda kv: (-kv[1], kv[0]))]
    noun = "dependent" if entry["count"] == 1 else "dependents"
    return f"{ci} ({kind}): its drift reaches {entry['count']} {noun} ({kinds}), " + ", ".join(owned)
