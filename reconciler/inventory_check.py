"""A look at inventory files before Ansible parses them: what Ansible would skip with a warning, or only
trip over later inside a template (an unreadable file, a YAML inventory of the wrong shape, a group_vars
file that is not YAML), is a Problem naming the file and line.

In: the inventory sources (files or directories). Out: Problems, and the sources that Ansible may read.
host_vars/ files are not read here (one per host: at fleet scale that would double the load time); a bad
one surfaces, named, when the host's variables are first computed (inventory.HostVarsError).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Problem
from .render import line_of
from .userdata import load_all, short

_YAML = (".yml", ".yaml", ".json")
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
_SKIPPED_DIRS = ("group_vars", "host_vars")


def check_sources(sources: list[str]) -> tuple[list[Problem], list[str]]:
    """Problems found, and the sources still worth handing to Ansible."""
    problems: list[Problem] = []
    usable: list[str] = []
    for source in sources:
        path = Path(source)
        bad = {file: found for file in _inventory_files(path) if (found := _check_inventory_file(file))}
        for found in bad.values():
            problems += found
        for file in _vars_files((path if path.is_dir() else path.parent) / "group_vars"):
            problems += _check_vars_file(file)
        if not bad:
            usable.append(source)
        elif path.is_dir():  # Ansible must not read the bad files (an alias bomb would hang it): the rest only
            usable += [str(entry) for entry in sorted(path.iterdir()) if entry not in bad
                       and entry.name not in _SKIPPED_DIRS and not entry.name.startswith(".")]
    return problems, usable


def _inventory_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(("~", ".orig", ".bak", ".retry", ".pyc", ".cfg")))


def _vars_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    files = [p for p in directory.rglob("*") if p.is_file() and p.suffix in _VARS_SUFFIXES
             and not p.name.startswith(".")]
    return sorted(files)


def _read(file: Path) -> tuple[str | None, list[Problem]]:
    try:
        return file.read_text(encoding="utf-8"), []
    except UnicodeDecodeError:
        return None, [Problem(str(file), "cannot be read: not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(str(file), f"cannot be read: {exc.strerror or exc}")]


def _parse(file: Path, text: str) -> tuple[Any, list[Problem]]:
    try:
        documents = load_all(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, [Problem(str(file), f"YAML error: {exc.problem or exc}", mark.line + 1 if mark else None)]
    except yaml.YAMLError as exc:
        return None, [Problem(str(file), f"YAML error: {exc}")]
    return (documents[0] if documents else None), []


def _check_inventory_file(file: Path) -> list[Problem]:
    """Unreadable files, alias bombs, and YAML mappings of the wrong shape. Whatever else does not parse
    as YAML may be INI in a .yml file: Ansible's own parsers judge it (and we report their complaint)."""
    text, problems = _read(file)
    if text is None or file.suffix not in _YAML or problems:
        return problems
    data, problems = _parse(file, text)
    if problems:
        return problems if "alias" in problems[0].message else []
    if not isinstance(data, dict) or "plugin" in data:  # not YAML hosts, or an inventory plugin's config
        return []
    return [Problem(str(file), message, line_of(text, 0, path)) for path, message in _groups(data, ())]


def _groups(groups: dict[Any, Any], at: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """What Ansible's YAML inventory plugin would skip with a mere warning: groups that are not mappings,
    and hosts/children/vars entries that are not mappings (children recursively)."""
    found = []
    for name, group in groups.items():
        path = at + (name,)
        if group is None:
            continue
        if not isinstance(group, dict):
            found.append((path, f"group {short(name, 40)} must be a mapping (hosts:, children:, vars:), "
                                f"not {type(group).__name__}"))
            continue
        for key in ("hosts", "children", "vars"):
            if group.get(key) is not None and not isinstance(group[key], dict):
                found.append((path + (key,), f"'{key}' of group {short(name, 40)} must be a mapping, not "
                                             f"{type(group[key]).__name__}"))
        if isinstance(group.get("children"), dict):
            found += _groups(group["children"], path + ("children",))
    return found


def _check_vars_file(file: Path) -> list[Problem]:
    text, problems = _read(file)
    if text is None or problems:
        return problems
    data, problems = _parse(file, text)
    if problems or data is None:
        return problems
    if not isinstance(data, dict):
        return [Problem(str(file), f"variables must be a mapping, not {type(data).__name__}", 1)]
    return []
