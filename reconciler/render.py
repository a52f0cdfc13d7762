"""desired/ files → YAML documents: Jinja2 rendering (StrictUndefined) then libyaml parsing.

In: the files under desired/ and the template context (inventory variables, `groups`, `hostvars`, `env`).
Out: a list of Document (parsed data + where it came from) and the Problems met on the way; every file is
tried, so `validate` can list every broken file at once.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
import yaml

from .errors import Problem
from .inventory import HostVariables, HostVars, HostVarsError, InventoryGroups
from .parallel_yaml import load_documents
from .userdata import Loader, clip, yaml_problem

SUFFIXES = (".yml", ".yaml", ".yml.j2", ".yaml.j2")
_JINJA_MARKS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Document:
    file: str  # relative to the project root
    index: int  # 0-based document index in its file
    data: Any
    text: str  # the rendered text of the whole file, to find key lines when reporting errors


def desired_files(desired_dir: Path) -> list[Path]:
    return sorted(p for p in desired_dir.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))


class _Undefined(jinja2.StrictUndefined):
    """StrictUndefined, worded in inventory terms when a template asks for a group, host or host variable
    there is not (Jinja2 alone says "'dict object' has no attribute 'web'")."""

    @property
    def _undefined_message(self) -> str:
        found, name = self._undefined_obj, self._undefined_name
        if isinstance(found, InventoryGroups):
            return (f"groups[{name!r}]: no such inventory group (the inventories have: "
                    f"{', '.join(sorted(found)) or 'none'})")
        if isinstance(found, HostVars):
            return f"hostvars[{name!r}]: no such host in the inventories"
        if isinstance(found, HostVariables):
            return (f"hostvars[{found.host!r}].{name}: host {found.host!r} has no such variable (set it in "
                    "the inventory, group_vars/ or host_vars/)")
        return str(super()._undefined_message)


def template_environment(desired_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(desired_dir)),
        undefined=_Undefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def read_documents(root: Path, files: list[Path], context: Mapping[str, Any],
                   env: jinja2.Environment) -> tuple[list[Document], list[Problem]]:
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in files:
        relative = str(path.relative_to(root))
        try:
            text = _render(path, root / "desired", context, env)
            documents.extend(_parse(relative, text))
        except HostVarsError as error:  # the inventory's fault, not the template's: reported once
            if error.reported:
                continue
            problem = error.problem
            if Path(problem.file).is_relative_to(root):
                problem = replace(problem, file=str(Path(problem.file).relative_to(root)))
            if problem not in problems:
                problems.append(problem)
        except _FileProblem as problem:
            problems.append(Problem(file=relative, line=problem.line, message=clip(problem.message)))
    return documents, problems


class _FileProblem(Exception):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


def _render(path: Path, desired_dir: Path, context: Mapping[str, Any], env: jinja2.Environment) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _FileProblem(f"cannot be read: {exc}") from None
    if not any(mark in text for mark in _JINJA_MARKS):
        return text
    try:
        return env.from_string(text).render(context)
    except HostVarsError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise _FileProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise _FileProblem(f"undefined variable in template: {exc.message}", _template_line(exc)) from None
    except jinja2.TemplateError as exc:
        raise _FileProblem(f"template error: {exc}", _template_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 -- a filter or test raising on user data is the user's template
        raise _FileProblem(f"template failed: {type(exc).__name__}: {exc}", _template_line(exc)) from None


def _template_line(exc: BaseException) -> int | None:
    """Jinja2 rewrites tracebacks so that template frames carry the template's own line numbers."""
    lines = [lineno for frame, lineno in traceback.walk_tb(exc.__traceback__)
             if frame.f_code.co_filename == "<template>"]
    return lines[-1] if lines else None


def _parse(relative: str, text: str) -> Iterator[Document]:
    try:
        datas = load_documents(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise _FileProblem(f"YAML syntax error: {yaml_problem(exc, text)}", line) from None
    except yaml.YAMLError as exc:
        raise _FileProblem(f"YAML error: {exc}") from None
    for index, data in enumerate(datas):
        if data is not None:
            yield Document(relative, index, data, text)


def line_of(text: str, document: int, path: tuple[Any, ...], key_line: bool = False) -> int | None:
    """Line of `path` (keys / list indexes) in the document-th YAML document of `text`, or the deepest
    existing parent; with `key_line`, the line of the last key itself rather than of its value. Only called
    when reporting an error, so re-composing the YAML here is fine."""
    try:
        node = list(yaml.compose_all(text, Loader=Loader))[document]
    except (yaml.YAMLError, IndexError):
        return None
    line = node.start_mark.line + 1 if node else None
    for depth, key in enumerate(path, 1):
        node = _child(node, key, key_line and depth == len(path))
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _child(node: Any, key: Any, key_itself: bool = False) -> Any:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == str(key):
                return value_node if not (key_itself or isinstance(value_node, yaml.ScalarNode)) else key_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]
    return None
