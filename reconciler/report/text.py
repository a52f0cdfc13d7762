"""The terminal report: grouped by status, drift shown as desired → actual, colour only on a tty."""

from __future__ import annotations

import json
from typing import Any, Iterator

from ..model import Drift, Item, RunResult, Status
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


def render_text(result: RunResult, colour: bool = False, verbose: bool = False) -> str:
    style = Style(colour)
    return "\n".join(_lines(result, style, verbose)) + "\n"


def _lines(result: RunResult, style: Style, verbose: bool) -> Iterator[str]:
    counts = summary(result)
    yield (f"run {result.id}  {result.started_at}  {counts['cis']} CIs: {counts['in_sync']} in sync, "
           f"{counts['drifted']} drifted, {counts['missing']} missing, {counts['unknown']} unknown")
    yield from cause_lines(result, style)
    yield from impact_lines(result)
    by_status = {status: [i for i in result.items if i.ci and i.status == status] for status in Status}
    for status in (Status.DRIFTED, Status.MISSING, Status.UNKNOWN):
        if by_status[status]:
            yield ""
            yield style(f"{status.value.upper().replace('_', ' ')} ({len(by_status[status])})", status.value)
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
        yield from (_flag_line(i) for i in flagged)
    yield from _in_sync_lines(by_status[Status.IN_SYNC], style, verbose)
    yield from money_lines(result.money)
    yield ""
    yield from _footer(result, counts)


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
    return (f"{drift.path}: {show(drift.desired)} → {show(drift.actual)}  "
            f"({drift.change.value}, {drift.severity}){waived}")


def show(value: Any) -> str:
    if value is None:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _flag_line(item: Item) -> str:
    identity = ", ".join(f"{k}={v}" for k, v in item.identity.items() if k != "arn")  # the rest says it
    name = item.ci or item.asset or identity
    details = [identity] if identity != name else []
    details += [f"owner {item.owner}"] if item.owner else []
    details += [f"{key} {show(value)}" for key, value in item.details.items() if key != "tags"]
    return f"  {', '.join(item.flags)}: {item.kind or 'asset'} {name}" + (f" ({'; '.join(details)})" if details else "")


def _in_sync_lines(items: list[Item], style: Style, verbose: bool) -> Iterator[str]:
    if not items:
        return
    yield ""
    yield style(f"IN SYNC ({len(items)})", "in_sync")
    shown = items if verbose else items[:_SHOWN_IN_SYNC]
    more = f", … and {len(items) - len(shown)} more (--verbose lists all)" if len(items) > len(shown) else ""
    yield "  " + ", ".join(item.ci or "" for item in shown) + more


def _footer(result: RunResult, counts: dict[str, Any]) -> Iterator[str]:
    figures = {k: v for k, v in counts["coverage"].items() if k != "by_owner"}
    yield f"coverage: {_figures(figures)}"
    for owner, per_owner in sorted((counts["coverage"].get("by_owner") or {}).items()):
        yield f"  {owner}: {_figures(per_owner)}"
    failed = [s for s in result.sources if s.status != "ok"]
    yield f"sources: {len(result.sources) - len(failed)} ok, {len(failed)} failed"
    for collector, figures in result.stats.items():
        scalars = {k: v for k, v in figures.items() if not isinstance(v, (dict, list))}  # the rest: JSON report
        yield f"{collector}: " + ", ".join(f"{k} {show(v)}" for k, v in scalars.items())
    yield f"exit {result.exit_code}: {_EXIT_MEANING[result.exit_code]}"


def _figures(coverage: dict[str, Any]) -> str:
    return ", ".join(f"{name.removesuffix('_pct').replace('_', ' ')} "
                     f"{'n/a' if value is None else f'{value} %'}" for name, value in coverage.items())


_EXIT_MEANING = {0: "clean", 2: "drift or flags found", 3: "nothing found, but coverage incomplete (CIs unknown)",
                 1: "the run could not be done"}
