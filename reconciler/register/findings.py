"""Reading the register's findings for reports and notifications: when each open drift was first seen,
and what changed since the previous run (new, changed, resolved).

The pipeline calls `drift_first_seen` before recording a run (causes carry their first-seen) and
`finding_changes` after it, with the `Recorded` that recording returned. Fingerprints are recording's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..model import Item, RunResult
from . import schema as t
from .recording import Recorded, findings_of, load_report, subject_of
from .store import Register


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def _drift_fingerprints(item: Item) -> list[tuple[str, Any]]:
    """(fingerprint, drift) for each unwaived drift, in findings_of's order."""
    fps = [fp for fp, what in findings_of(item) if what.startswith("drift:")]
    return list(zip(fps, [d for d in item.drift if not d.waived]))


def drift_first_seen(register: Register, items: Iterable[Item], path_text: Any) -> dict[tuple[str, str], str]:
    """(CI, path text) -> first seen of its open drift finding; new drift is absent (seen now)."""
    f = t.findings.c
    with register.reading() as conn:
        open_ = {row.fingerprint: row.first_seen for row in conn.execute(
            sa.select(f.fingerprint, f.first_seen).where(f.resolved_at.is_(None), f.what.like("drift:%")))}
    seen: dict[tuple[str, str], str] = {}
    for item in items:
        if item.ci and item.drift:
            for fp, drift in _drift_fingerprints(item):
                if fp in open_:
                    seen[(item.ci, path_text(drift.path))] = _iso(open_[fp]) or ""
    return seen


def _value(item: Item, what: str, drift: Any = None) -> str:
    if drift is not None:
        return json.dumps([drift.desired, drift.actual, drift.severity], sort_keys=True, default=str)
    return what  # a flag has no value of its own (the item's severity moves with its drift)


def _current(items: Iterable[Item]) -> dict[str, dict[str, Any]]:
    """fingerprint -> what a person reads about the finding, and its comparable value."""
    current: dict[str, dict[str, Any]] = {}
    for item in items:
        drifts = dict(_drift_fingerprints(item))
        for fp, what in findings_of(item):
            drift = drifts.get(fp)
            current[fp] = {"fingerprint": fp, "subject": subject_of(item), "kind": item.kind, "what": what,
                           "owner": item.owner, "severity": drift.severity if drift else item.severity,
                           "desired": drift.desired if drift else None, "actual": drift.actual if drift else None,
                           "value": _value(item, what, drift)}
    return current


def _previous_values(register: Register, run_id: str) -> dict[str, str]:
    """The comparable value of each finding in the run recorded before `run_id`."""
    from ..report.json import result_from_report  # the stored report's reader lives with its writer

    r = t.runs.c
    with register.reading() as conn:
        row = conn.execute(sa.select(r.id).where(r.id != run_id).order_by(r.started_at.desc(), r.finished_at.desc())
                           .limit(1)).first()
    stored = load_report(register, row.id) if row else None
    if not stored or "items" not in stored["report"]:
        return {}
    previous = result_from_report(stored["report"])
    return {fp: entry["value"] for fp, entry in _current(previous.items).items()}


def finding_changes(register: Register, run: RunResult, recorded: Recorded) -> dict[str, list[dict[str, Any]]]:
    """Findings new (or reopened), changed (same finding, another value) and resolved by this run."""
    current = _current(run.items)
    previous = _previous_values(register, run.id)
    fresh = set(recorded.new) | set(recorded.reopened)
    changed = [fp for fp in recorded.known if fp in previous and previous[fp] != current[fp]["value"]]
    return {"new": [_public(current[fp]) for fp in sorted(fresh) if fp in current],
            "changed": [_public(current[fp]) for fp in sorted(changed)],
            "resolved": _resolved(register, recorded.resolved)}


def _public(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "value"}


def _resolved(register: Register, fingerprints: list[str]) -> list[dict[str, Any]]:
    if not fingerprints:
        return []
    f = t.findings.c
    rows = []
    for start in range(0, len(fingerprints), 500):
        rows += register.rows(t.findings, f.fingerprint.in_(fingerprints[start:start + 500]))
    return [{"fingerprint": row["fingerprint"], "subject": row["subject"], "kind": row["kind"],
             "what": row["what"], "severity": row["severity"]}
            for row in sorted(rows, key=lambda row: (row["subject"], row["what"]))]


def _counts(register: Register, run: Mapping[str, Any]) -> dict[str, Any]:
    """A run's counts: from its summary, or (runs recorded before counts were kept) from its report."""
    counts = (run["summary"] or {}).get("counts")
    if counts is None:
        stored = load_report(register, run["id"])
        counts = ((stored or {}).get("report") or {}).get("summary") or {}
    return counts


def recent_runs(register: Register, until: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The last `limit` recorded runs up to `until` (a run id; default the newest), oldest first:
    id, started_at, exit_code and the counts of the trend (drifted, unknown, coverage)."""
    r = t.runs.c
    with register.reading() as conn:
        rows = [dict(row._mapping) for row in conn.execute(
            sa.select(r.id, r.started_at, r.exit_code, r.summary).order_by(r.started_at.desc(), r.id.desc()))
            .fetchmany(limit * 4)]
    last = next((row["started_at"] for row in rows if row["id"] == until), None)
    if last is not None:  # runs started after it are not its past (runs of the same second are)
        rows = [row for row in rows if row["started_at"] <= last]
    runs = []
    for row in reversed(rows[:limit]):
        counts = _counts(register, row)
        coverage = (row["summary"] or {}).get("coverage") or {}
        runs.append({"id": row["id"], "started_at": _iso(row["started_at"]), "exit_code": row["exit_code"],
                     "drifted": counts.get("drifted", 0), "unknown": counts.get("unknown", 0),
                     "flags": counts.get("flags", {}), "coverage": coverage.get("declared_pct")})
    return runs


def open_findings(register: Register, now: datetime) -> list[dict[str, Any]]:
    """Every open finding with how long it has been open (days), the oldest first."""
    f = t.findings.c
    with register.reading() as conn:
        rows = conn.execute(sa.select(f.subject, f.kind, f.what, f.severity, f.first_seen)
                            .where(f.resolved_at.is_(None)).order_by(f.first_seen, f.subject, f.what)).all()
    return [{"subject": row.subject, "kind": row.kind, "what": row.what, "severity": row.severity,
             "first_seen": _iso(row.first_seen), "age_days": _age_days(now, row.first_seen)} for row in rows]


def _age_days(now: datetime, then: datetime) -> int:
    if then.tzinfo is None and now.tzinfo is not None:  # SQLite hands naive UTC back
        now = now.replace(tzinfo=None)
    return max(0, (now - then).days)


AGE_BUCKETS = ((1, "under a day"), (7, "1-7 days"), (30, "7-30 days"), (None, "over 30 days"))


def age_buckets(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = {label: 0 for _limit, label in AGE_BUCKETS}
    for finding in findings:
        label = next(label for limit, label in AGE_BUCKETS if limit is None or finding["age_days"] < limit)
        counts[label] += 1
    return counts


def last_impact(register: Register, ci: str) -> dict[str, Any] | None:
    """What depended on the CI's drift in the newest recorded run, if it drifted with dependents."""
    r = t.runs.c
    with register.reading() as conn:
        row = conn.execute(sa.select(r.id).order_by(r.started_at.desc(), r.id.desc()).limit(1)).first()
    stored = load_report(register, row.id) if row else None
    return ((stored or {}).get("report") or {}).get("impact", {}).get(ci)
