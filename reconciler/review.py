"""The review of a plan: text for a terminal, Markdown for a change ticket or pull request, or JSON.

Place in the pipeline: the plan document (plan.py) and the check-mode previews of its server steps
(apply.preview) in, text out. Per CI: its drift, its steps with their risk and why, manual steps with their
reason, and for server steps the Ansible check-mode diff, labelled as a preview.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

PREVIEW_LABEL = "preview (Ansible check mode --diff against the host; nothing was changed)"


def _by_ci(plan: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for step in plan["steps"]:
        grouped.setdefault(step["ci"], []).append(step)
    return grouped


def _value(value: Any) -> str:
    return "-" if value is None else json.dumps(value, default=str) if not isinstance(value, str) else value


def _summary(plan: Mapping[str, Any]) -> str:
    steps = plan["steps"]
    manual = sum(1 for s in steps if s.get("manual"))
    return (
        f"plan {plan['plan_id']}: {len(steps) - manual} automatic step(s), {manual} manual, "
        f"{len(_by_ci(plan))} CI(s); digest {plan['digest'][:16]}"
    )


# CIs in scope whose facts could not be collected: (ci, error). Nothing is planned for them, and a review
# that said only "nothing to change" would hide them (plan exits 3)
Unchecked = Sequence[tuple[str, str | None]]
UNCHECKED_LABEL = "could not be checked (unknown: nothing planned for them)"


def _unchecked_lines(unchecked: Unchecked, bullet: str = "  ") -> list[str]:
    if not unchecked:
        return []
    return [f"{UNCHECKED_LABEL}:", *(f"{bullet}{ci}: {error or 'no facts'}" for ci, error in unchecked)]


def render_text(plan: Mapping[str, Any], previews: Mapping[str, Sequence[str]], unchecked: Unchecked = ()) -> str:
    if not plan["steps"]:
        return "\n".join(["nothing to change", *_unchecked_lines(unchecked)]) + "\n"
    lines = [_summary(plan), *_unchecked_lines(unchecked)]
    for ci, steps in _by_ci(plan).items():
        lines.append(f"\n{ci} ({steps[0]['kind']})")
        for step in steps:
            what = "MANUAL" if step.get("manual") else step["action"]
            lines.append(
                f"  {step['id']} [{step['risk']}] {step['path'] or '(whole CI)'}: {_value(step['actual'])}"
                f" -> {_value(step['desired'])}  {what} {_args(step)}".rstrip()
            )
            lines.append(
                f"       why: {step['why']}" + (f"; reason: {step['reason']}" if step.get("reason") else "")
            )
            for diff in previews.get(step["id"], ()):
                lines.append(f"       {PREVIEW_LABEL}:")
                lines += [f"         {line}" for line in diff.splitlines()]
    return "\n".join(lines) + "\n"


def _args(step: Mapping[str, Any]) -> str:
    return json.dumps(step["args"], sort_keys=True) if step.get("args") else ""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _text_cell(text: Any) -> str:
    """A table cell of plain text: `<Directory /srv>` in a line must show, not be taken for an HTML tag."""
    return _cell(html.escape(str(text), quote=False))


def render_markdown(
    plan: Mapping[str, Any], previews: Mapping[str, Sequence[str]], unchecked: Unchecked = ()
) -> str:
    unknown = [_text_cell(line) for line in _unchecked_lines(unchecked, "- ")]
    unknown += [""] if unknown else []
    if not plan["steps"]:
        return "\n".join(["## Reconcile plan", "", "Nothing to change.", "", *unknown]).rstrip("\n") + "\n"
    out = ["## Reconcile plan", "", _summary(plan), "", *unknown]
    for ci, steps in _by_ci(plan).items():
        out += [
            f"### {ci} (`{steps[0]['kind']}`)",
            "",
            "| step | path | actual | desired | action | risk | why |",
            "|---|---|---|---|---|---|---|",
        ]
        for step in steps:
            action = (
                "**manual**: " + _text_cell(step.get("reason")) if step.get("manual") else f"`{step['action']}`"
            )
            out.append(
                f"| {step['id']} | `{_cell(step['path'])}` | {_text_cell(_value(step['actual']))} | "
                f"{_text_cell(_value(step['desired']))} | {action} | {step['risk']} | {_text_cell(step['why'])} |"
            )
        shown = [(s["id"], d) for s in steps for d in previews.get(s["id"], ())]
        if shown:
            out += ["", f"<details><summary>{PREVIEW_LABEL}</summary>", ""]
            for step_id, diff in shown:
                out += [f"{step_id}:", "", "```diff", diff, "```", ""]
            out.append("</details>")
        out.append("")
    return "\n".join(out) + "\n"


def render_json(plan: Mapping[str, Any], previews: Mapping[str, Sequence[str]], unchecked: Unchecked = ()) -> str:
    review = {
        "plan": plan,
        "preview": {"label": PREVIEW_LABEL, "diffs": previews},
        "unknown": [{"ci": ci, "error": error} for ci, error in unchecked],
    }
    return json.dumps(review, indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
