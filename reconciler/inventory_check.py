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
from .userdata import Loader, load_all, short, yaml_problem

_YAML = (".yml", ".yaml", ".json")
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
_SKIPPED_DIRS = ("group_vars", "host_vars")


def check_sources(sources: list[str], parsed: dict[str, Any] | None = None) -> tuple[list[Problem], list[str]]:
    """Problems found, and the sources still worth handing to Ansible. `parsed` (when given) receives the
    data of each YAML inventory file found sound, by resolved path, so that nothing parses it again."""
    problems: list[Problem] = []
    usable: list[str] = []
    for source in sources:
        path = Path(source)
        bad = {file: found for file in _inventory_files(path) if (found := _check_inventory_file(file, parsed))}
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
        return None, [Problem(str(file), f"YAML error: {yaml_problem(exc, text)}", mark.line + 1 if mark else None)]
    except yaml.YAMLError as exc:
        return None, [Problem(str(file), f"YAML error: {exc}")]
    return (documents[0] if documents else None), []


def _check_inventory_file(file: Path, parsed: dict[str, Any] | None = None) -> list[Problem]:
    """Unreadable files, alias bombs, and YAML mappings of the wrong shape. Whatever else does not parse
    as YAML may be INI in a .yml file: Ansible's own parsers judge it (and we report their complaint).
    The file is loaded once; its data, when sound, goes to `parsed` for Ansible's plugins (inventory.py).
    Only a file of the wrong shape is composed again, to name the lines."""
    text, problems = _read(file)
    if text is None or file.suffix not in _YAML or problems:
        return problems
    data, problems = _parse(file, text)
    if problems and "alias" in problems[0].message:
        return problems
    if not problems and isinstance(data, dict) and ("plugin" in data or _sound(data)):
        if parsed is not None and "plugin" not in data:
            parsed[str(file.resolve())] = data
        return []
    try:
        node = next(iter(yaml.compose_all(text, Loader=Loader)), None)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode) or "plugin" in _keys(node):  # not YAML hosts, or a plugin config
        return []
    return [Problem(str(file), message, line) for line, message in _groups(node)]


def _keys(node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {str(key.value): (key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _groups(groups: yaml.MappingNode) -> list[tuple[int, str]]:
    """What Ansible's YAML inventory plugin would skip with a mere warning: groups that are not mappings,
    and hosts/children/vars entries that are not mappings (children recursively)."""
    found = []
    for name, (key, group) in _keys(groups).items():
        if _is_null(group):
            continue
        if not isinstance(group, yaml.MappingNode):
            message = f"group {short(name, 40)} must be a mapping (hosts:, children:, vars:), not {_kind(group)}"
            found.append((key.start_mark.line + 1, message))
            continue
        parts = _keys(group)
        for part in ("hosts", "children", "vars"):
            if part in parts and not _is_null(parts[part][1]) and not isinstance(parts[part][1], yaml.MappingNode):
                found.append((parts[part][0].start_mark.line + 1,
                              f"'{part}' of group {short(name, 40)} must be a mapping, not {_kind(parts[part][1])}"))
        if "children" in parts and isinstance(parts["children"][1], yaml.MappingNode):
            found += _groups(parts["children"][1])
    return found


def _sound(groups: dict[Any, Any]) -> bool:
    """`_groups` on loaded data: whether no group (or its hosts/children/vars) has the wrong shape."""
    for group in groups.values():
        if group is None:
            continue
        if not isinstance(group, dict):
            return False
        if any(group.get(part) is not None and not isinstance(group[part], dict)
               for part in ("hosts", "children", "vars")):
            return False
        if isinstance(group.get("children"), dict) and not _sound(group["children"]):
            return False
    return True


def _kind(node: yaml.Node) -> str:
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping" if isinstance(
        node, yaml.MappingNode) else "a single value"


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
