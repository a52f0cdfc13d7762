"""Plans: drift → reviewed steps, pinned to the desired state and to the facts they were planned from.

Place in the pipeline: after a run (collect → diff → classify), `build_plan` turns each unwaived drift of
each drifted CI into steps through the fixer of the CI's kind (fixers/), a missing CI into a manual step,
and seals the whole into a `reconciler.plan/v1` document: `project_digest` (the rendered desired state),
per step `facts_digest` (that CI's observed facts) and `digest` (sha256 over everything else, canonical
JSON). apply.py refuses a plan whose digests no longer hold.

`path_parts` and `exact_value` read a drift's tuple path and its parsed expectation (reconciler.expectations):
the fixers get the keys and the one value to set, or the reason there is none.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import expectations, paths
from .digests import cut_facts, fact_shape, sha256
from .errors import UsageError
from .fixers import NOT_EXACT, Fix, Need, fixers, manual, unfixable
from .model import CI, Drift, FactSet, Item, Project, Status

SCHEMA = "reconciler.plan/v1"


# --- digests --------------------------------------------------------------------------------------


def project_digest(cis: Iterable[CI]) -> str:
    """The rendered desired state: every CI's identity, declaration and rules."""
    return sha256(
        sorted(
            ([ci.id, ci.kind, dict(ci.match), ci.desired, list(ci.ignore), dict(ci.severity)] for ci in cis),
            key=lambda row: row[0],
        )
    )


def declared_facts(desired: Mapping[str, Any], facts: Mapping[str, Any] | None) -> Any:
    """The facts cut down to what the CI declares (section, then names), so that other CIs of the same host
    or a different gather set never change a CI's digest."""
    return cut_facts(fact_shape(desired), facts)


def facts_digest(ci: CI, facts: FactSet) -> str:
    return sha256(declared_facts(ci.desired, facts.facts if facts.ok else None))


def seal(plan: Mapping[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in plan.items() if key != "digest"}
    return {**body, "digest": sha256(body)}


# --- the adapter: how drift paths and declared values are spelled ----------------------------------


def path_parts(drift: Drift, ci: CI | None = None) -> tuple[Any, ...]:
    """The drift's path as a plain tuple of keys."""
    return tuple(drift.path)


def display(parts: Sequence[Any]) -> str:
    return paths.display(parts)


_PATTERNS = {"Glob": "a glob, not one value", "VersionConstraint": "a version constraint, not one version",
             "Regex": "a regex, not one value"}


def exact_value(drift: Drift) -> tuple[Any, str | None]:
    """(the one value that satisfies the drift's expectation, None) or (NOT_EXACT, why not)."""
    expected = drift.expected if drift.expected is not None else expectations.parse(None, drift.desired)
    exact = expected.exact
    if exact is not expectations.NO_EXACT:
        return exact, None
    what = _PATTERNS.get(type(expected).__name__, "a pattern, not one value")
    return NOT_EXACT, f"'{_shown(drift.desired)}' is {what}"


def _shown(desired: Any) -> str:
    if isinstance(desired, dict) and len(desired) == 1:
        return str(next(iter(desired.values())))
    return json.dumps(desired, default=str) if isinstance(desired, (dict, list)) else str(desired)


# --- building the plan ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    project: Project
    items: Sequence[Item]
    facts: Mapping[str, FactSet]
    run_id: str
    allow_disruptive: bool = False


def build_plan(given: PlanInput) -> dict[str, Any]:
    by_id = {ci.id: ci for ci in given.project.cis}
    registry = fixers()
    on_host: dict[str, list[CI]] = {}
    for each in given.project.cis:
        if each.kind == "server":
            on_host.setdefault(_host(each), []).append(each)
    steps: list[dict[str, Any]] = []
    for item in given.items:
        ci = by_id.get(item.ci or "")
        if ci is None or item.status not in (Status.DRIFTED, Status.MISSING):
            continue
        facts = given.facts[ci.id]
        for fix, drift, parts in _fixes(ci, item, facts, given, registry):
            if ci.kind == "server":
                fix = _unless_disagreeing(fix, ci, drift, parts, on_host[_host(ci)])
            steps.append(_step(len(steps) + 1, ci, fix, drift, parts, facts))
    plan = {
        "schema": SCHEMA,
        "plan_id": str(uuid.uuid4()),
        "created_at": _now(),
        "created_by": current_user(),
        "project_digest": project_digest(given.project.cis),
        "run_id": given.run_id,
        "allow_disruptive": given.allow_disruptive,
        "steps": steps,
    }
    return seal(plan)


def _fixes(
    ci: CI, item: Item, facts: FactSet, given: PlanInput, registry: Mapping[str, Any]
) -> Iterable[tuple[Fix, Drift | None, tuple[Any, ...]]]:
    if item.status == Status.MISSING:
        yield manual(f"{ci.kind} {ci.id} does not exist: create it with your provisioning tool"), None, ()
        return
    host_vars = _host_vars(given.project, ci)
    for drift in item.drift:
        if drift.waived:
            continue
        parts = path_parts(drift, ci)
        exact, why = exact_value(drift)
        need = Need(
            ci.id,
            ci.kind,
            parts,
            str(getattr(drift.change, "value", drift.change)),
            drift.desired,
            exact,
            why,
            drift.actual,
            facts.facts or {},
            host_vars,
            given.allow_disruptive,
            ci.desired,
        )
        kind = given.project.registry.kinds.get(ci.kind) if given.project.registry else None
        fixer = (kind.actions.get("plan") if kind else None) or registry.get(ci.kind)
        for fix in (fixer(need) if fixer else unfixable(need)) or [manual("nothing to do was found")]:
            yield fix, drift, parts


def _host(ci: CI) -> str:
    return str(ci.match.get("host") or ci.id)


def _unless_disagreeing(fix: Fix, ci: CI, drift: Drift | None, parts: tuple[Any, ...],
                        neighbours: Sequence[CI]) -> Fix:
    """A step that would put another CI of the same host out of sync (one file's mode declared 0600 in one
    CI and 0640 in another) is manual: applied, the two would take turns drifting. Adding a member (a line)
    never breaks another CI's declaration."""
    if fix.manual or fix.element or drift is None:
        return fix
    value = fix.desired if fix.desired is not None else exact_value(drift)[0]
    for other in neighbours:
        expected = _expected_at(other.expected, parts) if other.id != ci.id else None
        if expected is not None and not expected.satisfied(value):
            return manual(f"CI {other.id} declares {display(parts)} as '{_shown(expected.raw)}', this CI as "
                          f"'{_shown(value)}': make the CIs agree", fix.risk)
    return fix


def _expected_at(expected: Any, parts: tuple[Any, ...]) -> expectations.Expectation | None:
    """The one-value expectation a CI declares at `parts`, if any."""
    for key in parts:
        if not isinstance(expected, expectations.Fields) or key not in expected.keys:
            return None
        expected = expected.children[expected.keys.index(key)]
    # a one-value declaration only: a record (`{uid: 1001}`) beside `present` is no disagreement
    if not isinstance(expected, expectations.Expectation) or isinstance(
            expected, (expectations.Fields, expectations.Set, expectations.Ordered)):
        return None
    return expected


def _host_vars(project: Project, ci: CI) -> Mapping[str, Any]:
    if ci.kind != "server" or project.inventory is None:
        return {}
    try:
        return project.inventory.host_vars(_host(ci))
    except Exception:  # noqa: BLE001 -- a host missing from the inventory: its CI is unknown, never planned
        return {}


def _step(
    number: int, ci: CI, fix: Fix, drift: Drift | None, parts: tuple[Any, ...], facts: FactSet
) -> dict[str, Any]:
    return {
        "id": f"s{number:03d}",
        "ci": ci.id,
        "kind": ci.kind,
        "path": display(parts),
        "path_parts": list(parts),
        "desired": _plain(fix.desired if fix.desired is not None else (drift.desired if drift else None)),
        "actual": _plain(drift.actual if drift else None),
        "action": fix.action,
        "args": _plain(dict(fix.args)),
        "risk": fix.risk,
        "why": fix.why,
        "manual": fix.manual,
        "reason": fix.reason,
        "element": fix.element,
        "facts_digest": facts_digest(ci, facts),
        "target": target_of(ci, facts),
    }


def target_of(ci: CI, facts: FactSet) -> dict[str, Any]:
    """Where a step is carried out: the inventory host, or the account/region/id of a cloud resource."""
    if ci.kind == "server":
        return {"host": str(facts.identity.get("host") or ci.match.get("host") or ci.id)}
    account, _, in_scope = facts.scope.partition("/")
    found = facts.facts or {}
    # account-level kinds (S3, IAM) have no region in their scope: the bucket's own region, if any
    scope_region = ci.match.get("region") if in_scope in ("", "global") else in_scope
    region = found.get("region") or scope_region
    return {
        "account": account or ci.match.get("account"),
        "region": region,
        **{k: facts.identity.get(k) for k in ("id", "name", "arn")},
    }


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# --- the plan file --------------------------------------------------------------------------------


def write_plan(plan: Mapping[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(plan, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_plan(path: str | Path) -> dict[str, Any]:
    try:
        plan = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file {path} does not exist (write one with 'reconcile plan --out {path}')") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"plan file {path} is not JSON: {exc}") from None
    if not isinstance(plan, dict) or plan.get("schema") != SCHEMA or not isinstance(plan.get("steps"), list):
        raise UsageError(f"plan file {path} is not a {SCHEMA} document")
    return plan


def automatic(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [step for step in plan["steps"] if not step.get("manual")]


def plan_exit_code(plan: Mapping[str, Any], items: Sequence[Item]) -> int:
    """2 the plan has steps; 3 nothing to change but some CIs unknown; 0 nothing to change."""
    if plan["steps"]:
        return 2
    return 3 if any(item.status == Status.UNKNOWN for item in items) else 0
