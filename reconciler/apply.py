"""Apply: re-verify a reviewed plan, carry out exactly its automatic steps, verify, record every step.

Place in the pipeline: plan file (plan.py) + Project + register in; steps carried out through Ansible
(one ansible-runner run of fixers/server_play's playbook for every server step, closing with the
read-only fact module so that verification needs no second run) and boto3 (fixers/aws.execute), then one
row per step in the register's `changes`. Nothing is changed when the plan is refused: edited (digest),
desired state changed (project digest), stale facts (a planned CI's facts no longer match), too many
steps, or not confirmed. `preview` runs the same playbook in check mode with --diff for the review.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import pipeline
from .collectors.ansible import AnsibleCollector, merge_specs, spec_of
from .collectors.base import CollectOptions
from .errors import ReconcilerError
from .fixers import aws as aws_fixers
from .fixers.server_play import NO_RESULT, StepEvents, host_steps, playbook
from .model import CI, FactSet, Project
from .plan import automatic, facts_digest, path_parts, project_digest, seal
from .register.store import Register

APPLIED, UNVERIFIED, FAILED, MANUAL, SKIPPED = (
    "applied+verified",
    "applied-not-verified",
    "failed",
    "skipped-manual",
    "skipped",
)


NOT_ATTEMPTED = "not attempted: an earlier step failed (--stop-on-error)"


class Refused(ReconcilerError):
    """The plan is refused as a whole; nothing was changed."""


@dataclass(frozen=True)
class ApplyOptions:
    max_changes: int = 50
    stop_on_error: bool = False
    who: str = "unknown"
    session_factory: Any = None  # boto3.Session by default (tests pass their own)


@dataclass
class ApplyResult:
    results: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # step id -> (result, detail)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 2 if any(r in (FAILED, UNVERIFIED) for r, _ in self.results.values()) else 0


# --- refusals -------------------------------------------------------------------------------------


def check_plan(project: Project, plan: Mapping[str, Any], options: ApplyOptions) -> None:
    """Refuse an edited plan, a changed desired state, or more automatic steps than allowed."""
    cis = sorted({step["ci"] for step in plan["steps"]})
    if seal(plan)["digest"] != plan.get("digest"):
        raise Refused(
            f"refused: the plan was edited after it was made (digest mismatch); CIs: {', '.join(cis)}"
        )
    if project_digest(project.cis) != plan.get("project_digest"):
        raise Refused(
            "refused: the desired state changed since the plan was made (project digest mismatch); "
            f"plan again. Planned CIs: {', '.join(cis)}"
        )
    steps = automatic(plan)
    if len(steps) > options.max_changes:
        raise Refused(
            f"refused: the plan holds {len(steps)} automatic steps, more than --max-changes "
            f"{options.max_changes}; CIs: {', '.join(sorted({s['ci'] for s in steps}))}"
        )


def check_fresh(project: Project, plan: Mapping[str, Any], facts: Mapping[str, FactSet]) -> None:
    """Refuse when any planned CI's facts no longer match those its steps were planned from."""
    by_id = {ci.id: ci for ci in project.cis}
    stale: dict[str, str] = {}
    for step in plan["steps"]:
        ci, found = by_id.get(step["ci"]), facts.get(step["ci"])
        if ci is None or found is None:
            stale[step["ci"]] = "no longer declared"
        elif found.error:
            stale[step["ci"]] = f"could not be collected: {found.error}"
        elif facts_digest(ci, found) != step["facts_digest"]:
            stale[step["ci"]] = "its facts changed since the plan was made"
    if stale:
        detail = "; ".join(f"{ci}: {why}" for ci, why in sorted(stale.items()))
        raise Refused(f"refused: the plan is stale, reality changed since the review ({detail}); plan again")


# --- the run --------------------------------------------------------------------------------------


def apply_plan(
    project: Project,
    plan: Mapping[str, Any],
    register: Register,
    options: ApplyOptions,
    confirm: Callable[[Sequence[Mapping[str, Any]]], bool],
) -> ApplyResult:
    outcome = ApplyResult()
    check_plan(project, plan, options)
    cis = _planned_cis(project, plan)
    started = time.perf_counter()
    facts = collect(project, cis)
    outcome.timings["collect"] = time.perf_counter() - started
    check_fresh(project, plan, facts)
    steps = automatic(plan)
    if steps and not confirm(steps):
        raise Refused("refused: not confirmed; nothing was changed")
    fresh = _carry_out(project, steps, options, outcome)
    began = time.perf_counter()
    _verify(project, cis, steps, fresh, outcome)
    outcome.timings["verify"] = time.perf_counter() - began
    for step in plan["steps"]:
        if step.get("manual"):
            outcome.results[step["id"]] = (MANUAL, step.get("reason"))
    began = time.perf_counter()
    _record(register, plan, outcome, options.who)
    outcome.timings["record"] = time.perf_counter() - began
    return outcome


def _planned_cis(project: Project, plan: Mapping[str, Any]) -> list[CI]:
    wanted = {step["ci"] for step in plan["steps"]}
    return [ci for ci in project.cis if ci.id in wanted]


def collect(project: Project, cis: Sequence[CI]) -> dict[str, FactSet]:
    """Fresh facts of exactly these CIs (no account-wide scan, nothing recorded)."""
    facts: dict[str, FactSet] = {}
    if cis:
        pipeline.run(replace(project, cis=tuple(cis)), pipeline.RunOptions(limit="*"), None, False, facts)
    return facts


def _carry_out(
    project: Project, steps: Sequence[Mapping[str, Any]], options: ApplyOptions, outcome: ApplyResult
) -> dict[str, FactSet]:
    """Server steps in one Ansible run, then cloud steps; returns the server facts gathered at the end."""
    servers = [s for s in steps if s["kind"] == "server"]
    cloud = [s for s in steps if s["kind"] != "server"]
    began = time.perf_counter()
    events = run_server_steps(project, servers, check=False, stop_on_error=options.stop_on_error)
    outcome.timings["ansible"] = time.perf_counter() - began
    for step in servers:
        reason = events.outcome(step)
        outcome.results[step["id"]] = (FAILED, reason) if reason else (APPLIED, None)
    if options.stop_on_error and any(r == FAILED for r, _ in outcome.results.values()):
        for step in servers:
            if outcome.results[step["id"]] == (FAILED, NO_RESULT):
                outcome.results[step["id"]] = (SKIPPED, NOT_ATTEMPTED)
    began = time.perf_counter()
    failed = any(r == FAILED for r, _ in outcome.results.values())
    clients = _clients(project, options) if cloud else None
    for step in cloud:
        if failed and options.stop_on_error:
            outcome.results[step["id"]] = (SKIPPED, NOT_ATTEMPTED)
            continue
        outcome.results[step["id"]] = _cloud_step(clients, step, _executor(project, step["kind"]))
        failed = failed or outcome.results[step["id"]][0] == FAILED
    outcome.timings["cloud"] = time.perf_counter() - began
    return _server_facts(project, servers, events)


def run_server_steps(
    project: Project, steps: Sequence[Mapping[str, Any]], check: bool, stop_on_error: bool = False
) -> StepEvents:
    """One ansible-runner run of the fixed playbook over every host with steps (check: the preview)."""
    events = StepEvents()
    if not steps:
        return events
    hosts = host_steps(steps)
    by_id = {ci.id: ci for ci in project.cis}
    specs: dict[str, list[dict[str, Any]]] = {}
    for step in steps:
        specs.setdefault(step["target"]["host"], []).append(spec_of(by_id[step["ci"]].desired))
    collector = AnsibleCollector(project, CollectOptions())
    collector.run_playbook(
        {host: merge_specs(found) for host, found in specs.items()},
        playbook(stop_on_error, gather=not check, actions={s["action"] for s in steps}),
        events,
        {host: {"reconciler_steps": actions} for host, actions in hosts.items()},
        check=check,
    )
    return events


def preview(project: Project, plan: Mapping[str, Any]) -> dict[str, list[str]]:
    """Check-mode diffs of the plan's automatic server steps, by step id (what a reviewer reads)."""
    steps = [s for s in automatic(plan) if s["kind"] == "server"]
    events = run_server_steps(project, steps, check=True)
    diffs = {key: list(value) for key, value in events.diffs.items()}
    for step in steps:
        reason = events.outcome(step)
        if reason:
            diffs.setdefault(step["id"], []).append(f"would fail: {reason}")
    return diffs


def _server_facts(
    project: Project, steps: Sequence[Mapping[str, Any]], events: StepEvents
) -> dict[str, FactSet]:
    facts = {}
    for step in steps:
        host = step["target"]["host"]
        found = events.facts.get(host)
        facts[step["ci"]] = FactSet(
            step["ci"],
            "ansible",
            host,
            facts=found,
            error=None if found is not None else "no facts after apply",
            identity={"host": host},
        )
    return facts


def _clients(project: Project, options: ApplyOptions) -> Any:
    from .fixers.aws_session import CloudClients

    return CloudClients(project.settings.aws or {}, options.session_factory)


def _executor(project: Project, kind_name: str) -> Callable[..., None]:
    """The kind descriptor's `execute` action (plugin kinds bring their own), else the built-in AWS one."""
    kind = project.registry.kinds.get(kind_name) if project.registry else None
    return (kind.actions.get("execute") if kind else None) or aws_fixers.execute


def _cloud_step(clients: Any, step: Mapping[str, Any], execute: Callable[..., None]
                ) -> tuple[str, str | None]:
    try:
        execute(step, lambda service: clients.client(step["target"], service))
    except Exception as exc:  # noqa: BLE001 -- botocore's errors, a bad rule string: the step failed, the others go on
        return FAILED, _describe(exc)
    return APPLIED, None


def _describe(exc: BaseException) -> str:
    from .collectors.aws.sessions import describe_error

    return describe_error(exc)


# --- verification and recording --------------------------------------------------------------------


def _verify(
    project: Project,
    cis: Sequence[CI],
    steps: Sequence[Mapping[str, Any]],
    server_facts: dict[str, FactSet],
    outcome: ApplyResult,
) -> None:
    cloud = [ci for ci in cis if ci.kind != "server" and any(s["ci"] == ci.id for s in steps)]
    facts = {**server_facts, **collect(project, cloud)}
    items = {
        item.ci: item for item in pipeline.diff_cis(project, [c for c in cis if c.id in facts], facts, [])
    }
    by_id = {ci.id: ci for ci in cis}
    for step in steps:
        result, _ = outcome.results[step["id"]]
        if result != APPLIED:
            continue
        found = facts.get(step["ci"])
        if found is None or not found.ok:
            outcome.results[step["id"]] = (
                UNVERIFIED,
                f"could not re-collect: {found.error if found else '-'}",
            )
        elif not _holds(step, by_id[step["ci"]], found, items.get(step["ci"])):
            outcome.results[step["id"]] = (
                UNVERIFIED,
                "applied, but the drift is still there when re-collected",
            )


def _holds(step: Mapping[str, Any], ci: CI, facts: FactSet, item: Any) -> bool:
    parts = tuple(step["path_parts"])
    if step.get("element"):
        members = _lookup(facts.facts or {}, parts) or []
        return (step["desired"] in members) == (step["element"] == "add")
    for drift in item.drift if item else []:
        other = path_parts(drift, ci)
        if other[: len(parts)] == parts or parts[: len(other)] == other:
            return False
    return True


def _lookup(tree: Any, parts: Sequence[Any]) -> Any:
    for key in parts:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def _record(register: Register, plan: Mapping[str, Any], outcome: ApplyResult, who: str) -> None:
    rows = []
    for step in plan["steps"]:
        result, detail = outcome.results.get(step["id"], (SKIPPED, "not attempted"))
        text = f"{step['action']} {step['why']}".strip() + (f": {detail}" if detail else "")
        rows.append(
            {
                "ci": step["ci"],
                "path": step["path"],
                "before": step["actual"],
                "after": step["desired"],
                "who": who,
                "plan_digest": plan["digest"],
                "run_id": plan.get("run_id"),
                "plan_id": plan.get("plan_id"),
                "result": result,
                "detail": text,
            }
        )
    register.record_changes(rows)
