"""Recording a run: run row, observations, CI configuration history, links and findings — one transaction.

The pipeline calls `record_run` once classify is done. Everything happens inside
`Register.writing()`: a crash or Ctrl-C part-way rolls the whole run back, and the writer lock keeps two
runs from interleaving. Bulk work is done set-wise (one SELECT of the existing state, executemany for the
few changed rows, a temporary table for the many unchanged ones) so 100,000 observations stay fast.
"""

from __future__ import annotations

import json
import operator
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..bulk import paused_gc
from ..model import FactSet, Item, Observed, RunResult
from ..paths import display
from ..secrets import redact
from . import schema as t
from .assets import Link, json_value
from .identify import content_hash, resource_key
from .rows import insert_rows
from .store import Register, dumps, dumps_bytes, now


@dataclass
class Recorded:
    """What recording changed: findings new / still open / reopened / resolved, and history versions."""

    new: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    first_seen: dict[str, datetime] = field(default_factory=dict)  # fingerprint -> first seen
    versions: int = 0  # new CI configuration versions
    identity_changes: int = 0


def fingerprint(kind: str | None, subject: str, what: str) -> str:
    return content_hash([kind, subject, what])[:32]


def subject_of(item: Item) -> str:
    """What a finding is about: the CI, else the asset, else the observed resource."""
    return item.ci or item.asset or resource_key(item.kind, item.identity)


def _path_text(path: Any) -> str:
    """The display form of a drift path (reconciler.paths): keys with dots quoted, so one text per tuple."""
    return display(path) if isinstance(path, tuple) else str(path)


def findings_of(item: Item) -> list[tuple[str, str]]:
    """(fingerprint, what) for each flag and each unwaived drift of an item."""
    subject = subject_of(item)
    whats = [f"flag:{flag}" for flag in item.flags]
    whats += [f"drift:{_path_text(d.path)}" for d in item.drift if not d.waived]
    return [(fingerprint(item.kind, subject, what), what) for what in whats]


@paused_gc()
def record_run(register: Register, run: RunResult, *, observed: Sequence[Observed] = (),
               facts: Mapping[str, FactSet] | None = None, links: Sequence[Link] = (),
               unevaluated: Iterable[str] = (), partial: bool = False,
               report: Mapping[str, Any] | None = None) -> Recorded:
    """Record one run, all or nothing. `unevaluated`: subjects whose state this run could not establish
    (their open findings stay open); `partial`: a --limit/--kind run, which resolves only what it saw."""
    stamp, recorded, digest = now(), Recorded(), Digests()
    keyed = [(resource_key(o.kind, o.identity), o) for o in observed]  # each key encoded once
    with register.writing() as conn:
        _insert_run(conn, run, report)
        _record_observations(conn, keyed, run.sources, stamp, digest)
        recorded.versions = _record_history(conn, run.id, facts or {}, stamp, digest)
        recorded.identity_changes = _record_links(conn, links, run.id, stamp)
        _record_findings(conn, run, keyed, set(unevaluated), partial, stamp, recorded)
    return recorded


class Digests:
    """content_hash by facts object, for one recording: an observation and its CI's FactSet often hold
    the same dict, hashed once. The objects outlive the call, so their id() is a safe key."""

    def __init__(self) -> None:
        self.known: dict[int, str] = {}

    def __call__(self, facts: Any) -> str:
        digest = self.known.get(id(facts))
        if digest is None:
            digest = self.known[id(facts)] = content_hash(facts)
        return digest


# --- runs -------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Model values -> plain JSON data (one encode/decode round: faster than walking it in Python)."""
    return json.loads(dumps(value))


def _insert_run(conn: Connection, run: RunResult, report: Mapping[str, Any] | None) -> None:
    conn.execute(t.runs.insert().values(id=run.id, started_at=_when(run.started_at),
                                        finished_at=_when(run.finished_at), **_outcome(run, report)))


def update_run_report(register: Register, run: RunResult, report: Mapping[str, Any]) -> None:
    """What happened after the run was recorded (a notification that failed): its row tells it too, so that
    `reconcile report RUN` shows what the run printed."""
    with register.writing() as conn:
        conn.execute(t.runs.update().where(t.runs.c.id == run.id).values(**_outcome(run, report)))


def _outcome(run: RunResult, report: Mapping[str, Any] | None) -> dict[str, Any]:
    body = report if report is not None else {"items": run.items, "coverage": run.coverage}
    summary = {"items": len(run.items), "coverage": run.coverage, "stats": _plain(run.stats),
               "counts": {k: v for k, v in (report or {}).get("summary", {}).items() if k != "coverage"}}
    return {"exit_code": run.exit_code, "summary": json.loads(json.dumps(summary, default=str)),
            "sources": report["run"]["sources"] if report is not None else _plain(run.sources),  # plain already
            "report": zlib.compress(dumps_bytes(body), 6)}


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return now()


def load_report(register: Register, run_id: str) -> dict[str, Any] | None:
    rows = register.rows(t.runs, t.runs.c.id == run_id)
    if not rows or rows[0]["report"] is None:
        return None
    return {**rows[0], "report": json.loads(zlib.decompress(rows[0]["report"]))}


# --- observations -----------------------------------------------------------------------------------

def _temp_ids(conn: Connection, name: str, ids: Iterable[Any], type_: Any = sa.Integer) -> sa.Table:
    """A temporary one-column table filled with `ids`, to update many rows with one statement."""
    table = sa.Table(name, sa.MetaData(), sa.Column("id", type_, primary_key=True), prefixes=["TEMPORARY"])
    table.drop(conn, checkfirst=True)
    table.create(conn)
    insert_rows(conn, table, ["id"], ((value,) for value in ids))
    return table


def _record_observations(conn: Connection, keyed: Sequence[tuple[str, Observed]], sources: Sequence[Any],
                         stamp: datetime, digest: Digests) -> None:
    ok = {source.scope for source in sources if source.status == "ok"}
    current: dict[tuple[str, str], Observed] = {}
    for key, item in keyed:
        if item.source in ok or not ok:
            current[(key, item.source)] = item
    o = t.observations.c
    scopes = {source for _key, source in current}
    known = {(r.resource, r.source): (r.id, r.content_hash)
             for r in conn.execute(sa.select(o.id, o.resource, o.source, o.content_hash)
                                   .where(o.source.in_(scopes)))} if scopes else {}
    inserts, changed, seen = [], [], []
    for (key, source), item in current.items():
        facts_hash = digest(item.facts)
        if (key, source) not in known:
            inserts.append((key, source, item.kind, item.ci, item.identity, facts_hash))
        elif known[(key, source)][1] != facts_hash:
            changed.append({"b_id": known[(key, source)][0], "content_hash": facts_hash, "ci": item.ci})
        else:
            seen.append(known[(key, source)][0])
    insert_rows(conn, t.observations, ["resource", "source", "kind", "ci", "identity", "content_hash"],
                inserts, first_seen=stamp, last_seen=stamp)
    if changed:
        conn.execute(t.observations.update().where(o.id == sa.bindparam("b_id"))
                     .values(last_seen=stamp), changed)
    if seen:
        temp = _temp_ids(conn, "tmp_seen_observations", seen)
        conn.execute(t.observations.update().where(o.id.in_(sa.select(temp.c.id))).values(last_seen=stamp))
        temp.drop(conn)


# --- configuration history --------------------------------------------------------------------------

def latest_versions(conn: Connection) -> dict[str, tuple[int, str]]:
    v = t.ci_versions.c
    newest = sa.select(v.ci, sa.func.max(v.version).label("version")).group_by(v.ci).subquery()
    query = sa.select(v.ci, v.version, v.content_hash).join(
        newest, sa.and_(newest.c.ci == v.ci, newest.c.version == v.version))
    return {row.ci: (row.version, row.content_hash) for row in conn.execute(query)}


def _record_history(conn: Connection, run_id: str, facts: Mapping[str, FactSet], stamp: datetime,
                    digest: Digests) -> int:
    """A new version for a CI only when its normalised facts changed: stable fleets stay small."""
    latest = latest_versions(conn)
    rows = []
    for ci, factset in facts.items():
        if not factset.ok:
            continue
        facts_hash = digest(factset.facts)
        version, previous = latest.get(ci, (0, None))
        if facts_hash != previous:
            rows.append((ci, version + 1, facts_hash, redact(factset.facts)))
    insert_rows(conn, t.ci_versions, ["ci", "version", "content_hash", "facts"], rows,
                run_id=run_id, recorded_at=stamp)
    return len(rows)


# --- links ------------------------------------------------------------------------------------------

def _record_links(conn: Connection, links: Sequence[Link], run_id: str, stamp: datetime) -> int:
    """Insert new links; move changed ones (recording the identity change), keeping `since`."""
    c = t.links.c
    # identity as text, decoded only for the few links that moved
    query = sa.select(c.asset_tag, c.ci, c.resource, c.matched_by, sa.cast(c.identity, sa.Text))
    stored = {row[0]: row for row in conn.execute(query)}
    inserts, updates, events = [], [], []
    for link in links:
        old = stored.get(link.asset_tag)
        if old is None:
            inserts.append(tuple(_link_row(link).values()))
        elif (old.ci, old.resource) != (link.ci, link.resource):
            updates.append({**_link_row(link), "b_tag": link.asset_tag, "changed_at": stamp})
            events.append({"kind": "identity", "ci": link.ci or old.ci, "asset_tag": link.asset_tag,
                           "before": {"ci": old.ci, "identity": json_value(old[4]),
                                      "matched_by": old.matched_by},
                           "after": {"ci": link.ci, "identity": link.identity,
                                     "matched_by": link.matched_by},
                           "who": "reconciler", "at": stamp, "run_id": run_id})
    insert_rows(conn, t.links, LINK_COLUMNS, inserts, since=stamp, changed_at=stamp)
    if updates:
        conn.execute(t.links.update().where(t.links.c.asset_tag == sa.bindparam("b_tag")), updates)
    if events:
        conn.execute(t.changes.insert(), events)
    return len(events)


LINK_COLUMNS = ("asset_tag", "ci", "kind", "resource", "identity", "matched_by", "matched_value")


def _link_row(link: Link) -> dict[str, Any]:
    return {"asset_tag": link.asset_tag, "ci": link.ci, "kind": link.kind, "resource": link.resource,
            "identity": link.identity, "matched_by": link.matched_by,
            "matched_value": link.matched_value}


# --- findings ---------------------------------------------------------------------------------------

def _scopes(keyed: Sequence[tuple[str, Observed]]) -> dict[str, str]:
    """subject -> the scope it was seen in, so a finding is never resolved because its scope failed."""
    scopes = {key: o.source for key, o in keyed}
    scopes.update({o.ci: o.source for _key, o in keyed if o.ci})
    return scopes


def _current_findings(run: RunResult, scopes: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    current = {}
    for item in run.items:
        for fp, what in findings_of(item):
            current[fp] = {"fingerprint": fp, "subject": subject_of(item), "ci": item.ci,
                           "asset_tag": item.asset, "kind": item.kind, "what": what,
                           "severity": item.severity, "source": scopes.get(subject_of(item)),
                           "detail": {"identity": item.identity}}
    return current


FINDING_COLUMNS = ("fingerprint", "subject", "ci", "asset_tag", "kind", "what", "severity", "source",
                   "detail")
_finding_values = operator.itemgetter(*FINDING_COLUMNS)


def _record_findings(conn: Connection, run: RunResult, keyed: Sequence[tuple[str, Observed]],
                     unevaluated: set[str], partial: bool, stamp: datetime, recorded: Recorded) -> None:
    current = _current_findings(run, _scopes(keyed))
    scanned = {source.scope for source in run.sources if source.status == "ok"}
    f = t.findings.c
    stored = {row.fingerprint: row for row in conn.execute(
        sa.select(f.fingerprint, f.subject, f.source, f.resolved_at, f.first_seen))}
    evaluated = {subject_of(item) for item in run.items} - unevaluated
    new: list[dict[str, Any]] = []
    reopen: list[dict[str, Any]] = []
    known: list[str] = []
    for fp, row in current.items():
        old = stored.get(fp)
        if old is None:
            new.append(row)
        elif old.resolved_at is not None:
            reopen.append({"b_fp": fp, "first_seen": stamp, "first_run": run.id})
        else:
            known.append(fp)
            recorded.first_seen[fp] = old.first_seen
    resolve = [fp for fp, row in stored.items() if row.resolved_at is None and fp not in current
               and row.subject not in unevaluated and (row.source is None or row.source in scanned)
               and (not partial or row.subject in evaluated)]
    insert_rows(conn, t.findings, FINDING_COLUMNS, map(_finding_values, new), first_seen=stamp,
                last_seen=stamp, first_run=run.id, last_run=run.id, resolved_at=None)
    if reopen:
        conn.execute(t.findings.update().where(f.fingerprint == sa.bindparam("b_fp"))
                     .values(resolved_at=None, last_seen=stamp, last_run=run.id), reopen)
    if known:
        temp = _temp_ids(conn, "tmp_known_findings", known, sa.String(40))
        conn.execute(t.findings.update().where(f.fingerprint.in_(sa.select(temp.c.id)))
                     .values(last_seen=stamp, last_run=run.id))
        temp.drop(conn)
    if resolve:
        temp = _temp_ids(conn, "tmp_resolved_findings", resolve, sa.String(40))
        conn.execute(t.findings.update().where(f.fingerprint.in_(sa.select(temp.c.id)))
                     .values(resolved_at=stamp))
        temp.drop(conn)
    recorded.new = [row["fingerprint"] for row in new]
    recorded.reopened = [row["b_fp"] for row in reopen]
    recorded.known, recorded.resolved = known, resolve
    for fp in recorded.new + recorded.reopened:
        recorded.first_seen[fp] = stamp
