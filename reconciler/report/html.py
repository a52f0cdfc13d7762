"""The HTML report: one self-contained page a manager or an account owner opens from disk.

In: a RunResult (causes, items, money) and optionally the trend of the last recorded runs. Out: one HTML
file — inline CSS, inline script, inline SVG, and a Content-Security-Policy that forbids every fetch, so
the page works offline and never calls home. Causes first, then a sortable, filterable table of items
(real table semantics, sort buttons reachable by keyboard), drifted CIs expandable to desired → actual.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from html import escape
from importlib import resources
from typing import Any

from ..model import Item, RunResult, Status, severity_rank
from ..relations import impact_line
from .causes import cause_line, causes_of, named_cis, path_text
from .json import summary
from .money import amounts_text, identity_key

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render_html(result: RunResult, trend: Sequence[Mapping[str, Any]] = ()) -> str:
    return "".join(_page(result, trend))


def _e(value: Any) -> str:
    if value is None:
        return "(absent)"
    return escape(value if isinstance(value, str) else json.dumps(value, default=str))


def _page(result: RunResult, trend: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    yield ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
           f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
           '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
           f"<title>{_title(result)}</title><style>{_asset('html.css')}</style></head><body>")
    heading = f"Reconcile run <code>{escape(result.id)}</code>" if result.recorded else _title(result)
    yield f"<header><h1>{heading}</h1>"
    yield f"<p>{escape(result.started_at)} → {escape(result.finished_at)} · exit {result.exit_code}</p></header><main>"
    yield from _tiles(result)
    yield from _causes(causes_of(result))
    yield from _impact(result)
    yield from _money(result.money)
    yield from _trend(trend)
    yield from _items(result.items, _estimates(result.money))
    yield from _sources(result)
    yield f"</main><script>{_asset('html.js')}</script></body></html>\n"


def _title(result: RunResult) -> str:
    return f"Reconcile run {escape(result.id)}" if result.recorded else "Untracked resources (not recorded)"


def _tiles(result: RunResult) -> Iterator[str]:
    counts = summary(result)
    coverage = counts["coverage"].get("declared_pct")
    tiles = [("CIs", counts["cis"], ""), ("in sync", counts["in_sync"], "ok"),
             ("drifted", counts["drifted"], "bad"), ("missing", counts["missing"], "bad"),
             ("unknown", counts["unknown"], "warn"), ("untracked", counts["flags"].get("untracked", 0), "warn"),
             ("coverage", "n/a" if coverage is None else f"{coverage} %", "")]
    totals = (result.money or {}).get("totals") or {}
    if totals.get("book_value"):
        tiles.append(("book value at stake", amounts_text(totals["book_value"]), "warn"))
    if totals.get("monthly"):
        tiles.append(("a month, estimated", amounts_text(totals["monthly"]), "warn"))
    yield '<section aria-label="Summary"><ul class="tiles">'
    yield from (f'<li class="tile {cls}"><span class="n">{escape(str(value))}</span> {escape(label)}</li>'
                for label, value, cls in tiles)
    yield "</ul></section>"


def _causes(causes: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    yield '<section aria-labelledby="causes-h"><h2 id="causes-h">Causes'
    yield f" ({len(causes)})</h2>" if causes else "</h2><p>No drift.</p></section>"
    if not causes:
        return
    yield "<ol class=\"causes\">"
    for cause in causes:
        yield (f'<li class="sev-{escape(cause["severity"])}"><details><summary>{escape(cause_line(cause))}</summary>'
               f"<p>owners: {escape(', '.join(f'{o} ({n})' for o, n in cause['owners'].items()))}</p>"
               f"<p>CIs: {escape(named_cis(cause, 50))}</p></details></li>")
    yield "</ol></section>"


def _impact(result: RunResult) -> Iterator[str]:
    if not result.impact:
        return
    kinds = {item.ci: item.kind for item in result.items if item.ci}
    yield '<section aria-labelledby="impact-h"><h2 id="impact-h">What depends on the drifted CIs</h2><ul>'
    for ci, entry in result.impact.items():
        more = entry["count"] - len(entry["dependents"])
        yield (f"<li><details><summary>{escape(impact_line(ci, kinds.get(ci), entry))}</summary><p>"
               f"{escape(', '.join(entry['dependents']))}{f' … and {more} more' if more > 0 else ''}</p></details></li>")
    yield "</ul></section>"


def _money(money: Mapping[str, Any]) -> Iterator[str]:
    owners = (money or {}).get("by_owner") or {}
    if not owners:
        return
    prices = money.get("prices") or {}
    yield ('<section aria-labelledby="money-h"><h2 id="money-h">Money at stake <small>(an estimate, not a bill)'
           f'</small></h2><table id="money"><caption>book values from the register; monthly costs of untracked '
           f'resources from {escape(str(prices.get("source")))} ({escape(str(prices.get("region")))}, '
           f'{escape(str(prices.get("taken")))})</caption><thead><tr><th scope="col">owner</th>'
           '<th scope="col">book value</th><th scope="col">monthly cost (estimate)</th></tr></thead><tbody>')
    for owner, figures in owners.items():
        yield (f'<tr><th scope="row">{escape(owner)}</th><td>{escape(amounts_text(figures["book_value"]))}</td>'
               f'<td>{escape(amounts_text(figures["monthly"]))}</td></tr>')
    yield "</tbody></table><details><summary>what makes these figures</summary><ul>"
    yield from (f"<li>{escape(str(e['subject']))} ({escape(str(e['kind'] or 'asset'))}, {escape(e['owner'])}): "
                f"{e['amount']:,.2f} {escape(e['currency'])}{'/month' if e['measure'] == 'monthly' else ''} — "
                f"{escape(e['reason'])}, {escape(e['basis'])}</li>" for e in money.get("items", [])[:200])
    yield "</ul></details></section>"


def _trend(trend: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    if len(trend) < 2:
        return
    width, height, pad = 600, 160, 24
    top = max([max(run.get("drifted", 0), run.get("unknown", 0)) for run in trend] + [1])
    step = (width - 2 * pad) / (len(trend) - 1)

    def line(values: list[float], peak: float) -> str:
        return " ".join(f"{pad + i * step:.1f},{height - pad - (v / peak) * (height - 2 * pad):.1f}"
                        for i, v in enumerate(values))

    series = [("drifted", [r.get("drifted", 0) for r in trend], top, "#c0392b"),
              ("unknown", [r.get("unknown", 0) for r in trend], top, "#b9770e"),
              ("coverage %", [r.get("coverage") or 0 for r in trend], 100, "#1e6f9f")]
    yield ('<section aria-labelledby="trend-h"><h2 id="trend-h">Trend of the last runs</h2>'
           f'<svg role="img" aria-labelledby="trend-t" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}"><title id="trend-t">drifted, unknown (0–{top}) and coverage (0–100 %) over '
           f'{len(trend)} runs</title>')
    yield from (f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line(values, peak)}">'
                f"<title>{escape(name)}: {', '.join(str(v) for v in values)}</title></polyline>"
                for name, values, peak, colour in series)
    first, last = (str(trend[0].get("started_at", ""))[:16], str(trend[-1].get("started_at", ""))[:16])
    yield (f'<text x="{pad}" y="{height - 4}" font-size="11">{escape(first)}</text>'
           f'<text x="{width - pad}" y="{height - 4}" font-size="11" text-anchor="end">{escape(last)}</text>'
           f'<text x="2" y="{pad - 6}" font-size="11">{top} / 100 %</text>'
           f'<text x="2" y="{height - pad + 4}" font-size="11">0</text>')
    yield "</svg><p class=\"legend\">" + " ".join(
        f'<span style="color:{c}">■ {escape(n)}</span>' for n, _v, _p, c in series) + "</p></section>"


_FILTERS = ("status", "flag", "owner", "kind", "severity")
PAGE = 500  # rows shown at a time; filters and sorting work on all of them


def _estimates(money: Mapping[str, Any]) -> dict[str, str]:
    """Untracked resource (its identity key) -> its monthly cost estimate, as shown in its row."""
    return {e["subject"]: f"≈ {e['amount']:,.2f} {e['currency']}/month (estimate: {e['basis']})"
            for e in (money or {}).get("items", []) if e["measure"] == "monthly"}


def _items(items: Sequence[Item], estimates: Mapping[str, str]) -> Iterator[str]:
    values: dict[str, Counter[str]] = {name: Counter() for name in _FILTERS}
    for item in items:
        for name, value in _facets(item).items():
            values[name].update(value.split())
    yield ('<section aria-labelledby="items-h"><h2 id="items-h">Items</h2><div class="filters" role="search">'
           '<label>search <input id="q" type="search" autocomplete="off"></label>')
    for name in _FILTERS:
        options = "".join(f'<option value="{escape(v)}">{escape(v)} ({n})</option>' for v, n in sorted(values[name].items()))
        yield f'<label>{name} <select data-filter="{name}"><option value="">all</option>{options}</select></label>'
    shown = (f"{len(items)} of {len(items)} items match, the first {PAGE} shown" if len(items) > PAGE
             else f"{len(items)} of {len(items)} items shown")
    yield (f'</div><p id="count" aria-live="polite">{shown}</p>'
           '<table id="items"><caption>Every CI, untracked resource and asset of the run</caption><thead><tr>')
    for n, name in enumerate(("item", "kind", "status", "severity", "owner", "flags", "details")):
        yield (f'<th scope="col" aria-sort="none"><button type="button" data-col="{n}">{name}</button></th>'
               if name != "details" else f'<th scope="col">{name}</th>')
    yield "</tr></thead><tbody>"
    # problems first; rows past the first page start hidden so a 10,000-row page lays out fast
    ordered = sorted(items, key=lambda item: not (item.flags or item.status not in (None, Status.IN_SYNC)))
    yield from (_row(item, n >= PAGE, estimates) for n, item in enumerate(ordered))
    yield (f'</tbody></table><p><button type="button" id="more" data-page="{PAGE}"'
           f'{"" if len(items) > PAGE else " hidden"}>show more</button></p>'
           f"<noscript><p>The first {PAGE} rows are shown; the JSON report has every item.</p></noscript></section>")


def _facets(item: Item) -> dict[str, str]:
    return {"status": item.status.value if item.status else "-", "flag": " ".join(item.flags) or "-",
            "owner": item.owner or "-", "kind": item.kind or "asset", "severity": item.severity or "-"}


def _row(item: Item, hidden: bool, estimates: Mapping[str, str]) -> str:
    facets = _facets(item)
    data = "".join(f' data-{k}="{escape(v)}"' for k, v in facets.items())
    name = item.ci or item.asset or ", ".join(f"{k}={v}" for k, v in item.identity.items() if k != "arn")
    return (f"<tr{data}{' hidden' if hidden else ''}><td>{escape(str(name))}</td><td>{escape(facets['kind'])}</td>"
            f"<td>{escape(facets['status'])}</td><td data-v=\"{severity_rank(item.severity)}\">"
            f"{escape(facets['severity'])}</td><td>{escape(facets['owner'])}</td>"
            f"<td>{escape(', '.join(item.flags))}</td><td>{_details(item)}{_estimate(item, estimates)}</td></tr>")


def _estimate(item: Item, estimates: Mapping[str, str]) -> str:
    if not estimates or item.ci or "untracked" not in item.flags:
        return ""
    found = estimates.get(identity_key(item.identity))
    return f"<br><small>{escape(found)}</small>" if found else ""


def _details(item: Item) -> str:
    if item.error:
        return f'<span class="err">{escape(item.error)}</span>'
    if item.drift:
        lines = "".join(f"<li><code>{escape(path_text(d.path))}</code>: {_e(d.desired)} → <b>{_e(d.actual)}</b> "
                        f"({d.change.value}, {d.severity}{', waived' if d.waived else ''})</li>" for d in item.drift)
        return f"<details><summary>{len(item.drift)} drift</summary><ul>{lines}</ul></details>"
    if item.status == Status.MISSING:
        return "declared, not found"
    return escape("; ".join(f"{k} {v if isinstance(v, str) else json.dumps(v, default=str)}"
                            for k, v in item.details.items()))


def _sources(result: RunResult) -> Iterator[str]:
    failed = [s for s in result.sources if s.status != "ok"]
    yield f'<footer><p>sources: {len(result.sources) - len(failed)} ok, {len(failed)} failed</p>'
    if failed:
        yield "<ul>" + "".join(f"<li>{escape(s.collector)} {escape(s.scope)}: {escape(s.error or 'failed')}</li>"
                               for s in failed) + "</ul>"
    yield "</footer>"

