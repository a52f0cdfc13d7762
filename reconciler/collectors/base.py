"""The collector interface: CIs of the kinds a collector owns in, one Collection out.

A collector declares the kinds it serves (each with the JSON Schema of its `desired`, its `match` and a
normaliser for desired values), and returns one FactSet per CI. It never raises for a target it cannot
reach: that target's FactSet carries the error and its CI becomes `unknown`.

A collector may also split its work into jobs (reconciler.executors runs them anywhere): `prepare` (pure:
CIs + settings -> picklable Jobs, no clients or inventory objects inside), `run_job` (on any machine: one
Job -> a partial Collection) and `merge` (the partial Collections -> one). `collect` is then prepare, run
here, merge. A job that is lost (its worker died) becomes `lost_job`: its targets `unknown`, with the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..model import CI, Collection, FactSet, Project, Settings, Source


@dataclass(frozen=True)
class Section:
    """One fact section of a kind gathered section by section (a server's `packages`, `files`, ...).

    name/schema: the key in `desired` and facts, and the schema of its declared value (built from
    reconciler.expectations' fragments). request: the declared value → what to ask the target for (None:
    nothing to ask; a section without `request` is always gathered). merge: two requests for one target
    (several CIs on one host) → one. translate: the raw output of Ansible's setup/package_facts/
    service_facts → this section's facts, or None when those modules do not provide it.
    """

    name: str
    schema: Mapping[str, Any]
    request: Callable[[Any], Any] | None = None
    merge: Callable[[Any, Any], Any] | None = None
    translate: Callable[[Mapping[str, Any]], Any] | None = None


@dataclass(frozen=True)
class Kind:
    """A CI kind, the unit of extension: the schema of its `desired` and `match`, how desired values are
    normalised, its fact sections (for kinds gathered section by section), the identity keys that also
    carry a register identifier (`identifiers`: {"instance_id": ("id",)} — used by register
    identification), and its remediation actions (`actions`: filled by plan/apply)."""

    name: str
    desired_schema: Mapping[str, Any]
    match_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    normalise_desired: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    default_match: Callable[[str], dict[str, Any]] | None = None  # from the CI id
    sections: tuple[Section, ...] = ()
    identifiers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    actions: Mapping[str, Any] = field(default_factory=dict)


class Progress:
    """Live progress of a collection; the default one shows nothing."""

    def start(self, total: int, label: str) -> None: ...

    def advance(self, count: int = 1) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class CollectOptions:
    """Per-run options a collector may honour."""

    facts_dir: str | None = None
    progress: Progress = field(default_factory=Progress)
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Package-name globs whose installations the register counts (licence assets): a collector that
    # drops the packages no CI declares keeps those matching one of these (case-insensitive).
    licence_globs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A CI a job answers for: its id, the scope (host, account/region) it is looked for in, its identity."""

    ci: str
    scope: str
    identity: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One picklable unit of collection work: plain data only, so it can run in another process or on
    another machine. `targets`/`scopes`: what becomes unknown/failed if the job is lost."""

    collector: str
    label: str
    targets: tuple[Target, ...]
    scopes: tuple[str, ...]
    payload: Any


def lost_job(job: Job, reason: str) -> Collection:
    """The partial Collection of a job that gave no answer: every target unknown, every scope failed."""
    facts = {t.ci: FactSet(t.ci, job.collector, t.scope, error=reason, identity=dict(t.identity))
             for t in job.targets}
    sources = tuple(Source(job.collector, scope, "failed", reason) for scope in job.scopes)
    return Collection(facts=facts, sources=sources)


def merge_parts(parts: Sequence[Collection]) -> Collection:
    """Partial Collections side by side (jobs cover disjoint targets): facts, sources and observed joined."""
    facts: dict[str, FactSet] = {}
    for part in parts:
        facts.update(part.facts)
    stats = dict(parts[0].stats) if len(parts) == 1 else {}
    return Collection(facts=facts, sources=tuple(s for p in parts for s in p.sources),
                      observed=tuple(o for p in parts for o in p.observed), stats=stats)


class Collector(ABC):
    name: ClassVar[str]
    kinds: ClassVar[Sequence[Kind]]

    def __init__(self, project: Project, options: CollectOptions):
        self.project = project
        self.options = options

    @classmethod
    def active(cls, settings: Settings) -> bool:
        """Whether this collector takes part in runs with these settings."""
        return True

    @classmethod
    def scans(cls, settings: Settings) -> bool:
        """Whether it runs even when no CI of its kinds is selected: a collector that lists everything in
        a scope (a cloud account) finds undeclared resources that way."""
        return False

    @abstractmethod
    def collect(self, cis: Sequence[CI]) -> Collection:
        """Facts for each of `cis` (all of kinds this collector serves)."""

    def prepare(self, cis: Sequence[CI]) -> list[Job] | None:
        """The jobs that collect `cis`, or None: this collector runs whole, through `collect`, here."""
        return None

    @classmethod
    def run_job(cls, job: Job) -> Any:
        """One job's partial result (a Collection, or whatever this collector's `merge` takes); runs in
        whatever process or machine the executor chose. Must be picklable."""
        raise NotImplementedError(f"collector '{cls.name}' has no jobs")

    def merge(self, cis: Sequence[CI], parts: Sequence[Any]) -> Collection:
        """The jobs' partial results (in job order; a lost job's is `lost_job`) -> one Collection."""
        return merge_parts(parts)

    def collect_by_jobs(self, cis: Sequence[CI]) -> Collection:
        """prepare -> run each job here -> merge: `collect` for collectors split into jobs."""
        jobs = self.prepare(cis) or []
        progress = self.options.progress
        progress.start(sum(len(job.scopes) for job in jobs), self.name)
        parts = []
        for job in jobs:
            parts.append(type(self).run_job(job))
            progress.advance(len(job.scopes))
        progress.finish()
        return self.merge(cis, parts)
