"""Notifications on change only: after a run is recorded, tell people what is new, changed or resolved.

In: the findings that changed since the previous run (register/findings.py) and the notification URLs
(`--notify URL`, `notify:` in reconciler.yml), delivered through Apprise (Slack, Teams, e-mail, JSON
webhooks, ...). Out: one Delivery per URL. Nothing changed → nothing sent, so the same alert never goes
out twice. A failed delivery is a value, never an exception: the run reports it and keeps its exit code.
URLs often hold tokens: only Apprise's privacy form of a URL is ever shown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_LINES = 40  # per notification; the rest is a count (the report has them all)


@dataclass(frozen=True)
class Delivery:
    url: str  # the privacy form: tokens and passwords masked
    ok: bool
    error: str | None = None


def has_changes(changes: Mapping[str, Sequence[Any]]) -> bool:
    return any(changes.get(name) for name in ("new", "changed", "resolved"))


def title(changes: Mapping[str, Sequence[Any]], run_id: str) -> str:
    counts = ", ".join(f"{len(changes.get(name) or [])} {name}" for name in ("new", "changed", "resolved"))
    return f"reconcile: {counts} (run {run_id[:8]})"


def body(changes: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    lines = [f"{name.upper()}: {_line(entry)}" for name in ("new", "changed", "resolved")
             for entry in changes.get(name) or []]
    shown = lines[:MAX_LINES]
    if len(lines) > len(shown):
        shown.append(f"… and {len(lines) - len(shown)} more (see the run's report)")
    return "\n".join(shown)


def _line(entry: Mapping[str, Any]) -> str:
    what = str(entry.get("what", ""))
    label = what.removeprefix("drift:").removeprefix("flag:")
    text = f"{entry.get('subject')} ({entry.get('kind') or 'asset'}) {label}"
    if what.startswith("drift:") and "actual" in entry:
        text += f": {entry.get('desired')!r} declared, {entry.get('actual')!r} found"
    return text + (f" [{entry['severity']}]" if entry.get("severity") else "")


def send(urls: Iterable[str], subject: str, message: str) -> list[Delivery]:
    """One notification per URL, so one broken receiver does not hide the others' success."""
    return [_send_one(url, subject, message) for url in urls]


def _send_one(url: str, subject: str, message: str) -> Delivery:
    import apprise  # imported on use: runs without --notify never pay for its plugins

    target = apprise.Apprise.instantiate(url)
    if not target:
        return Delivery(_mask(url), False, "not a notification URL Apprise understands")
    shown = target.url(privacy=True)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as log:
        ok = bool(target.notify(body=message, title=subject))
        captured = log.getvalue().strip().splitlines()
    return Delivery(shown, True) if ok else Delivery(shown, False, (captured[-1] if captured else "delivery failed"))


def _mask(url: str) -> str:
    scheme, sep, _rest = url.partition("://")
    return f"{scheme}://…" if sep else "(unparseable URL)"
