"""Value comparison primitives: normalisation of scalars ("12" equals 12) and version ordering as dpkg
and rpm order them. The matcher syntax built on them (literal, glob, constraint, regex, present, absent,
sets) lives in reconciler.expectations.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

PRESENT = "present"
ABSENT = "absent"


class Missing:
    """The observed value of a declared path that the target does not have."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()



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
    """True when `actual` satisfies the declared scalar or `{regex}`/`{literal}`/`{glob}` matcher `desired`."""
    from .expectations import VALUE, parse  # the syntax lives there; this is a convenience

    return parse(VALUE, desired).satisfied(actual)


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
