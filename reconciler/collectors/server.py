"""The `server` kind: its fact sections (one `Section` each: schema, request, merge, translation), its
desired schema built from them, and the fact vocabulary every server collector produces.

Vocabulary (what `desired` of a server CI may declare, and what collectors return):

    hostname: str
    os:        {distribution, version, major_version, release, family, kernel, arch}
    hardware:  {serial, uuid, vendor, model, memory_mb, cpus}
    packages:  {name: version}            version string; a list when several versions are installed
    services:  {name: {state: running|stopped, enabled: bool}}
    service_manager: systemd|sysv         (fact module, with services; not declarable: service fixes use it)
    files:     {path: {exists: bool, mode: "0644", owner, group, contains: [lines found of those declared]}}
    sysctl:    {key: value}
    users:     {name: {uid, gid, home, shell, groups: [names]}}
    groups:    {name: {gid, members: [names]}}
    listening_ports: [int]

`normalise_setup_facts` translates the raw output of Ansible's builtin fact modules (setup,
package_facts, service_facts) into that vocabulary; facts_dir uses it, and the tests use it as the
reference for the ansible collector's own fact module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expectations import PRESENCE, SET, VALUE
from ..fixers import server as server_fixers
from .base import Kind, Section


def _record(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _named(record: dict[str, Any]) -> dict[str, Any]:
    """A mapping name -> record, or name -> present/absent."""
    return {"type": "object", "additionalProperties": {"anyOf": [record, PRESENCE]}}


_STRINGS = {key: VALUE for key in ("distribution", "version", "major_version", "release", "family",
                                      "kernel", "arch")}
def normalise_mode(mode: Any) -> str:
    """0644 written unquoted in YAML arrives as the int 420; "644" and "0644" are the same mode."""
    if isinstance(mode, int):
        return format(mode, "04o")
    text = str(mode)
    return text.zfill(4) if text.isdigit() else text


_FILE_PRESENCE = {"absent": {"exists": False}, "present": {"exists": True}}


def normalise_server_desired(desired: dict[str, Any]) -> dict[str, Any]:
    """A file declared `absent`/`present` is `{exists: false/true}` (collectors report missing files so);
    modes become 4-digit octal strings."""
    files = desired.get("files") or {}
    for path, spec in files.items():
        if isinstance(spec, str):
            files[path] = dict(_FILE_PRESENCE[spec])
        elif "mode" in spec:
            spec["mode"] = normalise_mode(spec["mode"])
    return desired


# --- translation of Ansible's builtin fact modules -------------------------------------------------

_OS_KEYS = {
    "distribution": "distribution",
    "version": "distribution_version",
    "major_version": "distribution_major_version",
    "release": "distribution_release",
    "family": "os_family",
    "kernel": "kernel",
    "arch": "architecture",
}
_HARDWARE_KEYS = {
    "serial": "product_serial",
    "uuid": "product_uuid",
    "vendor": "system_vendor",
    "model": "product_name",
    "memory_mb": "memtotal_mb",
    "cpus": "processor_vcpus",
}


def _fact(facts: Mapping[str, Any], name: str) -> Any:
    """A setup fact, whether stored with the `ansible_` prefix (setup, caches) or without (ansible_facts)."""
    return facts.get("ansible_" + name, facts.get(name))


def _section(facts: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, Any]:
    found = {ours: _fact(facts, theirs) for ours, theirs in keys.items()}
    return {key: value for key, value in found.items() if value is not None}


def package_version(entry: Mapping[str, Any]) -> str:
    """package_facts' record -> one version string: epoch:version-release (rpm) or version (apt)."""
    version = str(entry.get("version", ""))
    if entry.get("release"):
        version += f"-{entry['release']}"
    if entry.get("epoch") not in (None, "", 0, "0"):
        version = f"{entry['epoch']}:{version}"
    return version


def normalise_packages(packages: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, entries in packages.items():
        if len(entries) == 1:  # the common record (apt: no release, no epoch): 150 a host, 10,000 hosts
            entry = entries[0]
            if not entry.get("release") and entry.get("epoch") in (None, "", 0, "0"):
                result[name] = str(entry.get("version", ""))
                continue
        versions = sorted({package_version(entry) for entry in entries})
        result[name] = versions[0] if len(versions) == 1 else versions
    return result


def normalise_services(services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    result = {}
    for unit, info in services.items():
        name = unit.removesuffix(".service")
        result[name] = {"state": "running" if info.get("state") == "running" else "stopped",
                        "enabled": info.get("status") in ("enabled", "static", "alias")}
    return result


def normalise_setup_facts(facts: Mapping[str, Any], sections: tuple[Section, ...] | None = None) -> dict[str, Any]:
    """Facts of setup (+ package_facts, service_facts when gathered) -> the server vocabulary."""
    found = ((section.name, section.translate(facts)) for section in sections or SECTIONS if section.translate)
    return {name: value for name, value in found if value is not None}


# --- the sections and the kind ------------------------------------------------------------------------

def _names(declared: Any) -> list[str] | None:
    """Ask the host for the declared names only."""
    return sorted(declared) or None


def _union(left: list[str], right: list[str]) -> list[str]:
    return sorted(set(left) | set(right))


def _file_requests(declared: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """path -> the lines whose presence the host checks."""
    return {path: list(spec.get("contains") or []) if isinstance(spec, Mapping) else []
            for path, spec in declared.items()} or None


def _merge_files(left: Mapping[str, list[str]], right: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {path: sorted(set(left.get(path, [])) | set(right.get(path, []))) for path in {**left, **right}}


def _when_dict(key: str, translate: Any) -> Any:
    return lambda facts: translate(facts[key]) if isinstance(facts.get(key), dict) else None


# The host module (plugins/modules/reconciler_facts.py) gathers each section that has a `request`;
# tests/test_fact_module.py checks its list against this one.
SECTIONS: tuple[Section, ...] = (
    Section("os", _record(**_STRINGS), translate=lambda facts: _section(facts, _OS_KEYS)),
    Section("hardware", _record(**{k: VALUE for k in ("serial", "uuid", "vendor", "model", "memory_mb", "cpus")}),
            translate=lambda facts: _section(facts, _HARDWARE_KEYS)),
    Section("hostname", VALUE, translate=lambda facts: _fact(facts, "hostname")),
    Section("packages", {"type": "object", "additionalProperties": VALUE}, request=_names, merge=_union,
            translate=_when_dict("packages", normalise_packages)),
    Section("services", _named(_record(state={"enum": ["running", "stopped"]}, enabled={"type": "boolean"})),
            request=_names, merge=_union, translate=_when_dict("services", normalise_services)),
    Section("files", _named(_record(exists={"type": "boolean"}, mode={"type": ["string", "integer"]},
                                    owner=VALUE, group=VALUE, contains={"type": "array", "items": {"type": "string"}})),
            request=_file_requests, merge=_merge_files),
    Section("sysctl", {"type": "object", "additionalProperties": VALUE}, request=_names, merge=_union),
    Section("users", _named(_record(uid=VALUE, gid=VALUE, home=VALUE, shell=VALUE, groups=SET)),
            request=_names, merge=_union),
    Section("groups", _named(_record(gid=VALUE, members=SET)), request=_names, merge=_union),
    Section("listening_ports", SET, request=lambda declared: True, merge=lambda left, right: True),
)
SERVER_SCHEMA: dict[str, Any] = _record(**{section.name: section.schema for section in SECTIONS})

SERVER = Kind(
    name="server",
    desired_schema=SERVER_SCHEMA,
    match_schema=_record(host={"type": "string"}),
    normalise_desired=normalise_server_desired,
    default_match=lambda ci_id: {"host": ci_id},
    sections=SECTIONS,
    actions={"plan": server_fixers.fix},  # steps run as one playbook (fixers/server_play.py)
)

