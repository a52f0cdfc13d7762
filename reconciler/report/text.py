"""The terminal report, for the person at the terminal: grouped by status, drift shown as desired → actual
(a set as the members added and removed), colour only on a tty, and a closing line that says what was
found and how it compares with --fail-on. Collector figures only with --verbose (they are in JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..model import Drift, Flag, Item, RunResult, Status, severity_rank
from ..relations import impact_line
from .causes import cause_line, causes_of, covered_by, named_cis
from .json import summary
from .money import amounts_text

_COLOURS = {"drifted": "31", "missing": "35", "unknown": "33", "in_sync": "32", "flags": "36", "dim": "2"}
_SHOWN_IN_SYNC = 20
_SHOWN_CAUSES = 20


class Style:
    def __init__(self, colour: bool):
        self.colour = colour

    def __call__(self, text: str, name: str) -> str:
        return f"\033[{_COLOURS[name]}m{text}\033[0m" if self.colour else text


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def when(value: Any) -> str:
    """A timestamp for people: ISO 8601 to the second, with its zone (naive ones are UTC)."""
    if value is None or value == "":
        return "-"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def render_text(result: RunResult, colour: bool = False, verbose: bool = False) -> str:
    style = Style(colour)
    return "\n".join(_lines(result, style, verbose)) + "\n"


def _lines(result: RunResult, style: Style, verbose: bool) -> Iterator[str]:
    counts = summary(result)
    yield (f"run {result.id}  {when(result.started_at)}  {plural(counts['cis'], 'CI')}: "
           f"{counts['in_sync']} in sync, {counts['drifted']} drifted, {counts['missing']} missing, "
           f"{counts['unknown']} unknown")
    yield from cause_lines(result, style)
    yield from impact_lines(result)
    by_status = {status: [i for i in result.items if i.ci and i.status == status] for status in Status}
    for status in (Status.DRIFTED, Status.MISSING, Status.UNKNOWN):
        if by_status[status]:
            yield ""
            # which side is which: Terraform users read `a -> b` as "now a, will be b", the other way round
            legend = "   path: desired → actual" if status == Status.DRIFTED else ""
            yield style(f"{status.value.upper().replace('_', ' ')} ({len(by_status[status])}){legend}", status.value)
            listed = _beyond_causes(by_status[status], result) if status == Status.DRIFTED and not verbose \
                else by_status[status]
            for item in listed:
                yield from _ci_lines(item)
            if len(listed) < len(by_status[status]):
                yield (f"  … {len(by_status[status]) - len(listed)} more drifted only for the causes above "
                       "(--verbose lists them)")
    flagged = [i for i in result.items if i.flags]
    if flagged:
        yield ""
        yield style(f"FLAGS ({len(flagged)})", "flags")
        yield from (flag_line(i) for i in flagged)
        yield from (style(line, "dim") for line in flag_legend(flagged))
    yield from _in_sync_lines(by_status[Status.IN_SYNC], style, verbose)
    yield from money_lines(result.money)
    yield ""
    yield from _footer(result, counts, verbose)


def cause_lines(result: RunResult, style: Style) -> Iterator[str]:
    """The drift grouped by cause, first: 500 CIs drifting for one reason read as one line."""
    causes = causes_of(result)
    shared = [cause for cause in causes if cause["count"] > 1]  # a cause of one CI reads best with its CI
    if not shared:
        return
    cis = len({ci for cause in shared for ci in cause["cis"]})
    single = len(causes) - len(shared)
    yield ""
    yield style(f"CAUSES ({len(shared)} shared by {cis} drifted CIs"
                + (f"; {single} more on one CI each, below)" if single else ")"), "drifted")
    for cause in shared[:_SHOWN_CAUSES]:
        yield f"  {cause_line(cause)}"
        yield style(f"    {named_cis(cause)}", "dim")
    if len(shared) > _SHOWN_CAUSES:
        yield f"  … and {len(shared) - _SHOWN_CAUSES} more causes (--format json lists all)"


def impact_lines(result: RunResult) -> Iterator[str]:
    """What depends on the drifted CIs: the blast radius of each drift."""
    if not result.impact:
        return
    kinds = {item.ci: item.kind for item in result.items if item.ci}
    yield ""
    yield f"IMPACT ({len(result.impact)} drifted CIs others depend on)"
    yield from (f"  {impact_line(ci, kinds.get(ci), entry)}" for ci, entry in result.impact.items())


def money_lines(money: dict[str, Any]) -> Iterator[str]:
    """Money at stake per owner: book values from the register, monthly estimates of untracked resources."""
    if not money.get("by_owner"):
        return
    prices = money["prices"]
    yield ""
    yield f"MONEY AT STAKE (estimate; prices: {prices['source']}, {prices['region']}, {prices['taken']})"
    for owner, figures in money["by_owner"].items():
        parts = [f"book value {amounts_text(figures['book_value'])}"] * bool(figures["book_value"])
        parts += [f"{amounts_text(figures['monthly'])} a month"] * bool(figures["monthly"])
        yield f"  {owner}: {', '.join(parts)}"


def _beyond_causes(items: list[Item], result: RunResult) -> list[Item]:
    shared = {cause["id"] for cause in causes_of(result) if cause["count"] > 1}
    return [item for item in items if not covered_by(item, shared)]


def _ci_lines(item: Item) -> Iterator[str]:
    owner = f", {item.owner}" if item.owner else ""
    severity = f"  [{item.severity}]" if item.severity else ""
    yield f"  {item.ci} ({item.kind}{owner}){severity}" + (f": {item.error}" if item.error else "")
    for drift in item.drift:
        yield "    " + drift_line(drift)


def drift_line(drift: Drift) -> str:
    waived = " (waived)" if drift.waived else ""
    change = change_text(drift.desired, drift.actual)
    return f"{drift.path}: {change}  ({drift.change.value}, {drift.severity}){waived}"


def change_text(desired: Any, actual: Any) -> str:
    """desired → actual; for a set (a list of plain members on both sides), the members added and removed."""
    members = _set_change(desired, actual)
    if members is None:
        return f"{show(desired)} → {show(actual)}"
    added, removed = members
    parts = [f"{verb} {', '.join(members)}"
             for verb, members in (("added", added), ("removed", removed)) if members]
    return "; ".join(parts) or f"{show(desired)} → {show(actual)}"


def _set_change(desired: Any, actual: Any) -> tuple[list[str], list[str]] | None:
    if not (isinstance(desired, list) and isinstance(actual, list)):
        return None
    if any(isinstance(v, (dict, list)) or (isinstance(v, str) and any(c in v for c in "*?[<>"))
           for v in desired):
        return None  # matchers inside the set: only the whole lists say it right
    want, have = [show(v) for v in desired], [show(v) for v in actual]
    return [v for v in have if v not in want], [v for v in want if v not in have]


def show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, default=str)


# What to do about the flags a first register import raises (the rest are for the asset's owner to judge).
_FLAG_NEXT = {
    Flag.CONFIGURED_UNOWNED: "register it: reconcile register import FILE",
    Flag.OWNED_UNCONFIGURED: "declare it in desired/, or retire the asset",
    Flag.UNTRACKED: "declare it, register it, or remove it",
}


def flag_legend(flagged: list[Item]) -> Iterator[str]:
    """One line per flag shown, saying what it means (and what to do): the names alone are jargon."""
    shown = {flag for item in flagged for flag in item.flags}
    for flag in Flag:
        if flag.value in shown:
            then = _FLAG_NEXT.get(flag)
            yield f"  ({flag.value}: {flag.text}{'; ' + then if then else ''})"


def flag_line(item: Item) -> str:
    """`  flags: kind name (what else identifies it; owner; the details a person decides on)`."""
    name = item.ci or item.asset or _identity_name(item.identity)
    details = [f"{k}={v}" for k, v in item.identity.items()
               if k != "arn" and v not in (None, "") and str(v) != name]  # the ARN repeats the rest
    details += [f"asset {item.asset}"] if item.asset and item.asset != name else []
    details += [f"owner {item.owner}"] if item.owner else []
    details += [_detail(key, value) for key, value in item.details.items()
                if key != "tags" and _filled(value) and str(value) != name]
    return (f"  {', '.join(item.flags)}: {item.kind or 'asset'} {name}"
            + (f" ({'; '.join(details)})" if details else ""))


def _identity_name(identity: Any) -> str:
    for key in ("host", "name", "id", "bucket", "hostname", "serial"):
        if identity.get(key) not in (None, ""):
            return str(identity[key])
    return ", ".join(f"{k}={v}" for k, v in identity.items()) or "(no identity)"


def _filled(value: Any) -> bool:
    return value not in (None, "", {}, [])


def _detail(key: str, value: Any) -> str:
    if key == "created":
        return f"created {when(value)}"
    if isinstance(value, dict):
        return f"{key.replace('_', ' ')} " + ", ".join(f"{k}={v}" for k, v in value.items())
    return f"{key.replace('_', ' ')} {show(value)}"


def _in_sync_lines(items: list[Item], style: Style, verbose: bool) -> Iterator[str]:
    if not items:
        return
    yield ""
    yield style(f"IN SYNC ({len(items)})", "in_sync")
    shown = items if verbose else items[:_SHOWN_IN_SYNC]
    more = f", … and {len(items) - len(shown)} more (--verbose lists all)" if len(items) > len(shown) else ""
    yield "  " + ", ".join(item.ci or "" for item in shown) + more


def _footer(result: RunResult, counts: dict[str, Any], verbose: bool) -> Iterator[str]:
    figures = {k: v for k, v in counts["coverage"].items() if k != "by_owner"}
    if figures:
        yield f"coverage: {_figures(figures)}"
    for owner, per_owner in sorted((counts["coverage"].get("by_owner") or {}).items()):
        yield f"  {owner}: {_figures(per_owner)}"
    failed = [s for s in result.sources if s.status != "ok"]
    yield f"sources: {len(result.sources) - len(failed)} ok, {len(failed)} failed"
    for source in failed:  # a scope that could not be scanned: nothing there is missing or untracked
        yield f"  failed: {source.collector} {source.scope}: {source.error or 'no reason given'}"
    if verbose:
        yield from _collector_figures(result)
    yield closing_line(result)


def _collector_figures(result: RunResult) -> Iterator[str]:
    for collector, figures in result.stats.items():
        scalars = {k: v for k, v in figures.items() if not isinstance(v, (dict, list))}  # rest: JSON only
        yield f"{collector}: " + ", ".join(f"{k} {show(v)}" for k, v in scalars.items())


def _figures(coverage: dict[str, Any]) -> str:
    return ", ".join(f"{name.removesuffix('_pct').replace('_', ' ')} "
                     f"{'n/a' if value is None else f'{value} %'}" for name, value in coverage.items())


def closing_line(result: RunResult) -> str:
    """What was found, its highest severity, and how that compares with --fail-on: the exit code explained."""
    found = _found(result.items)
    unknown = sum(1 for i in result.items if i.ci and i.status == Status.UNKNOWN)
    levels = [i.severity for i in result.items if i.severity]
    highest = max(levels, key=severity_rank, default=None)
    code = result.exit_code
    if not found:
        text = "nothing found"
        text += f", but {plural(unknown, 'CI')} unknown (coverage incomplete)" if unknown else ""
        return f"{text}: exit {code}"
    text = ", ".join(found) + (f" (highest severity: {highest})" if highest else "")
    if result.fail_on:
        at = highest is not None and severity_rank(highest) >= severity_rank(result.fail_on)
        text += f", {'at or above' if at else 'below'} --fail-on {result.fail_on}"
    if unknown:
        text += f"; {plural(unknown, 'CI')} unknown"
    return f"{text}: exit {code}"


def _found(items: list[Item]) -> list[str]:
    drifted = sum(1 for i in items if i.ci and i.status == Status.DRIFTED)
    missing = sum(1 for i in items if i.ci and i.status == Status.MISSING)
    flagged = sum(1 for i in items if i.flags)
    return ([f"{plural(drifted, 'drifted CI')}"] if drifted else []) + \
        ([f"{plural(missing, 'missing CI')}"] if missing else []) + \
        ([f"{plural(flagged, 'flagged item')}"] if flagged else [])


def render_untracked(result: RunResult, colour: bool = False, verbose: bool = False) -> str:
    """`reconcile untracked`: the resources nobody declared or registered, per scope scanned. No run id:
    this view is not recorded."""
    return "\n".join(_untracked_lines(result, Style(colour), verbose)) + "\n"


def _untracked_lines(result: RunResult, style: Style, verbose: bool) -> Iterator[str]:
    scanned = [s for s in result.sources if s.status == "ok"]
    failed = [s for s in result.sources if s.status != "ok"]
    if result.items:
        yield style(f"UNTRACKED ({len(result.items)}) in {plural(len(scanned), 'scope')} scanned", "flags")
        yield from (flag_line(item) for item in result.items)
    else:
        yield f"no untracked resources in {plural(len(scanned), 'scope')}"
    for source in failed:
        reason = source.error or "failed"
        yield style(f"  not scanned: {source.collector} {source.scope}: {reason}", "unknown")
    if verbose:
        yield from _collector_figures(result)
    if result.items:
        yield closing_line(result)
    elif failed:
        scopes = plural(len(failed), "scope")
        yield f"{scopes} could not be scanned (coverage incomplete): exit {result.exit_code}"
