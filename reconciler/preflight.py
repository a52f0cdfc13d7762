"""Checks made before a run collects anything: a run that cannot deliver its report, or that would look
at nothing, fails at once with one line (exit 1) instead of collecting, recording, then failing — or
saying "clean" about nothing.

In: the loaded Project and the run's options. Out: nothing, or a UsageError naming what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from .errors import UsageError
from .model import Project
from .userdata import clip


def check_project_dir(root: str) -> None:
    """Every command but `init` works on an existing project directory, and never creates one."""
    path = Path(root)
    if not path.exists():
        raise UsageError(f"--project {clip(root, 120)}: no such directory (create one with 'reconcile init DIR')")
    if not path.is_dir():
        raise UsageError(f"--project {clip(root, 120)}: not a directory")


def check_output(output: str | None) -> None:
    """--output FILE: its directory exists and is writable, and FILE is not a directory."""
    if not output:
        return
    path = Path(output)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--output {clip(output, 120)}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"--output {clip(output, 120)}: directory {clip(str(parent), 120)} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--output {clip(output, 120)}: not writable")


def check_facts_dir(facts_dir: str | None) -> None:
    if facts_dir and not Path(facts_dir).is_dir():
        raise UsageError(f"--facts-dir {clip(facts_dir, 120)}: no such directory")


def check_selection(project: Project, limit: str | None, kind: str | None) -> None:
    """--limit/--kind that match nothing, or a project with nothing to look at, is a mistake, not "clean"."""
    cis = project.cis
    if limit is not None and not any(fnmatchcase(ci.id, limit) for ci in cis):
        raise UsageError(f"--limit {clip(limit, 80)!r} matches no declared CI ({_some([ci.id for ci in cis])})")
    kinds = sorted(project.registry.kinds) if project.registry else []
    if kind is not None and not any(fnmatchcase(name, kind) for name in kinds):
        raise UsageError(f"--kind {clip(kind, 80)!r} matches no kind (known: {', '.join(kinds)})")
    selected = [ci for ci in cis if (limit is None or fnmatchcase(ci.id, limit))
                and (kind is None or fnmatchcase(ci.kind, kind))]
    if selected:
        return
    scanners = project.registry.scanners(project.settings) if project.registry and limit is None else []
    if not any(kind is None or any(fnmatchcase(k.name, kind) for k in s.kinds) for s in scanners):
        what = "no CI matches the selection" if (limit or kind) else "no CI is declared in desired/"
        raise UsageError(f"nothing to reconcile: {what}, and no collector scans for undeclared resources "
                         "(declare CIs, or add an 'aws:' section to reconciler.yml)")


def _some(names: Sequence[str]) -> str:
    if not names:
        return "none declared"
    shown = ", ".join(sorted(names)[:5])
    return f"declared: {shown}{', ...' if len(names) > 5 else ''}"
