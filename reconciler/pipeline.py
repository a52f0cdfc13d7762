"""The only orchestrator: Project → collect → diff → classify → RunResult.

Stages are called in order and data flows one way; the CLI turns the RunResult into a report and an
exit code. Each stage's wall time is kept in RunResult.timings (the fleet benchmark prints them).
"""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any, Iterator, Sequence

from .collectors import Registry
from .collectors.base import CollectOptions, Progress
from .diff import Rules, compute_drift
from .model import CI, Collection, FactSet, Item, Project, RunResult, Source, Status, severity_rank

MISSING_SEVERITY = "high"


@dataclass(frozen=True)
class RunOptions:
    limit: str | None = None
    kind: str | None = None
    fail_on: str = "low"
    facts_dir: str | None = None
    progress: Progress = field(default_factory=Progress)


def run(project: Project, options: RunOptions = RunOptions()) -> RunResult:
    started, timings = _now(), {}
    with _timed(timings, "collect"):
        cis = select_cis(project.cis, options)
        collections = collect(project, cis, options)
    with _timed(timings, "diff"):
        items = [reconcile_ci(ci, _fact_set(ci, collections), _rules(project)) for ci in cis]
    items.sort(key=item_order)
    sources = [source for collection in collections for source in collection.sources]
    result = RunResult(id=str(uuid.uuid4()), started_at=started, finished_at=_now(), sources=sources,
                       items=items, timings=timings, stats=_stats(collections))
    result.coverage = {"declared_pct": _declared_pct(items)}
    result.exit_code = exit_code(items, options.fail_on)
    return result


def select_cis(cis: Sequence[CI], options: RunOptions) -> list[CI]:
    return [ci for ci in cis
            if (options.limit is None or fnmatchcase(ci.id, options.limit))
            and (options.kind is None or fnmatchcase(ci.kind, options.kind))]


def collect(project: Project, cis: Sequence[CI], options: RunOptions) -> list[Collection]:
    """Run each collector once over the CIs of the kinds it serves in this run."""
    registry: Registry = project.registry
    by_collector: dict[type, list[CI]] = {}
    unserved: list[CI] = []
    for ci in cis:
        collector = registry.collector_for(ci.kind, project.settings)
        (by_collector.setdefault(collector, []) if collector else unserved).append(ci)
    collect_options = CollectOptions(facts_dir=options.facts_dir, progress=options.progress)
    collections = [replace(collector(project, collect_options).collect(group), collector=collector.name)
                   for collector, group in by_collector.items()]
    return collections + [_unserved(unserved)] if unserved else collections


def _unserved(cis: list[CI]) -> Collection:
    facts = {ci.id: FactSet(ci.id, "none", ci.id, error=f"no active collector serves kind '{ci.kind}'")
             for ci in cis}
    return Collection(facts=facts)


def _fact_set(ci: CI, collections: list[Collection]) -> FactSet:
    for collection in collections:
        if ci.id in collection.facts:
            return collection.facts[ci.id]
    return FactSet(ci.id, "none", ci.id, error="the collector returned nothing for this CI")


def _rules(project: Project) -> Rules:
    settings = project.settings
    return Rules(ignore=settings.ignore, severity=settings.severity, default_severity=settings.default_severity)


def reconcile_ci(ci: CI, facts: FactSet, rules: Rules) -> Item:
    """One CI's report item: unknown if its target could not be looked at, missing if it is not there."""
    item = Item(ci=ci.id, kind=ci.kind, status=None, identity=dict(facts.identity or ci.match), owner=ci.owner,
                asset=ci.asset)
    if facts.error:
        item.status, item.error = Status.UNKNOWN, facts.error
    elif facts.facts is None:
        item.status, item.severity = Status.MISSING, MISSING_SEVERITY
    else:
        item.drift = compute_drift(ci, facts.facts, rules)
        item.status = Status.DRIFTED if item.drift else Status.IN_SYNC
        item.severity = max((d.severity for d in item.drift if not d.waived), key=severity_rank, default=None)
    return item


def item_order(item: Item) -> tuple[str, str, str]:
    identity = ",".join(f"{k}={item.identity[k]}" for k in sorted(item.identity))
    return (item.kind or "", item.ci or "", identity)


def exit_code(items: Sequence[Item], fail_on: str) -> int:
    """2: drift or flags at/above fail_on; 3: nothing found but some CIs unknown; 0: clean."""
    threshold = severity_rank(fail_on)
    if any(severity_rank(item.severity) >= threshold and (item.drift or item.status == Status.MISSING or item.flags)
           for item in items):
        return 2
    return 3 if any(item.status == Status.UNKNOWN for item in items) else 0


def _declared_pct(items: Sequence[Item]) -> float | None:
    """Of the resources observed, the share some CI declares (untracked ones lower it)."""
    observed = [i for i in items if i.status in (Status.IN_SYNC, Status.DRIFTED) or "untracked" in i.flags]
    if not observed:
        return None
    return round(100.0 * sum(1 for i in observed if i.ci) / len(observed), 1)


def _stats(collections: list[Collection]) -> dict[str, Any]:
    return {collection.collector: dict(collection.stats) for collection in collections if collection.stats}


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
