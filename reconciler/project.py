"""Loading a project: reconciler.yml + inventories/ + desired/ → a validated, frozen Project.

Order: settings, inventory (its variables feed the templates), collectors (they own the kinds and their
schemas), then every desired/ document rendered, parsed, merged with its baselines and validated. Every
problem found is collected; the load fails at the end with all of them (ProjectError).
"""

from __future__ import annotations

import copy
import functools
import marshal
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from . import cache
from .bulk import paused_gc
from .collectors import Registry, load_registry
from .collectors.base import Kind
from .errors import Problem, ProjectError
from .expectations import LoadError
from .expectations import parse as parse_expectations
from .inventory import Inventory, load_inventory
from .model import CI, SEVERITIES, Origin, Project, Settings
from .render import Document, desired_files, line_of, read_documents, template_environment
from .userdata import clip, may_alias, short, yaml_problem
from .userdata import load as load_yaml
from .validation import schema_problems

SETTINGS_FILE = "reconciler.yml"
_LEVEL = {"enum": list(SEVERITIES)}
_GLOBS = {"type": "array", "items": {"type": "string"}}
_TEXT = {"type": "string"}
_ACCOUNT_ID = {"type": ["string", "integer"]}
_SECONDS = {"type": "number", "exclusiveMinimum": 0}
_AWS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "regions": {"type": "array", "items": _TEXT, "minItems": 1},
        "accounts": {"type": "array", "items": {"anyOf": [_ACCOUNT_ID, {
            "type": "object", "additionalProperties": False,
            "properties": {"id": _ACCOUNT_ID, "profile": _TEXT, "role_arn": _TEXT, "external_id": _TEXT}}]}},
        "kinds": _GLOBS,
        "workers": {"type": "integer", "minimum": 1},
        "endpoint_concurrency": {"type": "integer", "minimum": 1},
        "max_attempts": {"type": "integer", "minimum": 1},
        "read_timeout": _SECONDS,
        "timeout": _SECONDS,  # read_timeout's earlier name
        "connect_timeout": _SECONDS,
    },
}
SETTINGS_SCHEMA = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "properties": {
        "register": {"type": "string"},
        "inventories": {"anyOf": [_GLOBS, {"type": "string"}]},
        "facts_dir": {"type": "string"},
        "executor": {"type": "string", "pattern": r"^(local|processes|dask://\S+:\d+)$"},  # executors.py
        "aws": _AWS,
        "ansible": {"type": "object", "additionalProperties": False,
                    "properties": {"forks": {"type": "integer", "minimum": 1},
                                   "timeout": {"type": "integer", "minimum": 1}}},
        "ignore": _GLOBS,
        "default_severity": _LEVEL,
        "severity": {"type": "object", "additionalProperties": _LEVEL},
        "stale_after": {"type": ["string", "integer"], "pattern": r"^\d+[dhw]?$", "minimum": 0},
        "identification": {"type": "object", "additionalProperties": {"type": "array", "items": {"enum": [
            "asset", "serial", "uuid", "instance_id", "arn", "bucket", "hostname", "mac"]}}},
        "notify": {"anyOf": [_GLOBS, {"type": "string"}]},  # Apprise URLs (reconciler/notify.py)
        "prices": {"type": "object"},  # cost estimate price table (reconciler/report/money.py)
    },
}
_COMMON = {
    "extends": {"anyOf": [_GLOBS, {"type": "string"}]},
    "desired": {"type": "object"},
    "ignore": _GLOBS,
    "severity": {"type": "object", "additionalProperties": _LEVEL},
}
CI_SCHEMA = {
    "type": "object",
    "required": ["ci", "kind"],
    "additionalProperties": False,
    "properties": {
        **_COMMON,
        "ci": {"type": "string", "minLength": 1},
        "kind": {"type": "string"},
        "owner": {"type": "string"},
        "asset": {"type": "string"},
        "environment": {"type": "string"},
        "match": {"type": "object"},
        "relations": {"type": "object", "additionalProperties": _GLOBS},
    },
}
BASELINE_SCHEMA = {
    "type": "object",
    "required": ["baseline"],
    "additionalProperties": False,
    "properties": {**_COMMON, "baseline": {"type": "string", "minLength": 1}},
}


@paused_gc()  # millions of containers built and kept: the collector's walks would find nothing to free
def load_project(root: Path | str, facts_dir: str | None = None) -> Project:
    """The whole project, validated; raises ProjectError listing every problem found."""
    root = Path(root).resolve()
    problems: list[Problem] = []
    settings = load_settings(root, problems)
    if facts_dir:
        settings = replace(settings, facts_dir=facts_dir)
    explicit = "inventories" in settings.raw  # the default inventories/ may simply not exist (cloud-only)
    sources = settings.inventories if explicit else _existing(root, settings.inventories)
    key = cache.project_key(root, sources) if not problems else None
    cached = cache.lookup(root, key)
    if cached is not None:  # the same files as a load that had no problem: only settings can have one
        registry = load_registry(root, problems)
        problems += _settings_problems(root, settings, registry, given_facts_dir=bool(facts_dir))
        inventory, cis = cached
    else:
        inventory = load_inventory(root, sources)
        problems += inventory.problems
        registry = load_registry(root, problems)
        problems += _settings_problems(root, settings, registry, given_facts_dir=bool(facts_dir))
        cis = load_cis(root, settings, inventory, registry, problems)
        if not problems:
            cache.store(root, key, inventory, cis)
    if problems:
        raise ProjectError(problems)
    return Project(root=root, settings=settings, cis=tuple(cis), inventory=inventory, registry=registry)


def _existing(root: Path, sources: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(source for source in sources if (root / source).exists())


# --- reconciler.yml ----------------------------------------------------------------------------------

def load_settings(root: Path, problems: list[Problem]) -> Settings:
    path = root / SETTINGS_FILE
    if not path.exists():
        return Settings()
    try:
        text = path.read_text(encoding="utf-8")
        raw = load_yaml(text) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problems.append(Problem(SETTINGS_FILE, f"YAML syntax error: {yaml_problem(exc, text)}", mark.line + 1 if mark else None))
        return Settings()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:  # unreadable, binary, not UTF-8, alias bomb
        problems.append(Problem(SETTINGS_FILE, f"cannot be read: {clip(str(exc))}"))
        return Settings()
    found = [replace(p, document=None) for p in schema_problems(SETTINGS_SCHEMA, raw, SETTINGS_FILE, text, 0)]
    problems += found
    return Settings() if found else _settings_from(raw)


def _settings_problems(root: Path, settings: Settings, registry: Registry, given_facts_dir: bool) -> list[Problem]:
    """What the schema cannot know: aws.kinds among the kinds the collectors serve, facts_dir existing."""
    text = _settings_text(root)
    problems = []
    known = sorted(name for name in registry.kinds if name.startswith("aws."))
    for number, kind in enumerate(settings.aws.get("kinds") or ()):
        if kind not in known:
            problems.append(Problem(SETTINGS_FILE, f"unknown kind {short(kind)} (known: {', '.join(known)})",
                                    line_of(text, 0, ("aws", "kinds", number)), path=f"aws.kinds.{number}"))
    facts_dir = settings.facts_dir
    if facts_dir and not given_facts_dir and not (root / facts_dir).is_dir():
        problems.append(Problem(SETTINGS_FILE, f"facts_dir {short(facts_dir)} is not a directory",
                                line_of(text, 0, ("facts_dir",)), path="facts_dir"))
    return problems


def _settings_text(root: Path) -> str:
    try:
        return (root / SETTINGS_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _settings_from(raw: Mapping[str, Any]) -> Settings:
    inventories = raw.get("inventories", ["inventories/"])
    return Settings(
        register=os.environ.get("RECONCILER_REGISTER") or raw.get("register", Settings.register),
        inventories=tuple([inventories] if isinstance(inventories, str) else inventories),
        facts_dir=raw.get("facts_dir"),
        aws=raw.get("aws") or {},
        ansible=raw.get("ansible") or {},
        ignore=tuple(raw.get("ignore") or ()),
        default_severity=raw.get("default_severity", "medium"),
        severity=raw.get("severity") or {},
        stale_after_days=parse_days(raw.get("stale_after", "30d")),
        raw=raw,
    )


def parse_days(value: str | int) -> int:
    """'30d', '12h' (rounded up to a day), '2w' or a bare number of days."""
    number, unit = re.fullmatch(r"(\d+)([dhw]?)", str(value)).groups()  # type: ignore[union-attr]
    return {"": int(number), "d": int(number), "w": int(number) * 7, "h": -(-int(number) // 24)}[unit]


# --- desired/ -----------------------------------------------------------------------------------------

def template_context(inventory: Inventory) -> dict[str, Any]:
    from .inventory import InventoryGroups

    return {"groups": InventoryGroups(inventory.groups), "hostvars": inventory.hostvars, "env": dict(os.environ)}


def load_cis(root: Path, settings: Settings, inventory: Inventory, registry: Registry,
             problems: list[Problem]) -> list[CI]:
    desired_dir = root / "desired"
    if not desired_dir.is_dir():
        return []
    env = template_environment(desired_dir)
    documents, found = read_documents(root, desired_files(desired_dir), template_context(inventory), env)
    problems += found
    baselines, declared = _split(documents, problems)
    cis: dict[str, CI] = {}
    shared: dict[tuple[Any, ...], tuple[Any, Any]] = {}
    for document in declared:
        ci = _build_ci(document, baselines, registry.kinds, problems, shared)
        if ci is None:
            continue
        if ci.id in cis:
            problems.append(Problem(document.file, f"duplicate CI id {short(ci.id)}, also declared in "
                                    f"{cis[ci.id].origin}", document=document.index, path="ci"))
            continue
        cis[ci.id] = ci
    return list(cis.values())


def _split(documents: list[Document], problems: list[Problem]) -> tuple[dict[str, Document], list[Document]]:
    baselines: dict[str, Document] = {}
    declared = []
    for document in documents:
        data = document.data
        if isinstance(data, dict) and "baseline" in data:
            found = schema_problems(BASELINE_SCHEMA, data, document.file, document.text, document.index)
            problems += found
            if found:
                continue
            if data["baseline"] in baselines:
                first = baselines[data["baseline"]]
                problems.append(_at(document, ("baseline",), f"duplicate baseline {short(data['baseline'])}, "
                                    f"also declared in {first.file} (document {first.index + 1})"))
                continue
            baselines[data["baseline"]] = document
        elif isinstance(data, dict) and "ci" in data:
            declared.append(document)
        else:
            problems.append(Problem(document.file, "a document must be a mapping with 'ci:' (a CI) or "
                                    "'baseline:' (a baseline)", document=document.index))
    return baselines, declared


def _build_ci(document: Document, baselines: dict[str, Document], kinds: Mapping[str, Kind],
              problems: list[Problem], shared: dict[tuple[Any, ...], tuple[Any, Any]]) -> CI | None:
    data = document.data
    found = schema_problems(CI_SCHEMA, data, document.file, document.text, document.index)
    if found:
        problems += found
        return None
    kind = kinds.get(data["kind"])
    if kind is None:
        problems.append(_at(document, ("kind",), f"unknown kind {short(data['kind'])} (known: {', '.join(sorted(kinds))})"))
        return None
    try:
        layers = _layers(data, baselines, ())
    except _BaselineError as exc:
        problems.append(_at(document, ("extends",), str(exc)))
        return None
    match = data.get("match") or (kind.default_match(data["ci"]) if kind.default_match else {})
    match_problems = schema_problems(kind.match_schema, match, document.file, document.text, document.index,
                                     prefix=("match",))
    built = _desired_of(document, layers, kind, problems, shared)
    problems += match_problems
    if built is None or match_problems:
        return None
    desired, expected = built
    ignore, severity = _rules_of(layers)
    return CI(
        id=str(data["ci"]), kind=kind.name, desired=desired, match=match, expected=expected,
        origin=Origin(document.file, document.index), owner=data.get("owner"), asset=data.get("asset"),
        environment=data.get("environment"),
        relations={k: tuple(v) for k, v in (data.get("relations") or {}).items()},
        ignore=ignore, severity=severity, extends=tuple(_as_list(data.get("extends"))),
    )


def _desired_of(document: Document, layers: list[Mapping[str, Any]], kind: Kind, problems: list[Problem],
                shared: dict[tuple[Any, ...], tuple[Any, Any]]) -> tuple[Any, Any] | None:
    """The CI's merged, validated `desired` and its expectations. CIs stamped from one template mostly
    declare the same: a valid result is shared by every CI of the same kind, baselines and own
    `desired` (compared as marshal bytes: equal types and values, in order), and read-only after."""
    key = _same_desired(kind.name, document.data)
    if key is not None and key in shared:
        return shared[key]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer.get("desired") or {})
    desired = copy.deepcopy(merged) if _anchored(document.text) else _copy(merged)
    found = schema_problems(kind.desired_schema, desired, document.file, document.text, document.index,
                            prefix=("desired",))
    if found:
        problems += found
        return None
    if kind.normalise_desired:
        desired = kind.normalise_desired(desired)
    errors: list[LoadError] = []
    expected = parse_expectations(kind.desired_schema, desired, (), errors)
    if errors:
        problems += [_at(document, ("desired",) + error.path, str(error)) for error in errors]
        return None
    if key is not None:
        shared[key] = (desired, expected)
    return desired, expected


def _same_desired(kind: str, data: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The memo key of a CI's desired state, or None for values marshal cannot write (dates, a
    recursive alias): those CIs are built on their own."""
    try:
        return kind, marshal.dumps(data.get("extends")), marshal.dumps(data.get("desired"))
    except ValueError:
        return None


def _rules_of(layers: list[Mapping[str, Any]]) -> tuple[tuple[str, ...], dict[str, str]]:
    """ignore and severity of the baselines in `extends` order, the CI's own last."""
    ignore: list[str] = []
    severity: dict[str, str] = {}
    for layer in layers:
        ignore += layer.get("ignore") or []
        severity = {**severity, **(layer.get("severity") or {})}
    return tuple(ignore), severity


@functools.lru_cache(maxsize=4)  # documents come file by file
def _anchored(text: str) -> bool:
    """Once per file (its documents share one text; a str keeps its hash): whether it has YAML anchors."""
    return may_alias(text)


def _copy(value: Any) -> Any:
    """A deep copy of YAML data without anchors (no shared or recursive parts): ~5x copy.deepcopy."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


class _BaselineError(Exception):
    pass


def _layers(data: Mapping[str, Any], baselines: dict[str, Document], seen: tuple[str, ...]) -> list[Mapping[str, Any]]:
    layers: list[Mapping[str, Any]] = []
    for name in _as_list(data.get("extends")):
        if name in seen:
            raise _BaselineError(f"baseline cycle: {' -> '.join(map(short, seen + (name,)))}")
        if name not in baselines:
            known = ", ".join(sorted(baselines)) or "none declared"
            raise _BaselineError(f"baseline {short(name)} does not exist (known: {clip(known, 200)})")
        layers += _layers(baselines[name].data, baselines, seen + (name,))
    return layers + [data]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced by the override."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _at(document: Document, path: tuple[Any, ...], message: str) -> Problem:
    return Problem(document.file, message, line_of(document.text, document.index, path), document.index,
                   ".".join(map(str, path)))
