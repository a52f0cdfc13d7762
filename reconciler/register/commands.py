"""Handlers of the register's commands: `register import/export/list/show`, `history`, `show`, `waive`.

The CLI parses arguments and opens the register, then calls one of these with the parsed Namespace, the
Register and an output stream; each returns the exit code (0 done, 1 refused: a bad import file is
reported row by row on `err` and nothing is written). They only read and write the register: no
collection, no diff. Arguments each handler reads are listed in its docstring.
"""

from __future__ import annotations

import difflib
import getpass
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
import yaml

from ..errors import UsageError
from ..model import CI, FLAG_SEVERITY, Project
from ..paths import covers, display, parse_path
from ..relations import impact_line
from ..report.text import change_text, plural, when
from . import schema as t
from .assets import Asset, book_value
from .findings import age_buckets, last_impact, open_findings, recent_runs
from .identify import implied_kinds
from .importer import ImportFailed, apply_import, changed_fields, export_assets, plan_import, read_assets
from .store import Register, now


def _json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, default=str, sort_keys=True)
    out.write("\n")


def _yaml(data: Any, out: TextIO, indent: str = "  ") -> None:
    text = yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=True, default_flow_style=False)
    out.write("".join(indent + line + "\n" for line in text.rstrip("\n").splitlines()))


def register_import(args: Any, register: Register, out: TextIO, err: TextIO | None = None) -> int:
    """args: file (path), match_on ("asset_tag" | "serial", default asset_tag), dry_run (bool),
    format (None = by extension | "csv" | "json")."""
    err = err or sys.stderr  # looked up at call time: the CLI's stderr may have been replaced
    try:
        incoming = read_assets(Path(args.file), getattr(args, "format", None))
        plan = plan_import(register, incoming, getattr(args, "match_on", None) or "asset_tag")
    except ImportFailed as failure:
        for problem in failure.problems:
            err.write(f"{args.file}: {problem}\n")
        count = len(failure.problems)
        err.write(f"{args.file}: {count} bad row{'' if count == 1 else 's'}; nothing was imported\n")
        return 1
    dry = bool(getattr(args, "dry_run", False))
    out.writelines(f"create    {asset.asset_tag}\n" for asset in plan.creates)
    out.writelines(f"update    {after.asset_tag}: {', '.join(changed_fields(before, after))}\n" for before, after in plan.updates)
    if not dry:
        apply_import(register, plan)
    verb = "would create" if dry else "created"
    out.write(f"{verb} {len(plan.creates)}, {'would update' if dry else 'updated'} {len(plan.updates)}, "
              f"unchanged {len(plan.unchanged)}{' (dry run: nothing written)' if dry else ''}\n")
    return 0


def register_export(args: Any, register: Register, out: TextIO) -> int:
    """args: format ("csv" | "json", default csv, or by the output's extension), output (path or None)."""
    output = getattr(args, "output", None)
    fmt = getattr(args, "format", None) or ("json" if output and str(output).endswith(".json") else "csv")
    assets = register.assets()
    if output:
        with open(output, "w", encoding="utf-8", newline="") as stream:
            export_assets(assets, stream, fmt)
    else:
        export_assets(assets, out, fmt)
    return 0


def _open_flags(register: Register) -> dict[str, set[str]]:
    """Asset tag -> flags of its open findings."""
    f = t.findings.c
    flags: dict[str, set[str]] = {}
    for row in register.rows(t.findings, f.resolved_at.is_(None), f.asset_tag.is_not(None)):
        if row["what"].startswith("flag:"):
            flags.setdefault(row["asset_tag"], set()).add(row["what"][5:])
    return flags


def register_list(args: Any, register: Register, out: TextIO) -> int:
    """args: flag, owner, status, kind (glob on the asset's CI kind, see `asset_kind`), category (each None or
    a value to match), format ("text" | "json")."""
    for option, allowed in (("status", t.STATUSES), ("category", t.CATEGORIES)):
        value = getattr(args, option, None)
        if value and value not in allowed:
            raise UsageError(f"--{option} '{value}' is not one of: {', '.join(allowed)}")
    links = {row["asset_tag"]: row for row in register.rows(t.links)}
    flags = _open_flags(register)
    chosen = [a for a in register.assets() if _wanted(args, a, links.get(a.asset_tag), flags)]
    if getattr(args, "format", None) == "json":
        _json([{**_asset_json(a), "flags": sorted(flags.get(a.asset_tag, ())),
                "ci": (links.get(a.asset_tag) or {}).get("ci"),
                "kind": asset_kind(a, links.get(a.asset_tag))} for a in chosen], out)
        return 0
    rows = [(a.asset_tag, a.status, a.owner or "-", asset_kind(a, links.get(a.asset_tag)) or "-",
             (links.get(a.asset_tag) or {}).get("ci") or "-", a.name or "-",
             ",".join(sorted(flags.get(a.asset_tag, ()))) or "-") for a in chosen]
    if rows:
        _table(("ASSET", "STATUS", "OWNER", "KIND", "CI", "NAME", "FLAGS"), rows, out)
    out.write(f"{len(chosen)} asset{'' if len(chosen) == 1 else 's'}\n")
    return 0


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    out.writelines("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n" for row in [header, *rows])


def asset_kind(asset: Asset, link: Mapping[str, Any] | None) -> str | None:
    """The CI kind of an asset: that of the CI or resource it is linked to, else the first kind its
    identifiers imply. None for a licence, or an ARN of a type no kind knows."""
    if link and link.get("kind"):
        return str(link["kind"])
    return next((kind for kind in implied_kinds(asset) if not kind.endswith("*")), None)


def _wanted(args: Any, asset: Asset, link: Mapping[str, Any] | None, flags: Mapping[str, set[str]]) -> bool:
    checks = [
        (getattr(args, "flag", None), lambda v: v in flags.get(asset.asset_tag, ())),
        (getattr(args, "owner", None), lambda v: asset.owner == v),
        (getattr(args, "status", None), lambda v: asset.status == v),
        (getattr(args, "category", None), lambda v: asset.category == v),
        (getattr(args, "kind", None), lambda v: fnmatchcase(asset_kind(asset, link) or "", v)),
    ]
    return all(check(value) for value, check in checks if value)


def _asset_json(asset: Asset, on: date | None = None) -> dict[str, Any]:
    record = {k: (str(v) if v is not None and not isinstance(v, (str, int, dict)) else v)
              for k, v in asset.as_row().items()}
    value = book_value(asset, on or date.today())
    record["book_value"] = str(value) if value is not None else None
    return record


def register_show(args: Any, register: Register, out: TextIO) -> int:
    """args: tag (asset tag), format ("text" | "json")."""
    asset = register.asset(args.tag)
    if asset is None:
        raise UsageError(f"no asset '{args.tag}' in the register")
    return show(type("Args", (), {"id": args.tag, "format": getattr(args, "format", None)})(), register, out)


# --- history --------------------------------------------------------------------------------------

def flatten(value: Any, prefix: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Nested facts -> {path in its display form (reconciler.paths, as drift and applied changes spell it):
    leaf}; lists are leaves."""
    if not isinstance(value, Mapping) or not value:
        return {display(prefix): value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, inner in value.items():
        flat.update(flatten(inner, (*prefix, key)))
    return flat


def fact_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, before, after) for each leaf that differs; a missing side is None."""
    old, new = flatten(before), flatten(after)
    return [(p, old.get(p), new.get(p)) for p in sorted(old.keys() | new.keys()) if old.get(p) != new.get(p)]


def history(args: Any, register: Register, out: TextIO) -> int:
    """args: id (CI id or None for the list of runs), limit (int, default 20), format ("text" | "json")."""
    limit = getattr(args, "limit", None) or 20
    if not getattr(args, "id", None):
        runs = list(reversed(recent_runs(register, limit=limit)))
        if getattr(args, "format", None) == "json":
            rows = register.rows(t.runs, order=[t.runs.c.started_at.desc(), t.runs.c.id.desc()], limit=limit)
            trend = {run["id"]: run for run in runs}
            for row in rows:  # the stored row, with the counts of the trend added
                row.pop("report", None)
                row.update({k: trend[row["id"]][k] for k in ("drifted", "unknown", "flags")} if row["id"] in trend else {})
            _json(rows, out)
            return 0
        _write_runs(runs, open_findings(register, now()), out)
        return 0
    versions = register.rows(t.ci_versions, t.ci_versions.c.ci == args.id, order=[t.ci_versions.c.version])
    applied = register.rows(t.changes, t.changes.c.ci == args.id, t.changes.c.kind == "plan",
                            order=[t.changes.c.at, t.changes.c.id])
    if not versions and not applied:
        raise UsageError(f"no configuration history for '{args.id}'")
    timeline = _timeline(versions)[-limit:]
    if getattr(args, "format", None) == "json":  # one timeline: versions and applied changes, by time
        entries = [{"type": "version", **entry} for entry in timeline] + _applied_json(applied[-limit:])
        _json(sorted(entries, key=lambda entry: str(entry.get("recorded_at") or entry.get("at"))), out)
        return 0
    for entry in timeline:
        out.write(f"version {entry['version']}  {when(entry['recorded_at'])}  run {entry['run_id']}\n")
        out.writelines(f"  {path}: {json.dumps(old, default=str)} -> {json.dumps(new, default=str)}\n" for path, old, new in entry["changes"])
    _write_applied(applied[-limit:], out)
    return 0


def _write_runs(runs: Sequence[Mapping[str, Any]], findings: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """Runs with their counts and coverage, then how long the open findings have been open."""
    for run in runs:
        flags = sum((run.get("flags") or {}).values())
        coverage = "n/a" if run["coverage"] is None else f"{run['coverage']} %"
        out.write(f"{run['id']}  {when(run['started_at'])}  exit {run['exit_code']}  {run['drifted']} drifted, "
                  f"{run['unknown']} unknown, {plural(flags, 'flag')}, coverage {coverage}\n")
    if not runs:
        out.write("no recorded runs yet (reconcile run records one)\n")
    if not findings:
        return
    buckets = ", ".join(f"{label} {n}" for label, n in age_buckets(findings).items() if n)
    out.write(f"\nopen findings: {len(findings)} ({buckets})\n")
    out.writelines(f"  open {plural(finding['age_days'], 'day')}, since {finding['first_seen'][:10]}: "
                  f"{subject_text(finding['subject'])} {finding['what']}\n" for finding in findings[:10])
    if len(findings) > 10:
        out.write(f"  … and {len(findings) - 10} more\n")


def subject_text(subject: str) -> str:
    """A finding's subject for people: a CI id or asset tag as it is; an undeclared, unregistered resource
    (stored as `kind|{identity as JSON}`) as its kind, name and id, not the stored key."""
    kind, bar, identity_json = subject.partition("|")
    try:
        identity = json.loads(identity_json) if bar else None
    except ValueError:
        identity = None
    if not isinstance(identity, dict):
        return subject
    named = [str(identity[key]) for key in ("host", "name", "bucket", "hostname", "id", "serial")
             if identity.get(key) not in (None, "")]
    return f"{kind} {' '.join(dict.fromkeys(named)) or identity_json}"


def _write_applied(rows: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """Changes applied through plans (reconcile apply), beside the configuration versions."""
    if rows:
        out.write("applied changes:\n")
    out.writelines(f"  {when(row['at'])}  {row.get('result') or '-'}  {row['path'] or '(CI)'}: "
                  f"{json.dumps(row['before'], default=str)} -> {json.dumps(row['after'], default=str)}  "
                  f"by {row['who']}, plan {(row.get('plan_id') or '-')[:8]} "
                  f"({(row['plan_digest'] or '')[:12]})"
                  f"{'  ' + row['detail'] if row.get('result') not in (None, 'applied+verified') else ''}\n" for row in rows)


_CHANGE_FIELDS = ("at", "path", "before", "after", "result", "detail", "who", "plan_id", "plan_digest", "run_id")


def _applied_json(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Changes applied through plans, as entries of the JSON timeline (`type: change`)."""
    return [{"type": "change", **{key: row.get(key) for key in _CHANGE_FIELDS}} for row in rows]


def _timeline(versions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    timeline: list[dict[str, Any]] = []
    previous: Mapping[str, Any] = {}
    for row in versions:
        changes = fact_changes(previous, row["facts"]) if row["version"] > 1 else []
        timeline.append({"version": row["version"], "recorded_at": row["recorded_at"],
                         "run_id": row["run_id"], "changes": changes})
        previous = row["facts"]
    return timeline


# --- waive ----------------------------------------------------------------------------------------

def waive(args: Any, register: Register, out: TextIO, project: Project | None = None) -> int:
    """args: ci, path (glob), reason (required), until (YYYY-MM-DD, required, not in the past), by (or
    the login name). With the project, `ci` must match a declared CI: a typo must not waive nothing."""
    if project is not None and not any(fnmatchcase(ci.id, args.ci) for ci in project.cis):
        known = sorted(ci.id for ci in project.cis)
        names = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "") if known else "none declared"
        raise UsageError(f"'{args.ci}' matches no declared CI (declared: {names})")
    if project is not None:
        _check_waived_path(args.path, [ci for ci in project.cis if fnmatchcase(ci.id, args.ci)])
    try:
        until = date.fromisoformat(str(args.until))
    except ValueError:
        raise UsageError(f"--until '{args.until}' is not a date (YYYY-MM-DD)") from None
    if until < date.today():
        raise UsageError(f"--until {until} is in the past")
    if not (args.reason or "").strip():
        raise UsageError("--reason is required")
    by = getattr(args, "by", None) or getpass.getuser()
    number = register.add_waiver(args.ci, args.path, args.reason.strip(), by, until)
    out.write(f"waiver {number}: {args.ci} {args.path} accepted until {until} ({args.reason.strip()})\n")
    return 0


def _check_waived_path(glob: str, cis: Sequence[CI]) -> None:
    """Drift is only ever on a declared path (or below it: `files["/x"].exists` for `/x: absent`), so a
    waiver whose path is none of these is a typo that would waive nothing."""
    declared = {path for ci in cis for path in _declared_paths(ci.desired)}
    pattern = parse_path(glob)
    if any(covers(glob, path) or _extends(pattern, path) for path in declared):
        return
    shown = sorted({display(path) for path in declared if not any(other[:len(path)] == path != other
                                                                   for other in declared)})  # the leaves
    near = difflib.get_close_matches(glob, shown, n=1, cutoff=0.6)
    hint = f"did you mean '{near[0]}'? " if near else ""
    listed = ", ".join(shown[:8]) + (", ..." if len(shown) > 8 else "") if shown else "nothing"
    raise UsageError(f"'{glob}' matches no path that {', '.join(sorted(ci.id for ci in cis)[:3])} declares "
                     f"({hint}declared: {listed})")


def _declared_paths(desired: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a desired mapping, inner ones included."""
    paths = []
    for key, value in desired.items():
        path = (*prefix, str(key))
        paths.append(path)
        if isinstance(value, Mapping):
            paths += _declared_paths(value, path)
    return paths


def _extends(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return len(pattern) > len(path) and all(fnmatchcase(key, want) for key, want in zip(path, pattern))


# --- show -----------------------------------------------------------------------------------------

def show(args: Any, register: Register, out: TextIO, project: Project | None = None) -> int:
    """args: id (CI id or asset tag), format ("text" | "json"). `project` (optional) adds what is declared."""
    view = unified_view(args.id, register, project)
    if view is None:
        raise UsageError(f"'{args.id}' is neither a CI of the project nor an asset of the register")
    if getattr(args, "format", None) == "json":
        _json(view, out)
    else:
        _write_view(view, out)
    return 0


def unified_view(ident: str, register: Register, project: Project | None) -> dict[str, Any] | None:
    links = register.rows(t.links, sa.or_(t.links.c.ci == ident, t.links.c.asset_tag == ident))
    link = links[0] if links else None
    ci_id = (link or {}).get("ci") or ident
    ci = next((c for c in (project.cis if project else ()) if c.id == ci_id), None)
    asset = register.asset(link["asset_tag"] if link else ident)
    versions = register.rows(t.ci_versions, t.ci_versions.c.ci == ci_id,
                             order=[t.ci_versions.c.version.desc()], limit=1)
    if ci is None and asset is None and not versions:
        return None
    f = t.findings.c
    subjects = [s for s in (ci_id, asset.asset_tag if asset else None) if s]
    findings = register.rows(t.findings, f.resolved_at.is_(None), f.subject.in_(subjects), order=[f.what])
    return {
        "id": ident, "ci": _ci_view(ci, project), "asset": _asset_json(asset) if asset else None,
        "link": link, "observed": versions[0] if versions else None,
        "findings": findings, "drift": _recorded_drift(register, ci_id, findings),
        "changes": register.rows(t.changes, sa.or_(t.changes.c.ci.in_(subjects),
                                                   t.changes.c.asset_tag.in_(subjects)),
                                 order=[t.changes.c.at.desc()], limit=10),
        "impact": last_impact(register, ci_id),
    }


def _recorded_drift(register: Register, ci_id: str, findings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The open drift of a CI as the run that last saw it reported it: path -> its drift entry (desired,
    actual, change, severity). Findings keep only the path; the recorded report has the values."""
    from .recording import load_report

    drift: dict[str, Any] = {}
    for run_id in sorted({row["last_run"] for row in findings if row["what"].startswith("drift:")}):
        stored = load_report(register, run_id)
        items = (stored or {}).get("report", {}).get("items", [])
        for item in (i for i in items if i.get("ci") == ci_id):
            drift.update({d["path"]: d for d in item.get("drift", [])})
    return drift


def _ci_view(ci: CI | None, project: Project | None) -> dict[str, Any] | None:
    if ci is None:
        return None
    dependents = sorted(c.id for c in (project.cis if project else ())
                        if any(ci.id in targets for targets in c.relations.values()))
    return {"id": ci.id, "kind": ci.kind, "owner": ci.owner, "environment": ci.environment,
            "declared_in": str(ci.origin), "match": dict(ci.match), "desired": ci.desired,
            "relations": {k: list(v) for k, v in ci.relations.items()}, "depended_on_by": dependents}


def _write_view(view: Mapping[str, Any], out: TextIO) -> None:
    ci, asset, link = view["ci"], view["asset"], view["link"]
    if ci:
        out.write(f"CI {ci['id']} ({ci['kind']}), owner {ci['owner'] or '-'}, declared in {ci['declared_in']}\n")
        out.write("desired:\n")
        _yaml(ci["desired"], out)
        out.writelines(f"{name}: {', '.join(targets)}\n" for name, targets in ci["relations"].items())
        out.write(f"depended on by: {', '.join(ci['depended_on_by']) or '-'}\n")
        if view.get("impact"):
            out.write(f"impact (last run): {impact_line(ci['id'], ci['kind'], view['impact'])}\n")
    if asset:
        _write_asset(asset, out)
    if link:
        out.write(f"linked to {link['ci'] or link['resource']} by {link['matched_by']} "
                  f"since {when(link['since'])}\n")
    if view["observed"]:
        obs = view["observed"]
        out.write(f"last observed facts (version {obs['version']}, {when(obs['recorded_at'])}):\n")
        _yaml(obs["facts"], out)
    _write_findings(view, out)
    out.writelines(f"change {when(row['at'])} {row['kind']} by {row['who']}: {row['path'] or ''} "
                  f"{json.dumps(row['before'], default=str)} -> {json.dumps(row['after'], default=str)}\n" for row in view["changes"])


def _write_asset(asset: Mapping[str, Any], out: TextIO) -> None:
    """Two lines on an asset, each field only when the register has it."""
    def fields(*pairs: tuple[str, Any]) -> str:
        return ", ".join(f"{label} {value}" for label, value in pairs if value not in (None, ""))

    who = fields(("owner", asset["owner"]), ("assigned to", asset["assigned_to"]),
                 ("location", asset["location"]))
    out.write(f"asset {asset['asset_tag']}: {asset['name'] or '(no name)'} [{asset['status']}]"
              + (f", {who}" if who else "") + "\n")
    cost = f"{asset['purchase_cost']} {asset['currency'] or ''}".strip() if asset["purchase_cost"] else None
    money = fields(("cost", cost), ("book value today", asset["book_value"]),
                   ("warranty until", asset["warranty_end"]), ("EOL", asset["eol_date"]))
    if money:
        out.write(f"  {money}\n")


def _write_findings(view: Mapping[str, Any], out: TextIO) -> None:
    out.write("open findings:\n" if view["findings"] else "open findings: none\n")
    for row in view["findings"]:
        kind, _, name = row["what"].partition(":")
        since = f"since {when(row['first_seen'])}"
        drift = view["drift"].get(name) if kind == "drift" else None
        if drift:
            out.write(f"  drift {name}: {change_text(drift['desired'], drift['actual'])}  "
                      f"({drift['change']}, {drift['severity']})  {since}\n")
        else:
            weight = FLAG_SEVERITY.get(name) if kind == "flag" else row.get("severity")
            level = f" ({weight})" if weight else ""
            out.write(f"  {kind} {name}{level}  {since}\n")
