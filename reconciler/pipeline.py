"""The only orchestrator: Project → collect → diff (waivers) → classify (register) → record → RunResult.

Stages are called in order and data flows one way; the CLI opens the register, and turns the RunResult
into a report and an exit code. Each stage's wall time is kept in RunResult.timings.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from .bulk import settled_heap
from .classify import Classification, ClassifySettings, classify
from .collectors import Registry, builtin_identifiers
from .collectors.base import CollectOptions, Collector, Progress
from .diff import Rules, compute_drift
from .errors import ReconcilerError
from .executors import Executor, open_executor
from .model import (
    CI,
    Collection,
    Drift,
    FactSet,
    Failure,
    Item,
    Project,
    Reason,
    RunResult,
    Source,
    Status,
    flag_weight,
    severity_rank,
)
from .notify import Delivery, body, has_changes, send, title
from .paths import covers
from .register.assets import RegisterSnapshot, book_value
from .register.findings import drift_first_seen, finding_changes
from .register.recording import Recorded, record_run, update_run_report
from .register.store import Register
from .relations import impact, relation_edges
from .report.causes import find_causes, path_text
from .report.json import build_report
from .report.money import identity_key, money_at_stake, prices_from
from .userdata import clip

MISSING_SEVERITY = "high"


@dataclass(frozen=True)
class RunOptions:
    limit: str | None = None
    kind: str | None = None
    fail_on: str = "low"
    facts_dir: str | None = None
    strict: bool = False  # provider defaults (default VPC, ...) count as untracked too
    notify: tuple[str, ...] = ()  # Apprise URLs told about new/changed/resolved findings
    progress: Progress = field(default_factory=Progress)
    executor: str | None = None  # local | processes | dask://HOST:PORT (default: reconciler.yml's, or local)


def run(project: Project, options: RunOptions = RunOptions(), register: Register | None = None,
        record: bool = True, facts_out: dict[str, FactSet] | None = None) -> RunResult:
    """One reconcile run. With a register, findings are classified against it and (if `record`) the run
    is recorded in it, in one transaction; without one, against an empty register."""
    with settled_heap() as settle:
        return _run(project, options, register, record, facts_out, settle)


def _run(project: Project, options: RunOptions, register: Register | None, record: bool,
         facts_out: dict[str, FactSet] | None, settle: Callable[[], None]) -> RunResult:
    timings: dict[str, float] = {}
    started, today = _now(), datetime.now(UTC).date()
    cis = select_cis(project.cis, options)
    with _timed(timings, "collect"):
        collections = collect(project, cis, options, timings, register.licence_globs() if register else ())
    settle()  # the facts live until the run ends
    facts = {ci.id: _fact_set(ci, collections) for ci in cis}
    if facts_out is not None:  # plan and apply pin their steps to these facts
        facts_out.update(facts)
    with _timed(timings, "diff"):
        items = diff_cis(project, cis, facts, register.waivers(today) if register else [])
    with _timed(timings, "classify"):
        snapshot = register.snapshot() if register else RegisterSnapshot(assets={})
        observed = [seen for collection in collections for seen in collection.observed]
        found = classify(items, observed, _sources(collections), snapshot,
                         _classify_settings(project, today, options), facts)
    del items  # classify made its own: on 100,000 CIs the diff's items are ~100 MB
    result = _result(started, collections, found, options, timings)
    with _timed(timings, "causes"):
        first_seen = drift_first_seen(register, result.items, path_text) if register else {}
        result.causes = find_causes(result.items, ci_context(project, cis), first_seen)
        result.money = _money(project, result.items, snapshot, observed, today)
        result.impact = impact(result.items, relation_edges(observed, cis))
    if register and record:
        with _timed(timings, "record"):
            recorded = _record(register, result, found, facts, partial=bool(options.limit or options.kind))
        if options.notify:
            with _timed(timings, "notify"):
                _notify(register, result, recorded, options.notify)
    return result


def ci_context(project: Project, cis: Sequence[CI]) -> dict[str, dict[str, list[str]]]:
    """Each CI's inventory groups (server CIs, by their host) and the baselines it extends."""
    inventory = project.inventory
    groups_of: dict[str, list[str]] = {}
    if inventory is not None and any(ci.match.get("host") for ci in cis):
        for group, hosts in inventory.groups.items():
            if group not in ("all", "ungrouped"):
                for host in hosts:
                    groups_of.setdefault(host, []).append(group)
    return {ci.id: {"groups": groups_of.get(str(ci.match.get("host")), []), "baselines": list(ci.extends)}
            for ci in cis}


def _money(project: Project, items: Sequence[Item], snapshot: RegisterSnapshot, observed: Sequence[Any],
           today: Any) -> dict[str, Any]:
    """Money at stake: the register's values of flagged assets, the facts of untracked resources."""
    values = {}
    for tag in {item.asset for item in items if item.asset and item.flags}:
        asset = snapshot.assets.get(tag)
        if asset is not None:
            value = book_value(asset, today)
            per_seat = float(asset.purchase_cost) / asset.seats if asset.purchase_cost and asset.seats else None
            values[tag] = {"book_value": None if value is None else float(value),
                           "currency": asset.currency or "(no currency)", "cost_per_seat": per_seat}
    wanted = {(item.kind or "", identity_key(item.identity)) for item in items if "untracked" in item.flags}
    facts_of: dict[tuple[str, str], Mapping[str, Any]] = {}
    if wanted:
        for seen in observed:
            key = (seen.kind, identity_key(seen.identity))
            if key in wanted:
                facts_of[key] = seen.facts
    return money_at_stake(items, values, facts_of, prices_from(project.settings.raw.get("prices")))


def _notify(register: Register, result: RunResult, recorded: Recorded, urls: Sequence[str]) -> None:
    """Tell the URLs what changed since the previous run; a failed delivery is a failed source."""
    result.changes = finding_changes(register, result, recorded)
    deliveries: list[Delivery] = []
    if has_changes(result.changes):
        deliveries = send(urls, title(result.changes, result.id), body(result.changes))
    result.sources += [Source("notify", d.url, "failed", d.error) for d in deliveries if not d.ok]
    result.stats["notify"] = {"changes": sum(map(len, result.changes.values())),
                              "sent": sum(d.ok for d in deliveries), "failed": sum(not d.ok for d in deliveries)}
    result.report = build_report(result)  # its sources and stats changed: built again, and recorded so
    update_run_report(register, result, result.report)


def diff_cis(project: Project, cis: Sequence[CI], facts: dict[str, FactSet],
             waivers: Sequence[dict[str, Any]]) -> list[Item]:
    rules = _rules(project)
    return [reconcile_ci(ci, facts[ci.id], rules, _waivers_of(ci, waivers)) for ci in cis]


def _result(started: str, collections: list[Collection], found: Classification, options: RunOptions,
            timings: dict[str, float]) -> RunResult:
    for item in found.items:
        item.severity = item_severity(item)
    items = [item for item in found.items if _selected(item, options)]
    result = RunResult(id=str(uuid.uuid4()), started_at=started, finished_at=_now(), sources=_sources(collections),
                       items=items, coverage={**found.coverage, "by_owner": found.by_owner}, timings=timings,
                       stats=_stats(collections), fail_on=options.fail_on)
    result.exit_code = exit_code(items, options.fail_on)
    return result


def _sources(collections: list[Collection]) -> list[Source]:
    return [source for collection in collections for source in collection.sources]


def _classify_settings(project: Project, today: Any, options: RunOptions) -> ClassifySettings:
    settings = project.settings
    return ClassifySettings(today=today, stale_after_days=settings.stale_after_days,
                            identify=settings.raw.get("identification") or {}, include_defaults=options.strict,
                            scanned_kinds=_scanned_kinds(project, options),
                            aliases={name: kind.identifiers for name, kind in project.registry.kinds.items()}
                            if project.registry is not None else builtin_identifiers())


def _scanned_kinds(project: Project, options: RunOptions) -> frozenset[str]:
    """Kinds listed in full this run: those of the scanning collectors (not with --limit, when they do
    not run), narrowed by --kind and by the aws section's own `kinds`."""
    if options.limit is not None or project.registry is None:
        return frozenset()
    kinds: set[str] = set()
    for scanner in project.registry.scanners(project.settings):
        configured = (project.settings.aws.get("kinds") or None) if scanner.name == "aws" else None
        kinds.update(k.name for k in scanner.kinds if (options.kind is None or fnmatchcase(k.name, options.kind))
                     and (configured is None or k.name in configured))
    return frozenset(kinds)


def untracked_only(result: RunResult, fail_on: str) -> RunResult:
    """The same run, reduced to the resources nobody declared or registered."""
    items = [item for item in result.items if "untracked" in item.flags]
    reduced = replace(result, items=items, report=None, recorded=False)
    reduced.exit_code = exit_code(items, fail_on) if items else (3 if _failed(result) else 0)
    return reduced


def _failed(result: RunResult) -> bool:
    return any(source.status != "ok" for source in result.sources)


def _record(register: Register, result: RunResult, found: Classification, facts: dict[str, FactSet],
            partial: bool) -> Recorded:
    result.report = build_report(result)  # built once: recorded here, rendered by the CLI
    return record_run(register, result, observed=found.observed, facts=facts, links=found.links,
                      unevaluated=found.unevaluated, partial=partial, report=result.report)


def _selected(item: Item, options: RunOptions) -> bool:
    """--limit keeps the chosen CIs only; --kind also keeps undeclared resources of that kind."""
    if options.limit is not None and not (item.ci and fnmatchcase(item.ci, options.limit)):
        return False
    return options.kind is None or (item.kind is not None and fnmatchcase(item.kind, options.kind))


def select_cis(cis: Sequence[CI], options: RunOptions) -> list[CI]:
    return [ci for ci in cis
            if (options.limit is None or fnmatchcase(ci.id, options.limit))
            and (options.kind is None or fnmatchcase(ci.kind, options.kind))]


def collect(project: Project, cis: Sequence[CI], options: RunOptions, timings: dict[str, float] | None = None,
            licence_globs: tuple[str, ...] = ()) -> list[Collection]:
    """Run each collector once over the CIs of the kinds it serves in this run, on this run's executor.
    `licence_globs`: the packages the register counts installations of (collectors keep them)."""
    registry: Registry = project.registry
    by_collector: dict[type[Collector], list[CI]] = {}
    unserved: list[CI] = []
    if options.limit is None:  # collectors that look for undeclared resources scan even without CIs
        for scanner in registry.scanners(project.settings):
            if options.kind is None or any(fnmatchcase(k.name, options.kind) for k in scanner.kinds):
                by_collector.setdefault(scanner, [])
    for ci in cis:
        collector = registry.collector_for(ci.kind, project.settings)
        (by_collector.setdefault(collector, []) if collector else unserved).append(ci)
    timings = timings if timings is not None else {}
    with open_executor(options.executor or project.settings.raw.get("executor")) as executor:
        collections = [replace(_collect_one(project, collector, group,
                                            _collect_options(collector, options, licence_globs), executor, timings),
                               collector=collector.name) for collector, group in by_collector.items()]
    return collections + [_unserved(unserved)] if unserved else collections


def _collect_one(project: Project, collector: type[Collector], group: list[CI], options: CollectOptions,
                 executor: Executor, timings: dict[str, float]) -> Collection:
    """The collector boundary: a collector that breaks on what it was given (a plugin's bug, raw data of
    a shape nobody expected) makes its own CIs `unknown` and its scope failed — not the whole run's end.
    Configuration errors (CollectorError) still stop the run: nothing could be collected as asked.
    Collectors split into jobs run them on the executor (unless it is in-process); the rest run here."""
    try:
        instance = collector(project, options)
        jobs = None if executor.in_process else instance.prepare(group)
        if jobs is None:
            return instance.collect(group)
        progress = options.progress
        progress.start(sum(len(job.scopes) for job in jobs), f"{collector.name} jobs")
        parts = executor.run(collector, jobs, lambda job: progress.advance(len(job.scopes)))
        progress.finish()
        with _timed(timings, "merge"):
            return instance.merge(group, parts)
    except ReconcilerError:
        raise
    except Exception as exc:  # noqa: BLE001 -- reported as each CI's error and a failed source
        error = f"collector '{collector.name}' failed: {type(exc).__name__}: {clip(str(exc))}"
        return Collection(facts={ci.id: FactSet(ci.id, collector.name, ci.id, error=error) for ci in group},
                          sources=(Source(collector.name, "*", "failed", error),))


def _collect_options(collector: type[Collector], options: RunOptions,
                     licence_globs: tuple[str, ...]) -> CollectOptions:
    kinds = [k.name for k in collector.kinds if options.kind is None or fnmatchcase(k.name, options.kind)]
    return CollectOptions(facts_dir=options.facts_dir, progress=options.progress,
                          extra={"kinds": kinds} if options.kind else {}, licence_globs=licence_globs)


def _unserved(cis: list[CI]) -> Collection:
    facts = {ci.id: FactSet.failed(ci.id, "none", ci.id, Failure(
        Reason.NOT_SERVED, f"no active collector serves kind '{ci.kind}'", labelled=False))
             for ci in cis}
    return Collection(facts=facts)


def _fact_set(ci: CI, collections: list[Collection]) -> FactSet:
    for collection in collections:
        if ci.id in collection.facts:
            return collection.facts[ci.id]
    return FactSet.failed(ci.id, "none", ci.id,
                          Failure(Reason.OTHER, "the collector returned nothing for this CI", labelled=False))


def _rules(project: Project) -> Rules:
    settings = project.settings
    return Rules(ignore=settings.ignore, severity=settings.severity, default_severity=settings.default_severity)


def reconcile_ci(ci: CI, facts: FactSet, rules: Rules, waivers: Sequence[str] = ()) -> Item:
    """One CI's report item: unknown if its target could not be looked at, missing if it is not there.
    Drift on a path a current waiver covers (`waivers`: path globs) is kept, marked waived."""
    item = Item(ci=ci.id, kind=ci.kind, status=None, identity=dict(facts.identity or ci.match), owner=ci.owner,
                asset=ci.asset)
    if facts.error:
        item.status, item.error = Status.UNKNOWN, facts.error
    elif facts.facts is None:
        item.status, item.severity = Status.MISSING, MISSING_SEVERITY
    else:
        item.drift = [_waived(d, waivers) for d in compute_drift(ci, facts.facts, rules)]
        item.status = Status.DRIFTED if item.drift else Status.IN_SYNC
        item.severity = item_severity(item)
    return item


def _waivers_of(ci: CI, waivers: Sequence[dict[str, Any]]) -> list[str]:
    return [w["path"] for w in waivers if fnmatchcase(ci.id, w["ci"])]


def _waived(drift: Drift, waivers: Sequence[str]) -> Drift:
    if any(covers(glob, drift.path) for glob in waivers):
        return replace(drift, waived=True)
    return drift


def item_severity(item: Item) -> str | None:
    """The strongest of the item's unwaived drift, its flags, and `missing`."""
    levels = [d.severity for d in item.drift if not d.waived] + [flag_weight(f) for f in item.flags]
    if item.status == Status.MISSING:
        levels.append(MISSING_SEVERITY)
    return max(levels, key=severity_rank, default=None)


def exit_code(items: Sequence[Item], fail_on: str) -> int:
    """2: drift or flags at/above fail_on; 3: nothing found but some CIs unknown; 0: clean."""
    threshold = severity_rank(fail_on)
    if any(item.severity is not None and severity_rank(item.severity) >= threshold for item in items):
        return 2
    return 3 if any(item.status == Status.UNKNOWN for item in items) else 0


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
    return datetime.now(UTC).isoformat(timespec="seconds")
