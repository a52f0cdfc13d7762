"""The Markdown report, for change reviews and pull-request comments."""

from __future__ import annotations

from typing import Iterator

from ..model import Item, RunResult, Status
from .json import summary
from .text import show


def render_markdown(result: RunResult) -> str:
    return "\n".join(_lines(result)) + "\n"


def _cell(value: object) -> str:
    return show(value).replace("|", "\\|")


def _lines(result: RunResult) -> Iterator[str]:
    counts = summary(result)
    yield f"# Reconcile run `{result.id}`"
    yield ""
    yield "| CIs | in sync | drifted | missing | unknown | exit |"
    yield "|---|---|---|---|---|---|"
    yield (f"| {counts['cis']} | {counts['in_sync']} | {counts['drifted']} | {counts['missing']} | "
           f"{counts['unknown']} | {result.exit_code} |")
    for item in result.items:
        if item.ci and item.status != Status.IN_SYNC:
            yield from _item(item)
    flagged = [i for i in result.items if i.flags]
    if flagged:
        yield ""
        yield "## Flags"
        yield ""
        yield from (f"- **{', '.join(i.flags)}** {i.kind or 'asset'} `{i.ci or i.asset or dict(i.identity)}`"
                    for i in flagged)


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
