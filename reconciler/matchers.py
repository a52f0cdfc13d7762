"""Value matchers: does an observed leaf value satisfy a declared one?

A declared leaf is a literal (equal after normalisation: "12" equals 12), `present`, `absent`, a glob
(`1.22.*`), a version constraint (">=1.22", "<2", ">=1.2,<2", compared as Debian/RPM versions with epochs
and tildes), or `{regex: "..."}` (searched, anchor it for a full match). Used by the diff stage only.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

PRESENT = "present"
ABSENT = "absent"


class Missing:
    """The observed value of a declared path that the target does not have."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()

_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")
_GLOB_CHARS = re.compile(r"[*?\[]")


def normalise(value: Any) -> Any:
    """Scalars to one comparable form: numbers and booleans as their YAML text, so "12" == 12."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    return value


def matches(desired: Any, actual: Any) -> bool:
    """True when `actual` satisfies the declared scalar or `{regex}` matcher `desired`."""
    if desired == ABSENT:
        return actual is MISSING
    if actual is MISSING:
        return False
    if desired == PRESENT:
        return True
    if isinstance(actual, list):  # several installed versions: any one satisfies
        return any(matches(desired, one) for one in actual)
    if isinstance(desired, dict):
        return isinstance(actual, (str, int, float)) and re.search(desired["regex"], str(actual)) is not None
    want, have = normalise(desired), normalise(actual)
    if want == have:
        return True
    if isinstance(want, str) and isinstance(have, str):
        return _pattern_matches(want, have)
    return False


def _pattern_matches(pattern: str, value: str) -> bool:
    constraints = _constraints(pattern)
    if constraints:
        return all(_compare(value, op, bound) for op, bound in constraints)
    return bool(_GLOB_CHARS.search(pattern)) and fnmatchcase(value, pattern)


@lru_cache(maxsize=4096)
def _constraints(pattern: str) -> tuple[tuple[str, str], ...]:
    if not pattern or pattern[0] not in "<>=!":
        return ()
    parts = [_CONSTRAINT.match(part) for part in pattern.split(",")]
    if not all(parts):
        return ()
    return tuple((m.group(1), m.group(2)) for m in parts if m)


def _compare(value: str, op: str, bound: str) -> bool:
    order = compare_versions(value, bound)
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0,
            "==": order == 0, "!=": order != 0}[op]


# --- versions, as dpkg and rpm order them ------------------------------------------------------------

def _split_epoch(version: str) -> tuple[int, str]:
    epoch, sep, rest = version.partition(":")
    if sep and epoch.isdigit():
        return int(epoch), rest
    return 0, version


def _char_order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_fragment(left: str, right: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (letters < symbols, ~ first) and numeric runs."""
    while left or right:
        left_text = re.match(r"\D*", left).group()  # type: ignore[union-attr]
        right_text = re.match(r"\D*", right).group()  # type: ignore[union-attr]
        for a, b in zip(left_text.ljust(len(right_text), "\0"), right_text.ljust(len(left_text), "\0")):
            ca, cb = (0 if a == "\0" else _char_order(a)), (0 if b == "\0" else _char_order(b))
            if ca != cb:
                return -1 if ca < cb else 1
        left, right = left[len(left_text):], right[len(right_text):]
        left_num = re.match(r"\d*", left).group()  # type: ignore[union-attr]
        right_num = re.match(r"\d*", right).group()  # type: ignore[union-attr]
        if int(left_num or 0) != int(right_num or 0):
            return -1 if int(left_num or 0) < int(right_num or 0) else 1
        left, right = left[len(left_num):], right[len(right_num):]
    return 0


@lru_cache(maxsize=65536)
def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1. `1.10` > `1.9`, `1:2.0` > `3.0` (epoch), `1.0~rc1` < `1.0` (tilde), `1.2-3` > `1.2-1`."""
    left_epoch, left_rest = _split_epoch(left)
    right_epoch, right_rest = _split_epoch(right)
    if left_epoch != right_epoch:
        return -1 if left_epoch < right_epoch else 1
    left_upstream, _, left_revision = left_rest.rpartition("-") if "-" in left_rest else (left_rest, "", "")
    right_upstream, _, right_revision = right_rest.rpartition("-") if "-" in right_rest else (right_rest, "", "")
    return _compare_fragment(left_upstream, right_upstream) or _compare_fragment(left_revision, right_revision)
