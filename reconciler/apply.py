"""Apply: re-verify a reviewed plan, carry out exactly its automatic steps, verify, record every step.

Place in the pipeline: plan file (plan.py) + Project + register in; steps carried out through Ansible
(ONE ansible-runner run of fixers/server_play's playbook for every server: a freshness barrier first — the
fact module and a digest check on the controller, any stale host stopping all before a fix — then the
steps, then the read-only fact module again for verification) and boto3 (fixers/aws.execute), then one
row per step in the register's `changes`. Nothing is changed when the plan is refused: edited (digest),
desired state changed (project digest), too many steps, stale cloud facts, not confirmed (all before
Ansible starts), or stale server facts (the barrier). `preview` runs the steps in check mode with --diff
for the review.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import pipeline
from .collectors.ansible import (
    SYSCTL_ROOT_VAR,
    AnsibleCollector,
    ansible_timeout,
    host_of,
    merge_specs,
    spec_of,
)
from .collectors.base import CollectOptions
from .digests import fact_shape
from .errors import ReconcilerError
from .fixers import aws as aws_fixers
from .fixers.server_play import EXPECT_VAR, NO_RESULT, STEPS_VAR, StepEvents, host_steps, playbook
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
CHANGED = "its facts changed since the plan was made"
UNCOLLECTED = "could not be collected"  # the reasons check_* give a CI whose freshness is unknown, not stale


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


def check_fresh(project: Project, steps: Sequence[Mapping[str, Any]], facts: Mapping[str, FactSet]) -> None:
    """Refuse when any of these steps' CIs' facts no longer match those the steps were planned from."""
    by_id = {ci.id: ci for ci in project.cis}
    stale: dict[str, str] = {}
    for step in steps:
        ci, found = by_id.get(step["ci"]), facts.get(step["ci"])
        if ci is None or found is None:
            stale[step["ci"]] = "no longer declared"
        elif found.error:
            stale[step["ci"]] = f"could not be collected: {found.error}"
        elif facts_digest(ci, found) != step["facts_digest"]:
            stale[step["ci"]] = CHANGED
    _refuse_stale(stale)


def check_reachable(project: Project, steps: Sequence[Mapping[str, Any]]) -> None:
    """Before Ansible starts: server CIs still declared, on hosts the inventory still has."""
    by_id = {ci.id: ci for ci in project.cis}
    known = set(getattr(project.inventory, "hosts", None) or ())
    stale = {}
    for step in steps:
        ci = by_id.get(step["ci"])
        if ci is None or ci.kind != step["kind"]:
            stale[step["ci"]] = "no longer declared"
        elif host_of(ci) not in known:
            stale[step["ci"]] = f"could not be collected: host '{host_of(ci)}' is not in the inventory"
    _refuse_stale(stale)


def check_barrier(steps: Sequence[Mapping[str, Any]], events: StepEvents) -> None:
    """After the run: refuse when the freshness barrier stopped it (no fix ran: the play is fatal)."""
    stale = {}
    for step in steps:
        found = events.fresh.get(step["target"]["host"])
        if found is None:
            stale[step["ci"]] = "could not be collected: no result from Ansible"
        elif step["ci"] in found[0]:
            stale[step["ci"]] = CHANGED
        elif found[1]:
            stale[step["ci"]] = f"could not be collected: {found[1]}"
    _refuse_stale(stale)


def _refuse_stale(stale: Mapping[str, str]) -> None:
    """One refusal naming every CI: those whose facts changed (stale: plan again) apart from those whose facts
    could not be collected (unreachable: the plan may still hold, it could not be checked); CIs with the same
    reason (one host's) are named together, so that one host's long ssh error is said once."""
    if not stale:
        return
    unchecked = {ci: why for ci, why in stale.items() if why.startswith(UNCOLLECTED)}
    changed = {ci: why for ci, why in stale.items() if ci not in unchecked}
    said = [f"the plan is stale, reality changed since the review ({_by_reason(changed)})"] if changed else []
    if unchecked:
        said.append(f"the plan could not be checked against reality ({_by_reason(unchecked)})")
    advice = "plan again" if changed else "apply again once they can be collected"
    raise Refused(f"refused: {'; '.join(said)}; nothing was changed; {advice}")


def _by_reason(found: Mapping[str, str]) -> str:
    named: dict[str, list[str]] = {}
    for ci, why in sorted(found.items()):
        named.setdefault(why, []).append(ci)
    return "; ".join(f"{', '.join(cis)}: {why}" for why, cis in named.items())


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
    pinned = [step for step in plan["steps"] if step["kind"] == "server"]  # checked inside the Ansible run
    check_reachable(project, pinned)
    started = time.perf_counter()
    check_fresh(project, [s for s in plan["steps"] if s["kind"] != "server"],
                collect(project, [ci for ci in cis if ci.kind != "server"]))
    outcome.timings["collect"] = time.perf_counter() - started
    steps = automatic(plan)
    if steps and not confirm(steps):
        raise Refused("refused: not confirmed; nothing was changed")
    fresh = _carry_out(project, steps, pinned, options, outcome)
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
    project: Project,
    steps: Sequence[Mapping[str, Any]],
    pinned: Sequence[Mapping[str, Any]],
    options: ApplyOptions,
    outcome: ApplyResult,
) -> dict[str, FactSet]:
    """Server steps in one Ansible run behind the freshness barrier (refused: nothing ran), then cloud steps;
    returns the server facts gathered at the end."""
    servers = [s for s in steps if s["kind"] == "server"]
    cloud = [s for s in steps if s["kind"] != "server"]
    began = time.perf_counter()
    events = run_server_steps(project, servers, check=False, stop_on_error=options.stop_on_error, pinned=pinned)
    outcome.timings["ansible"] = time.perf_counter() - began
    if pinned:
        check_barrier(pinned, events)
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
    project: Project,
    steps: Sequence[Mapping[str, Any]],
    check: bool,
    stop_on_error: bool = False,
    pinned: Sequence[Mapping[str, Any]] = (),
) -> StepEvents:
    """One ansible-runner run of the fixed playbook over every host with steps (check: the preview).
    `pinned` (apply): every server step of the plan, manual ones too — their CIs' facts must still match
    the plan's before any step runs, checked in the same run by the freshness barrier."""
    events = StepEvents()
    by_id = {ci.id: ci for ci in project.cis}
    cis: dict[str, set[str]] = {}
    for step in [*steps, *pinned]:
        cis.setdefault(step["target"]["host"], set()).add(step["ci"])
    if not cis:
        return events
    hosts = host_steps(steps)
    extra: dict[str, dict[str, Any]] = {host: {} for host in cis}
    for host, actions in hosts.items():
        extra[host][STEPS_VAR] = actions
    for step in pinned:
        expect = {"ci": step["ci"], "shape": fact_shape(by_id[step["ci"]].desired),
                  "digest": step["facts_digest"]}
        extra[step["target"]["host"]].setdefault(EXPECT_VAR, [])
        if expect not in extra[step["target"]["host"]][EXPECT_VAR]:
            extra[step["target"]["host"]][EXPECT_VAR].append(expect)
    AnsibleCollector(project, CollectOptions()).run_playbook(
        {host: merge_specs([spec_of(by_id[ci].desired) for ci in sorted(found)]) for host, found in cis.items()},
        playbook(stop_on_error, gather=not check, actions={a for actions in hosts.values() for a in actions},
                 fresh=bool(pinned), omit=_unused_variants(project, list(hosts)),
                 timeout=ansible_timeout(project)),
        events,
        extra,
        check=check,
    )
    return events


def _unused_variants(project: Project, hosts: Sequence[str]) -> list[str]:
    """The kernel-parameter task none of these hosts runs (a false `when` still costs a worker per host)."""
    under_root = {bool(project.inventory.host_vars(host).get(SYSCTL_ROOT_VAR)) for host in hosts}
    return [name for name, used in (("sysctl load", False), ("sysctl load-under-root", True))
            if used not in under_root]


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
    # a host stopped before the run's closing fact task (--stop-on-error) is re-collected on its own
    lost = [ci for ci in cis if ci.id in server_facts and not server_facts[ci.id].ok]
    facts = {**server_facts, **collect(project, cloud + lost)}
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
