"""Digests of plans and of the facts a step was planned from: canonical JSON, sha256, the facts cut down
to what a CI declares.

Place in the pipeline: plan.py seals plans and pins steps with these; apply's freshness check runs them on
the Ansible controller (reconciler/plugins/action/reconciler_fresh.py), inside the apply run, before any fix.
Standard library only, so that the action plugin imports nothing else of reconciler.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

WHOLE = None  # a section compared as a whole (not cut to declared names)


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def fact_shape(desired: Mapping[str, Any]) -> dict[str, list[str] | None]:
    """What of the facts a CI's digest covers: per declared section, its declared names, or WHOLE (a section
    that is not a mapping of names, or one matched as a whole: regex, ordered)."""
    return {
        key: list(want) if isinstance(want, dict) and not ({"regex", "ordered"} & set(want)) else WHOLE
        for key, want in desired.items()
    }


def cut_facts(shape: Mapping[str, list[str] | None], facts: Mapping[str, Any] | None) -> Any:
    """The facts cut down to the shape (section, then names), so that other CIs of the same host or a
    different gather set never change a CI's digest."""
    if facts is None:
        return None
    cut: dict[str, Any] = {}
    for key, names in shape.items():
        have = facts.get(key)
        if names is not None and isinstance(have, dict):
            cut[key] = {name: have.get(name) for name in names}
        else:
            cut[key] = have
    return cut
