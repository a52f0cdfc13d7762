"""The collector interface: CIs of the kinds a collector owns in, one Collection out.

A collector declares the kinds it serves (each with the JSON Schema of its `desired`, its `match` and a
normaliser for desired values), and returns one FactSet per CI. It never raises for a target it cannot
reach: that target's FactSet carries the error and its CI becomes `unknown`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..model import CI, Collection, Project, Settings


@dataclass(frozen=True)
class Kind:
    """A CI kind: the schema of its `desired` and `match`, and how desired values are normalised."""

    name: str
    desired_schema: Mapping[str, Any]
    match_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    normalise_desired: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    default_match: Callable[[str], dict[str, Any]] | None = None  # from the CI id


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
