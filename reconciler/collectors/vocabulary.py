"""The server fact vocabulary as a gate: facts that arrive already "normalised" (the `reconciler_facts`
shape saved in a facts file) are checked and reduced to that vocabulary before anything keeps them (a
`password` key a fact module added never reaches the register).

In: a facts mapping from outside. Out: the same facts, only the known sections, each of the documented
shape (collectors/server.py) — or a ValueError naming what is wrong, which makes that host `unknown`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class ShapeError(ValueError):
    """Facts that are not of the vocabulary's shape."""


_OS = ("distribution", "version", "major_version", "release", "family", "kernel", "arch")
_HARDWARE = ("serial", "uuid", "vendor", "model", "memory_mb", "cpus")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _record(keys: tuple[str, ...] | None) -> Callable[[str, Any], Any]:
    def check(where: str, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ShapeError(f"{where} must be an object, not {type(value).__name__}")
        return {k: v for k, v in value.items() if keys is None or k in keys}
    return check


def _named(check_one: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    def check(where: str, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ShapeError(f"{where} must be an object, not {type(value).__name__}")
        return {str(name): check_one(f"{where}.{name}", item) for name, item in value.items()}
    return check


def _version(where: str, value: Any) -> Any:
    if _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value)):
        return value
    raise ShapeError(f"{where} must be a version string (or a list of them), not {type(value).__name__}")


def _value(where: str, value: Any) -> Any:
    if _scalar(value) or isinstance(value, list):
        return value
    raise ShapeError(f"{where} must be a value, not {type(value).__name__}")


def _ports(where: str, value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, (int, str)) for v in value):
        return value
    raise ShapeError(f"{where} must be a list of port numbers")


def _hostname(where: str, value: Any) -> Any:
    if _scalar(value):
        return value
    raise ShapeError(f"{where} must be a string")


SECTIONS: dict[str, Callable[[str, Any], Any]] = {
    "hostname": _hostname, "os": _record(_OS), "hardware": _record(_HARDWARE),
    "packages": _named(_version), "services": _named(_record(("state", "enabled"))),
    "files": _named(_record(("exists", "mode", "owner", "group", "contains"))), "sysctl": _named(_value),
    "users": _named(_record(("uid", "gid", "home", "shell", "groups"))),
    "groups": _named(_record(("gid", "members"))), "listening_ports": _ports,
}


def vocabulary(facts: Any) -> dict[str, Any]:
    """Only the known sections of `facts`, each checked for its shape; unknown keys are dropped."""
    if not isinstance(facts, Mapping):
        raise ShapeError(f"reconciler_facts must be an object, not {type(facts).__name__}")
    return {section: check(section, facts[section]) for section, check in SECTIONS.items() if section in facts}
