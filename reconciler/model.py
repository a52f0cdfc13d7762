"""The shared model: small frozen values every stage passes along.

Project (load) → FactSet per CI (collectors) → Drift (diff) → Item (classify) → RunResult (report).
Stages import this module and `errors`, never each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Self


class Status(str, Enum):
    IN_SYNC = "in_sync"
    DRIFTED = "drifted"
    MISSING = "missing"
    UNKNOWN = "unknown"


class Change(str, Enum):
    CHANGED = "changed"
    MISSING = "missing"  # declared, absent
    UNEXPECTED = "unexpected"  # declared absent, present
    TYPE = "type"


SEVERITIES = ("info", "low", "medium", "high", "critical")
class Flag(StrEnum):
    """A finding about an item other than drift, with its weight against --fail-on and its meaning.

    A StrEnum: it is its name in reports and the register ("flag:unseen"). Ownership gaps weigh `info`:
    visible in every report, but a register still being filled in does not fail every scheduled run.
    """

    weight: str
    text: str

    def __new__(cls, value: str, weight: str, text: str) -> Self:
        member = str.__new__(cls, value)
        member._value_, member.weight, member.text = value, weight, text
        return member

    __hash__ = str.__hash__  # equal to its text, so it must hash like it (Enum hashes the member name)

    CONFIGURED_UNOWNED = "configured_unowned", "info", "declared, but no asset in the register"
    OWNED_UNCONFIGURED = "owned_unconfigured", "info", "an asset in the register that no CI declares"
    UNSEEN = "unseen", "low", "an asset no scan has seen"
    STALE = "stale", "low", "an asset not seen for longer than stale_after_days"
    WARRANTY_EXPIRING = "warranty_expiring", "low", "warranty ends soon"
    EOL = "eol", "medium", "past its end of life"
    UNTRACKED = "untracked", "medium", "a resource found that nothing declares or registers"
    AMBIGUOUS = "ambiguous", "medium", "matches more than one CI or asset"
    LICENCE_OVER = "licence_over", "high", "more installations than licences"
    STATE_CONFLICT = "state_conflict", "high", "the register's state contradicts what was observed"


FLAG_SEVERITY = {flag.value: flag.weight for flag in Flag}  # by name, for --flag choices and the reference


def flag_weight(flag: str) -> str:
    """The weight of a flag; an unknown flag is a programming error, never silently `medium`."""
    return Flag(flag).weight  # type: ignore[call-arg]  # lookup by value; mypy reads the 3-field __new__


def severity_rank(level: str | None) -> int:
    return SEVERITIES.index(level) if level in SEVERITIES else -1


@dataclass(frozen=True)
class Origin:
    """Where a CI was declared: file, document index (0-based) and first line when known."""

    file: str
    document: int
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file} (document {self.document + 1}"
        return where + (f", line {self.line})" if self.line else ")")


@dataclass(frozen=True)
class CI:
    """One configuration item, rendered, baselines merged, validated."""

    id: str
    kind: str
    desired: Mapping[str, Any]
    match: Mapping[str, Any]
    origin: Origin
    owner: str | None = None
    asset: str | None = None
    environment: str | None = None
    relations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)
    extends: tuple[str, ...] = ()
    # `desired` parsed into typed expectations (reconciler.expectations), built once at load
    expected: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Settings:
    """reconciler.yml, with defaults applied."""

    register: str = "sqlite:///.reconciler/register.db"
    inventories: tuple[str, ...] = ("inventories/",)
    facts_dir: str | None = None
    aws: Mapping[str, Any] = field(default_factory=dict)
    ansible: Mapping[str, Any] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    default_severity: str = "medium"
    severity: Mapping[str, str] = field(default_factory=dict)
    stale_after_days: int = 30
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    root: Path
    settings: Settings
    cis: tuple[CI, ...]
    inventory: Any  # reconciler.inventory.Inventory (kept loose: Ansible objects inside)
    registry: Any = None  # reconciler.collectors.Registry: the collectors and kinds of this project


class Reason(StrEnum):
    """Why a target could not be looked at (its CI is `unknown`), with the words a report starts with."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_, member.label = value, label
        return member

    __hash__ = str.__hash__

    UNREACHABLE = "unreachable", "unreachable"
    AUTH = "auth", "authentication failed"
    TIMEOUT = "timeout", "timed out"
    MODULE_FAILURE = "module_failure", "module failed"
    MALFORMED_FACTS = "malformed_facts", "malformed facts"
    ACCESS_DENIED = "access_denied", "access denied"
    THROTTLED = "throttled", "throttled"
    NOT_SERVED = "not_served", "not served"
    OTHER = "other", "failed"


@dataclass(frozen=True)
class Failure:
    """A typed failure of one target: the reason, and the message that explains it. str() is the report's
    `error` text: `<label>: <message>` ("timed out: no result after 30 s"), or the message alone when it
    already says what happened (`labelled=False`)."""

    reason: Reason
    message: str
    labelled: bool = True

    def __str__(self) -> str:
        return f"{self.reason.label}: {self.message}" if self.labelled else self.message


@dataclass(frozen=True)
class FactSet:
    """What one collector saw of one CI's target.

    facts set: the target was observed. error set: it could not be looked at (the CI is `unknown`).
    Neither: the scope was scanned successfully and the target is not there (the CI is `missing`).
    """

    ci: str
    collector: str
    scope: str
    facts: Mapping[str, Any] | None = None
    error: str | None = None
    identity: Mapping[str, Any] = field(default_factory=dict)
    reason: Reason | None = None  # typed, when the collector classified the failure

    @classmethod
    def failed(cls, ci: str, collector: str, scope: str, failure: Failure,
               identity: Mapping[str, Any] | None = None) -> FactSet:
        return cls(ci, collector, scope, error=str(failure), identity=dict(identity or {}), reason=failure.reason)

    @property
    def ok(self) -> bool:
        return self.error is None and self.facts is not None


@dataclass(frozen=True)
class Source:
    """One scanned scope (a host, an account/region) and whether its scan succeeded."""

    collector: str
    scope: str
    status: str  # ok | failed
    error: str | None = None


@dataclass(frozen=True)
class Observed:
    """A resource seen in a successfully scanned scope (for untracked/register classification)."""

    kind: str
    identity: Mapping[str, Any]
    facts: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # the Source.scope it was seen in
    ci: str | None = None  # the CI it was matched to, if any
    default: bool = False  # a provider default (default VPC, service-linked role, ...)


@dataclass(frozen=True)
class Collection:
    """Everything one collector returns for one run."""

    facts: Mapping[str, FactSet]  # by CI id
    sources: tuple[Source, ...] = ()
    observed: tuple[Observed, ...] = ()
    stats: Mapping[str, Any] = field(default_factory=dict)
    collector: str = ""  # set by the pipeline: which collector returned it


@dataclass(frozen=True)
class Drift:
    """One declared node the facts do not satisfy. `path` is a tuple of keys (reconciler.paths.DriftPath:
    str() gives its display form); `desired` is the value as declared, `expected` its parsed expectation
    (whose `exact` is the value a fix would set, when there is one)."""

    path: tuple[Any, ...]
    change: Change
    desired: Any
    actual: Any
    severity: str = "medium"
    waived: bool = False
    expected: Any = field(default=None, compare=False, repr=False)


@dataclass
class Item:
    """One line of the report: a CI, an untracked resource or an asset."""

    ci: str | None
    kind: str | None
    status: Status | None
    identity: Mapping[str, Any]
    owner: str | None = None
    asset: str | None = None
    severity: str | None = None
    drift: list[Drift] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # what a person needs to decide about it


@dataclass
class RunResult:
    id: str
    started_at: str
    finished_at: str
    sources: list[Source]
    items: list[Item]
    coverage: dict[str, Any] = field(default_factory=dict)  # figures, and by_owner: {owner: figures}
    exit_code: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    causes: list[dict[str, Any]] = field(default_factory=list)  # drift grouped by cause (report/causes.py)
    money: dict[str, Any] = field(default_factory=dict)  # money at stake (report/money.py)
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # findings new/changed/resolved
    impact: dict[str, dict[str, Any]] = field(default_factory=dict)  # what depends on drifted CIs (relations.py)
    fail_on: str | None = None  # the --fail-on threshold the exit code was computed against
    recorded: bool = True  # False for `untracked`'s view: no run is recorded under its id, so none is shown
    # The JSON report as built when the run was recorded (report/json.py): rendering reuses it. The
    # pipeline drops it whenever it changes the result afterwards.
    report: dict[str, Any] | None = field(default=None, compare=False, repr=False)
