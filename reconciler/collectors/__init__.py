"""The collector registry: built-ins, then `reconciler.collectors` entry points, then the project's
plugins/*.py (each exposing a `COLLECTORS` list). Nothing registers itself on import.

The registry knows every kind (and so every schema `validate` checks against) and which collector
serves a kind in this run: the first *active* one that declares it (facts_dir is active only when a
facts directory is given, so it takes `server` CIs over the ansible collector then).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..model import Settings
from ..userdata import short
from .ansible import AnsibleCollector
from .aws import AwsCollector
from .base import Collector, Kind
from .facts_dir import FactsDirCollector


def builtin_collectors() -> list[type[Collector]]:
    return [FactsDirCollector, AnsibleCollector, AwsCollector]  # facts_dir first: when active, it takes server CIs


@dataclass
class Registry:
    collectors: list[type[Collector]] = field(default_factory=list)

    @property
    def kinds(self) -> dict[str, Kind]:
        return {kind.name: kind for collector in self.collectors for kind in collector.kinds}

    def scanners(self, settings: Settings) -> list[type[Collector]]:
        return [collector for collector in self.collectors if collector.active(settings) and collector.scans(settings)]

    def collector_for(self, kind: str, settings: Settings) -> type[Collector] | None:
        for collector in self.collectors:
            if collector.active(settings) and any(k.name == kind for k in collector.kinds):
                return collector
        return None


def kind_schema(name: str) -> dict[str, Any] | None:
    """The desired schema of a built-in kind (None for others): for CIs built without a project load."""
    for collector in builtin_collectors():
        for kind in collector.kinds:
            if kind.name == name:
                return dict(kind.desired_schema)
    return None


def builtin_identifiers() -> dict[str, Mapping[str, tuple[str, ...]]]:
    """Kind.identifiers of the built-in kinds, by kind name."""
    return {kind.name: kind.identifiers for collector in builtin_collectors() for kind in collector.kinds}


def load_registry(root: Path, problems: list[Problem]) -> Registry:
    collectors = builtin_collectors()
    for entry in entry_points(group="reconciler.collectors"):
        collectors.append(entry.load())
    plugins = root / "plugins"
    for path in sorted(plugins.glob("*.py")) if plugins.is_dir() else []:
        collectors += _plugin_collectors(path, root, problems)
    return Registry(collectors)


def _plugin_collectors(path: Path, root: Path, problems: list[Problem]) -> list[type[Collector]]:
    spec = importlib.util.spec_from_file_location(f"reconciler_plugin_{path.stem}", path)
    if spec is None or spec.loader is None:
        return []
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 -- a broken plugin is a project problem, reported
        problems.append(Problem(str(path.relative_to(root)), f"plugin failed to load: {type(exc).__name__}: {exc}"))
        return []
    return _declared_collectors(module, str(path.relative_to(root)), problems)


def _declared_collectors(module: object, where: str, problems: list[Problem]) -> list[type[Collector]]:
    """`COLLECTORS`, checked: a list (or tuple) of Collector subclasses, each with a name and kinds."""
    declared = getattr(module, "COLLECTORS", [])
    if not isinstance(declared, (list, tuple)):
        problems.append(Problem(where, f"COLLECTORS must be a list of Collector classes, not "
                                f"{type(declared).__name__} ({short(declared)})"))
        return []
    good = []
    for number, entry in enumerate(declared):
        if not (isinstance(entry, type) and issubclass(entry, Collector)):
            problems.append(Problem(where, f"COLLECTORS[{number}] is {short(entry)}, not a subclass of "
                                    "reconciler.collectors.base.Collector"))
        elif not isinstance(getattr(entry, "name", None), str) or not all(
                isinstance(kind, Kind) for kind in getattr(entry, "kinds", None) or ()):
            problems.append(Problem(where, f"COLLECTORS[{number}] ({entry.__name__}) needs a `name` string and "
                                    "`kinds`, a list of Kind"))
        else:
            good.append(entry)
    return good
