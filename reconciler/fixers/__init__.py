"""Fixers: per kind, the steps that make one drift's declared value true.

Place in the pipeline: plan.py hands each unwaived drift of a drifted CI to the fixer of the CI's kind
(`FIXERS`), as a `Need` (the path split into its parts, the one exact value when there is one, the facts
the step is planned from). A fixer answers with `Fix` drafts: an automatic action (an Ansible builtin
module for servers, a boto3 call for cloud kinds) with its risk and why, or a manual step with its
reason. A fixer never drops a drift: what it cannot do safely is manual, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NOT_EXACT = object()  # the declared value is a glob, a constraint or a regex: no single value to set


@dataclass(frozen=True)
class Need:
    """One drift, ready for a fixer."""

    ci: str
    kind: str
    parts: tuple[Any, ...]
    change: str
    desired: Any  # as declared (display)
    exact: Any  # the one value that satisfies it, or NOT_EXACT
    why_not_exact: str | None
    actual: Any
    facts: Mapping[str, Any]
    host_vars: Mapping[str, Any] = field(default_factory=dict)
    allow_disruptive: bool = False
    declared: Mapping[str, Any] = field(default_factory=dict)  # the CI's whole `desired` (its other keys)


@dataclass(frozen=True)
class Fix:
    action: str  # module / boto3 call name, or "manual"
    args: Mapping[str, Any] = field(default_factory=dict)
    risk: str = "low"
    why: str = ""
    manual: bool = False
    reason: str | None = None
    desired: Any = None  # what this step sets, when narrower than the drift (one line, one rule)
    element: str | None = None  # "add" / "remove": the step sets one member of a set


def manual(reason: str, risk: str = "low", why: str = "nothing is changed automatically") -> Fix:
    return Fix(action="manual", risk=risk, why=why, manual=True, reason=reason)


def disruptive(fix: Fix, need: Need, reason: str) -> Fix:
    """A fix that interrupts service: manual unless the plan was made with --allow-disruptive."""
    if need.allow_disruptive:
        return Fix(
            fix.action,
            fix.args,
            "high",
            f"{fix.why}; disruptive: {reason}",
            desired=fix.desired,
            element=fix.element,
        )
    return Fix(
        fix.action,
        fix.args,
        "high",
        fix.why,
        manual=True,
        desired=fix.desired,
        element=fix.element,
        reason=f"disruptive: {reason} (plan with --allow-disruptive to make it automatic)",
    )


Fixer = Callable[[Need], Sequence[Fix]]


def fixers() -> dict[str, Fixer]:
    """Built-in fixers by kind (imported here, not at module load, so the stage stays light)."""
    from . import aws, server

    return {"server": server.fix, **{kind: aws.fix for kind in aws.KINDS}}


def unfixable(need: Need) -> list[Fix]:
    return [manual(f"no automatic fix for {need.kind} (no fixer serves this kind)")]
