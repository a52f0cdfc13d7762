"""Example plugin: the `local.path` kind — a file or directory on the machine that runs `reconcile`.

This folder is where a project keeps its own kinds. reconciler loads every `plugins/*.py` of the project
by path and takes the collector classes listed in its `COLLECTORS`; nothing else is needed (no install,
no registration). See docs/reference.md, "Plugins: your own kinds". Copy this file into your project's
plugins/ and declare a CI:

    ci: nightly-backup
    kind: local.path
    owner: team-ops
    match: {path: /var/backups/nightly.tar.gz}
    desired: {exists: true, type: file, mode: "0600", owner: root, age_hours: "<26"}

Facts (the vocabulary `desired` may use): exists (bool), type (file | directory | symlink | other), mode
("0644"), owner and group (names), size (bytes), age_hours (whole hours since the last modification).
A path that does not exist has the facts {exists: false}; a path that cannot be looked at (permission
denied) makes its CI `unknown`. Read-only: it only calls lstat.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import stat
import time
from collections.abc import Sequence
from typing import Any

from reconciler.collectors.base import Collector, Kind
from reconciler.model import CI, Collection, FactSet, Source

_VALUE = {"anyOf": [{"type": ["string", "number", "boolean"]},
                    {"type": "object", "properties": {"regex": {"type": "string"}}, "required": ["regex"],
                     "additionalProperties": False}]}
_DESIRED = {"type": "object", "additionalProperties": False,
            "properties": {"exists": {"type": "boolean"},
                           "type": {"enum": ["file", "directory", "symlink", "other"]},
                           "mode": {"type": ["string", "integer"]}, "owner": _VALUE, "group": _VALUE,
                           "size": _VALUE, "age_hours": _VALUE}}
_MATCH = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"],
          "additionalProperties": False}


def _normalise(desired: dict[str, Any]) -> dict[str, Any]:
    """`mode: 0644` unquoted in YAML is the int 420: compare modes as 4-digit octal strings."""
    if isinstance(desired.get("mode"), int):
        desired["mode"] = format(desired["mode"], "04o")
    elif "mode" in desired:
        desired["mode"] = str(desired["mode"]).zfill(4)
    return desired


LOCAL_PATH = Kind("local.path", desired_schema=_DESIRED, match_schema=_MATCH, normalise_desired=_normalise)


def path_facts(path: str) -> dict[str, Any]:
    """The facts of one path; raises OSError (other than not found) when it cannot be looked at."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    kinds = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symlink"))
    return {"exists": True, "type": next((name for test, name in kinds if test(info.st_mode)), "other"),
            "mode": format(stat.S_IMODE(info.st_mode), "04o"), "owner": _name(pwd.getpwuid, info.st_uid),
            "group": _name(grp.getgrgid, info.st_gid), "size": info.st_size,
            "age_hours": int((time.time() - info.st_mtime) // 3600)}


def _name(lookup: Any, number: int) -> str:
    try:
        return str(lookup(number)[0])
    except KeyError:  # no such user or group any more: the number is what there is
        return str(number)


class LocalPathCollector(Collector):
    name = "local_path"
    kinds = (LOCAL_PATH,)

    def collect(self, cis: Sequence[CI]) -> Collection:
        scope = socket.gethostname()
        facts = {ci.id: self._one(ci, scope) for ci in cis}
        return Collection(facts=facts, sources=(Source(self.name, scope, "ok"),))

    def _one(self, ci: CI, scope: str) -> FactSet:
        path = str(ci.match["path"])
        try:
            return FactSet(ci.id, self.name, scope, facts=path_facts(path), identity={"path": path})
        except OSError as exc:  # a value, not an exception: this CI becomes unknown
            return FactSet(ci.id, self.name, scope, error=f"{path}: {exc.strerror or exc}",
                           identity={"path": path})


COLLECTORS = [LocalPathCollector]
