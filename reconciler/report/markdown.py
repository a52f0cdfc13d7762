"""The Markdown report, for change reviews and pull-request comments."""

from __future__ import annotations

from collections.abc import Iterator

from ..model import Item, RunResult, Status
from ..relations import impact_line
from .causes import causes_of, covered_by, named_cis
from .json import summary
from .money import amounts_text
from .text import show


def render_markdown(result: RunResult) -> str:
    return "\n".join(_lines(result)) + "\n"


def _cell(value: object) -> str:
    return show(value).replace("|", "\\|")


def _lines(result: RunResult) -> Iterator[str]:
    counts = summary(result)
    yield f"# Reconcile run `{result.id}`" if result.recorded else "# Untracked resources (not recorded)"
    yield ""
    yield "| CIs | in sync | drifted | missing | unknown | exit |"
    yield "|---|---|---|---|---|---|"
    yield (f"| {counts['cis']} | {counts['in_sync']} | {counts['drifted']} | {counts['missing']} | "
           f"{counts['unknown']} | {result.exit_code} |")
    yield from _causes(result)
    if result.impact:
        kinds = {item.ci: item.kind for item in result.items if item.ci}
        yield ""
        yield "## Impact"
        yield ""
        yield from (f"- {impact_line(ci, kinds.get(ci), entry)}" for ci, entry in result.impact.items())
    yield from _money(result.money)
    shared = {cause["id"] for cause in causes_of(result) if cause["count"] > 1}
    hidden = 0
    for item in result.items:
        if item.ci and item.status == Status.DRIFTED and covered_by(item, shared):
            hidden += 1  # its drift is all in the causes above
        elif item.ci and item.status != Status.IN_SYNC:
            yield from _item(item)
    if hidden:
        yield ""
        yield f"_{hidden} more CIs drifted only for the causes above (the JSON report lists each)._"
    flagged = [i for i in result.items if i.flags]
    if flagged:
        yield ""
        yield "## Flags"
        yield ""
        yield from (f"- **{', '.join(i.flags)}** {i.kind or 'asset'} `{i.ci or i.asset or dict(i.identity)}`"
                    for i in flagged)


def _causes(result: RunResult) -> Iterator[str]:
    causes = [cause for cause in causes_of(result) if cause["count"] > 1]  # one CI's drift: under its CI
    if not causes:
        return
    yield ""
    yield f"## Causes ({len(causes)})"
    yield ""
    yield "| # | path | declared | found | CIs | kind | severity | in common | first seen |"
    yield "|---|---|---|---|---|---|---|---|---|"
    for n, cause in enumerate(causes, 1):
        common = "; ".join([f"group {', '.join(cause['groups'])}"] * bool(cause["groups"])
                           + [f"baseline {', '.join(cause['baselines'])}"] * bool(cause["baselines"]))
        found = " or ".join(_cell(value) for value in cause["actual"][:3])
        yield (f"| {n} | `{cause['path']}` | {_cell(cause['desired'])} | {found} | {cause['count']}: "
               f"{_cell(named_cis(cause))} | {cause['kind']} | {cause['severity']} | {_cell(common or '—')} | "
               f"{(cause.get('first_seen') or 'this run')[:10]} |")


def _money(money: dict) -> Iterator[str]:
    if not money.get("by_owner"):
        return
    prices = money["prices"]
    yield ""
    yield "## Money at stake (an estimate, not a bill)"
    yield ""
    yield "| owner | book value | monthly cost (estimate) |"
    yield "|---|---|---|"
    for owner, figures in money["by_owner"].items():
        yield f"| {_cell(owner)} | {amounts_text(figures['book_value'])} | {amounts_text(figures['monthly'])} |"
    yield ""
    yield (f"_Book values from the register; monthly costs of untracked resources from {prices['source']} "
           f"({prices['region']}, {prices['taken']})._")


def _item(item: Item) -> Iterator[str]:
    yield ""
    yield f"## {item.ci} — {item.status.value if item.status else ''} ({item.kind}, {item.owner or 'no owner'})"
    if item.error:
        yield ""
        yield f"> {item.error}"
    if item.drift:
        yield ""
        yield "| path | desired | actual | change | severity |"
        yield "|---|---|---|---|---|"
        for d in item.drift:
            waived = " (waived)" if d.waived else ""
            yield f"| `{d.path}` | {_cell(d.desired)} | {_cell(d.actual)} | {d.change.value} | {d.severity}{waived} |"
