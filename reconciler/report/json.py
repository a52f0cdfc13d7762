"""The JSON report, schema `reconciler.report/v1` (SPEC §5): the contract scripts depend on."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from ..model import Change, Drift, Item, RunResult, Source, Status
from ..paths import DriftPath, parse_path
from .causes import causes_of

SCHEMA = "reconciler.report/v1"


def report_dict(result: RunResult) -> dict[str, Any]:
    """The report of `result`: the one built when the run was recorded, else built now."""
    return result.report if result.report is not None else build_report(result)


def build_report(result: RunResult) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": result.id, "started_at": result.started_at, "finished_at": result.finished_at,
        "exit_code": result.exit_code, "sources": [source_dict(source) for source in result.sources],
    }
    if result.fail_on:
        run["fail_on"] = result.fail_on
    if result.stats:
        run["stats"] = result.stats
    report = {"schema": SCHEMA, "run": run, "summary": summary(result), "causes": causes_of(result),
              "items": [item_dict(i) for i in result.items]}
    if result.money:
        report["money"] = result.money
    if result.impact:
        report["impact"] = result.impact
    return report


def source_dict(source: Source) -> dict[str, Any]:
    # asdict() copies each value deeply: a tenth of a second per 10,000 hosts for four plain fields
    return {"collector": source.collector, "scope": source.scope, "status": source.status, "error": source.error}


def summary(result: RunResult) -> dict[str, Any]:
    statuses = Counter(item.status for item in result.items if item.ci is not None)
    flags = Counter(flag for item in result.items for flag in item.flags)
    return {
        "cis": sum(statuses.values()),
        **{status.value: statuses.get(status, 0) for status in Status},
        "flags": dict(sorted(flags.items())),
        "coverage": result.coverage,
    }


def item_dict(item: Item) -> dict[str, Any]:
    return {
        "ci": item.ci, "kind": item.kind, "status": item.status.value if item.status else None,
        "severity": item.severity, "owner": item.owner, "asset": item.asset, "identity": dict(item.identity),
        "drift": [drift_dict(d) for d in item.drift], "flags": list(item.flags), "error": item.error,
        **({"details": item.details} if item.details else {}),
    }


def drift_dict(drift: Drift) -> dict[str, Any]:
    return {"path": str(drift.path), "path_parts": list(drift.path), "change": drift.change.value, "desired": drift.desired, "actual": drift.actual,
            "severity": drift.severity, "waived": drift.waived}


def render_json(result: RunResult) -> str:
    """The report as json.dumps(indent=2, default=str) writes it, through orjson: the standard encoder is
    pure Python once it indents (seconds for a fleet's report)."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME \
        | orjson.OPT_PASSTHROUGH_DATACLASS
    return orjson.dumps(report_dict(result), default=_as_json, option=options).decode() + "\n"


def _as_json(value: Any) -> Any:
    """What json.dumps(default=str) would write: tuple subclasses (paths) as arrays, the rest as text."""
    return list(value) if isinstance(value, tuple) else str(value)


def _path_of(drift: dict[str, Any]) -> DriftPath:
    """path_parts when recorded (reports since paths are tuples), else the old dotted text split back."""
    parts = drift.get("path_parts")
    return DriftPath(parts if isinstance(parts, list) else parse_path(str(drift["path"])))


def result_from_report(report: dict[str, Any]) -> RunResult:
    """A recorded JSON report back into a RunResult, to render it again in any format."""
    run = report["run"]
    items = [Item(ci=i["ci"], kind=i["kind"], status=Status(i["status"]) if i["status"] else None,
                  identity=i["identity"], owner=i.get("owner"), asset=i.get("asset"), severity=i.get("severity"),
                  drift=[Drift(_path_of(d), Change(d["change"]), d["desired"], d["actual"], d["severity"], d["waived"])
                         for d in i["drift"]],
                  flags=list(i["flags"]), error=i["error"], details=i.get("details") or {})
             for i in report["items"]]
    return RunResult(id=run["id"], started_at=run["started_at"], finished_at=run["finished_at"],
                     sources=[Source(**s) for s in run["sources"]], items=items,
                     coverage=report["summary"].get("coverage") or {}, exit_code=run["exit_code"],
                     stats=run.get("stats") or {}, causes=report.get("causes") or [],
                     money=report.get("money") or {}, impact=report.get("impact") or {},
                     fail_on=run.get("fail_on"))
