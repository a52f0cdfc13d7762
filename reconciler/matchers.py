"""Value matchers: does an observed leaf value satisfy a declared one?

A declared leaf is a literal (equal after normalisation: "12" equals 12), `present`, `absent`, a glob
(`1.22.*`), a version constraint (">=1.22", "<2", ">=1.2,<2", compared as Debian/RPM versions with epochs
and tildes), or `{regex: "..."}` (searched, anchor it for a full match). Used by the diff stage only.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from functools import lru_cache
from typing import Any, Callable

PRESENT = "present"
ABSENT = "absent"


class Missing:
    """The observed value of a declared path that the target does not have."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()

_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")
_GLOB_CHARS = re.compile(r"[*?\[]")


_BOOLEAN_TEXT = {"True": "true", "False": "false", "TRUE": "true", "FALSE": "false"}


def normalise(value: Any) -> Any:
    """Scalars to one comparable form: numbers and booleans as their YAML text, so "12" == 12."""
    if value.__class__ is str:
        return _BOOLEAN_TEXT.get(value, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):  # a str subclass (Ansible's tagged strings)
        return normalise(str(value))
    return value


def matches(desired: Any, actual: Any) -> bool:
    """True when `actual` satisfies the declared scalar or `{regex}` matcher `desired`."""
    key = ("regex", desired["regex"]) if isinstance(desired, dict) else desired
    return leaf_matcher(key)(actual)


_LEAVES: dict[tuple[Any, type], Callable[[Any], bool]] = {}
_MAX_LEAVES = 200_000


def leaf_matcher(desired: Any) -> Callable[[Any], bool]:
    """The check for one declared value, analysed once and shared by every CI that declares it. Keyed
    by value and type, as True, 1 and 1.0 are equal keys to a dict but different declarations."""
    key = (desired, desired.__class__)
    found = _LEAVES.get(key)
    if found is None:
        if len(_LEAVES) >= _MAX_LEAVES:
            _LEAVES.clear()
        found = _LEAVES[key] = _build_matcher(desired)
    return found


def _build_matcher(desired: Any) -> Callable[[Any], bool]:
    if desired == ABSENT:
        return lambda actual: actual is MISSING
    if desired == PRESENT:
        return lambda actual: actual is not MISSING
    if isinstance(desired, tuple):  # ("regex", pattern)
        return _any_of(_regex_check(re.compile(desired[1])))
    want = normalise(desired)
    pattern = _pattern_check(want) if isinstance(want, str) else None

    def check(actual: Any) -> bool:
        if actual.__class__ is desired.__class__ and actual == desired:
            return True
        if actual is MISSING:
            return False
        if actual.__class__ is list:  # several installed versions: any one satisfies
            return any(check(one) for one in actual)
        have = normalise(actual)
        return have == want or (pattern is not None and have.__class__ is str and bool(pattern(have)))

    return check


def _any_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Missing never matches; a list of installed versions matches when any one does."""

    def matcher(actual: Any) -> bool:
        if actual is MISSING:
            return False
        if isinstance(actual, list):
            return any(check(one) for one in actual)
        return check(actual)

    return matcher


def _regex_check(regex: re.Pattern[str]) -> Callable[[Any], bool]:
    return lambda actual: isinstance(actual, (str, int, float)) and regex.search(str(actual)) is not None


def _pattern_check(pattern: str) -> Callable[[str], bool] | None:
    constraints = _constraints(pattern)
    if constraints:
        bounds = [(_OPERATORS[op], version_key(bound)) for op, bound in constraints]
        return lambda have: all(compare(version_key(have), bound) for compare, bound in bounds)
    if _GLOB_CHARS.search(pattern):
        return re.compile(fnmatch.translate(pattern)).match  # type: ignore[return-value]
    return None


def _constraints(pattern: str) -> tuple[tuple[str, str], ...]:
    if not pattern or pattern[0] not in "<>=!":
        return ()
    parts = [_CONSTRAINT.match(part) for part in pattern.split(",")]
    if not all(parts):
        return ()
    return tuple((m.group(1), m.group(2)) for m in parts if m)


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


# --- versions, as dpkg and rpm order them ------------------------------------------------------------
#
# A version becomes a sort key once (cached), so comparing is a tuple comparison. dpkg compares
# alternating non-digit and digit runs: in non-digit runs `~` sorts before the end of the run, which sorts
# before letters, which sort before other symbols; digit runs compare as numbers. An end-of-version marker
# closes the key, so "1.0~rc1" < "1.0" < "1.0.1" come out right without padding the shorter version.

_RUNS = re.compile(r"(\D*)(\d*)")
_END = ((0,), 0)


def _char_order(char: str) -> int:
    if char == "~":
        return -1
    return ord(char) if char.isalpha() else ord(char) + 256


def _fragment_key(text: str) -> tuple[Any, ...]:
    runs = [(tuple(_char_order(c) for c in letters) + (0,), int(digits or 0))
            for letters, digits in _RUNS.findall(text) if letters or digits]
    return tuple(runs) + (_END,)


@lru_cache(maxsize=262144)
def version_key(version: str) -> tuple[Any, ...]:
    """`1.10` > `1.9`, `1:2.0` > `3.0` (epoch), `1.0~rc1` < `1.0` (tilde), `1.2-3` > `1.2-1` (revision)."""
    epoch_text, sep, rest = version.partition(":")
    epoch = int(epoch_text) if sep and epoch_text.isdigit() else 0
    rest = rest if sep and epoch_text.isdigit() else version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return (epoch, _fragment_key(upstream), _fragment_key(revision))


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1, as dpkg --compare-versions orders them."""
    a, b = version_key(left), version_key(right)
    return (a > b) - (a < b)
