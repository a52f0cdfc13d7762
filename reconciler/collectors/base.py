"""The collector interface: CIs of the kinds a collector owns in, one Collection out.

A collector declares the kinds it serves (each with the JSON Schema of its `desired`, its `match` and a
normaliser for desired values), and returns one FactSet per CI. It never raises for a target it cannot
reach: that target's FactSet carries the error and its CI becomes `unknown`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..model import CI, Collection, Project, Settings


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
