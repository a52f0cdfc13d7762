"""Drift paths: a tuple of keys, one display form, and the globs (ignore, severity, waivers) that match them.

Display form (docs/matchers.md): keys joined by dots; a key containing a dot, a bracket, a quote or
whitespace (or an empty key) is written `["..."]` in JSON quoting instead. So `packages["python3.11"]`,
`sysctl["net.ipv4.ip_forward"]`, `files./etc/shadow.mode`, `files["/etc/nginx/nginx.conf"].mode`.
`parse_path` reads it back, so the display form is the tuple's one text.

A glob covers a path (or anything below it) when it matches key by key (`packages.linux-image-*`,
`files["/etc/ssh/*"]`), or — so that globs written before paths were tuples keep working — when it
matches the plain dotted join of the keys (`files./etc/ssh/*`, `sysctl.net.ipv4.*`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

_NEEDS_QUOTES = re.compile(r'[.\[\]"\s]')


class DriftPath(tuple):  # type: ignore[type-arg]
    """A drift path: a tuple of keys. str() is the display form, and it compares equal to that text."""

    __slots__ = ()

    def __str__(self) -> str:
        return display(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return display(self) == other
        return tuple.__eq__(self, other)  # type: ignore[arg-type]

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


def key_text(key: Any) -> str:
    text = str(key)
    return f"[{json.dumps(text)}]" if not text or _NEEDS_QUOTES.search(text) else text


def display(parts: Iterable[Any]) -> str:
    out = ""
    for key in parts:
        text = key_text(key)
        out += text if (not out or text.startswith("[")) else "." + text
    return out


def dotted(parts: Iterable[Any]) -> str:
    """The pre-tuple form: keys joined by dots (ambiguous; kept for matching old globs)."""
    return ".".join(str(p) for p in parts)


_TOKEN = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|([^.\[]+)|\.')


def parse_path(text: str) -> tuple[str, ...]:
    """The display form (or a glob written in it) back to its keys."""
    parts: list[str] = []
    for found in _TOKEN.finditer(text):
        if found.group(1) is not None:
            parts.append(json.loads('"' + found.group(1) + '"'))
        elif found.group(2) is not None:
            parts.append(found.group(2))
    return tuple(parts)


def covers(glob: str, parts: tuple[Any, ...]) -> bool:
    """Whether `glob` matches the path `parts` or one of its ancestors."""
    pattern = parse_path(glob)
    if pattern and len(pattern) <= len(parts) and all(
            fnmatchcase(str(key), want) for key, want in zip(parts, pattern)):
        return True
    old = dotted(parts)
    return fnmatchcase(old, glob) or old.startswith(glob + ".")


def covers_qualified(glob: str, kind: str, ci: str, parts: tuple[Any, ...]) -> bool:
    """A project rule `kind:ci:path` glob."""
    if fnmatchcase(f"{kind}:{ci}:{dotted(parts)}", glob) or f"{kind}:{ci}:{dotted(parts)}".startswith(glob + "."):
        return True
    kind_glob, sep, rest = glob.partition(":")
    ci_glob, sep2, path_glob = rest.partition(":")
    return bool(sep and sep2 and fnmatchcase(kind, kind_glob) and fnmatchcase(ci, ci_glob)
                and covers(path_glob, parts))
