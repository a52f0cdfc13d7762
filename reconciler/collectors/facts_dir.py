"""The facts_dir collector: server facts that another system already gathered, read from files.

In: a directory with one JSON file per inventory host, named by its inventory hostname, as written by
`ansible -m setup --tree DIR` or by Ansible's jsonfile fact cache (before 2.19: a flat dict of facts;
2.19: `{"__payload__": "<json>"}` in a file prefixed `s<N>_`). Out: the server vocabulary (server.py).
A host without a file, a file that does not parse, a `--tree` result that says the host was unreachable,
or facts lacking a section some CI declares make that host's CIs `unknown`, never in sync.

Only the packages and services some CI of the host declares are normalised and kept (a host lists ~150
packages and as many units; CIs declare a few), plus the packages a licence in the register counts
(`CollectOptions.licence_globs`): what the diff, classification and register see is the same, at a
fraction of the memory a 100,000-host run holds. The sections themselves stay, so "facts lacking a
declared section" reads as before, and a malformed record is reported whether declared or not.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from .. import cache
from ..bulk import paused_gc
from ..model import CI, Collection, FactSet, Observed, Settings, Source
from ..userdata import clip
from .base import Collector, Job, Target
from .server import SERVER, normalise_setup_facts
from .vocabulary import ShapeError, vocabulary

_CACHE_PREFIX = re.compile(r"^s\d+_")
Names = frozenset[str]
Keep = tuple[Names, Names]  # package names, service names a host's CIs declare
NOTHING: Keep = (frozenset(), frozenset())
SHARD_SIZE = 500  # hosts per job: big enough that a job outweighs its scheduling, small enough to spread


class FactsDirCollector(Collector):
    name = "facts_dir"
    kinds = (SERVER,)

    @classmethod
    def active(cls, settings: Settings) -> bool:
        return bool(settings.facts_dir)

    def collect(self, cis: Sequence[CI]) -> Collection:
        return self.collect_by_jobs(cis)

    def prepare(self, cis: Sequence[CI]) -> list[Job]:
        """Shards of hosts, each carrying what its worker needs (the directory, each host's file name,
        whether the inventory knows it, its CIs' declared sections): no inventory is read there."""
        directory = self._directory()
        files = _index(directory)
        by_host: dict[str, list[CI]] = {}
        for ci in cis:
            by_host.setdefault(str(ci.match.get("host", ci.id)), []).append(ci)
        known = self.project.inventory.host_names
        shared: dict[Keep, Keep] = {}  # hosts stamped from one template share one pair (pickled once a job)
        entries = [(host, files.get(host), host in known, tuple((ci.id, tuple(ci.desired)) for ci in group),
                    _declared(group, shared)) for host, group in by_host.items()]
        # facts but no CI: observed, so it can be untracked
        entries += [(host, files[host], True, (), NOTHING) for host in self.project.inventory.hosts
                    if host not in by_host and host in files]
        size = int(self.options.extra.get("shard_size") or SHARD_SIZE)
        shards = math.ceil(len(entries) / size)
        store = (str(self.project.root / cache.SHARDS_DIR), cache.code_key(), 2 * shards)
        return [self._job(str(directory), entries[start:start + size], store)
                for start in range(0, len(entries), size)]

    def _job(self, directory: str, entries: list[tuple], store: tuple[str, str, int]) -> Job:
        targets = tuple(Target(ci, host, {"host": host}) for host, _, _, cis, _ in entries for ci, _ in cis)
        hosts = tuple(host for host, *_ in entries)
        return Job(self.name, f"facts of {hosts[0]} .. {hosts[-1]} ({len(hosts)} hosts)", targets, hosts,
                   (directory, tuple(entries), tuple(self.options.licence_globs), store))

    @classmethod
    @paused_gc()  # a shard's decoded facts are kept: collector walks over them would find nothing to free
    def run_job(cls, job: Job) -> Collection:
        """A shard's facts; the same request over the same file bytes answers from the shard cache."""
        directory, entries, globs, (store, code, keep_entries) = job.payload
        contents = {host: _read(Path(directory) / name) for host, name, known, _, _ in entries if known and name}
        request = (code, directory, globs, [(host, name, known, cis, sorted(packages), sorted(services))
                                            for host, name, known, cis, (packages, services) in entries])
        key = cache.shard_key(request, contents.values())
        found = cache.shard_lookup(Path(store), key)
        if isinstance(found, Collection):
            return found
        collection = cls._collect_shard(Path(directory), entries, Licensed(globs), contents)
        cache.shard_store(Path(store), key, collection, keep_entries)
        return collection

    @classmethod
    def _collect_shard(cls, directory: Path, entries: Sequence[tuple], licensed: Licensed,
                       contents: Mapping[str, bytes | str]) -> Collection:
        facts, sources, observed = {}, [], []
        for host, name, known, host_cis, keep in entries:
            files = {host: name} if name else {}
            found, error = cls._host_facts(host, files, directory, known, Kept(keep, licensed), contents.get(host))
            sources.append(Source(cls.name, host, "failed" if error else "ok", error))
            if found is not None:
                observed.append(Observed("server", _identity(host, found), found, source=host,
                                         ci=host_cis[0][0] if host_cis else None))
            for ci, sections in host_cis:
                facts[ci] = _fact_set(ci, sections, host, found, error, directory / files.get(host, host))
        return Collection(facts=facts, sources=tuple(sources), observed=tuple(observed))

    def _directory(self) -> Path:
        directory = Path(self.options.facts_dir or self.project.settings.facts_dir or "")
        return directory if directory.is_absolute() else self.project.root / directory

    @staticmethod
    def _host_facts(host: str, files: Mapping[str, str], directory: Path, known: bool,
                    kept: Kept | None, content: bytes | str | None) -> tuple[dict | None, str | None]:
        """`content`: the file's bytes (read once, in run_job), or the error reading it."""
        if not known:
            return None, f"host '{host}' is not in the inventory"
        if host not in files or content is None:
            return None, f"no facts file for '{host}' in {directory}"
        if isinstance(content, str):
            return None, f"facts file {directory / files[host]} cannot be read: {content}"
        try:
            return read_facts(decode_json(content), kept), None
        except FactsError as exc:
            return None, f"{directory / files[host]}: {exc}"
        except (OSError, ValueError) as exc:
            return None, f"facts file {directory / files[host]} cannot be read: {clip(str(exc))}"
        except RecursionError:
            return None, f"facts file {directory / files[host]} cannot be read: nested too deeply"
        except Exception as exc:  # noqa: BLE001 -- the collector boundary: one host's raw data is its own failure
            return None, (f"facts file {directory / files[host]} has an unexpected shape: "
                          f"{type(exc).__name__}: {clip(str(exc))}")


def _read(path: Path) -> bytes | str:
    """A facts file's bytes, or why it cannot be read (a value: it keys the shard cache too)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return clip(str(exc))


def decode_json(raw: bytes | str) -> Any:
    """orjson (~3x faster on 10,000 facts files); what it refuses (NaN, huge integers, UTF-16, broken JSON)
    goes through the json module, which accepts the same as before or explains the error as before."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


class FactsError(Exception):
    """A facts file that parses but reports a failed or unreachable host."""


def read_facts(document: Any, kept: Kept | None = None) -> dict[str, Any]:
    """Any of the accepted file shapes -> the server vocabulary (with `kept`: only its names)."""
    if not isinstance(document, dict):
        raise ValueError("expected a JSON object")  # noqa: TRY004 -- read as "malformed facts", not a bug
    if "__payload__" in document:  # ansible-core 2.19 jsonfile cache
        if not isinstance(document["__payload__"], str):
            raise ShapeError("__payload__ must be a JSON string")
        document = decode_json(document["__payload__"])
        if not isinstance(document, dict):
            raise ShapeError("__payload__ must hold a JSON object")
    if document.get("unreachable") or document.get("failed"):
        state = "unreachable" if document.get("unreachable") else "failed"
        raise FactsError(f"the host was {state} when these facts were gathered: {document.get('msg', '')}".strip())
    if "reconciler_facts" in document:  # our own fact module's result: kept only as far as it is vocabulary
        found = vocabulary(document["reconciler_facts"])
        return kept.normalised(found) if kept else found
    facts = document.get("ansible_facts", document)
    if not isinstance(facts, dict):
        raise ShapeError(f"ansible_facts must be an object, not {type(facts).__name__}")
    try:
        return normalise_setup_facts(kept.raw(facts) if kept else facts)
    except (AttributeError, TypeError) as exc:  # only then look closer: the good path stays one pass
        _check_setup_shape(facts)
        raise ShapeError(f"facts not of the shape setup/package_facts/service_facts write: {exc}") from None


# --- what of a host's facts is kept ---------------------------------------------------------------

def _declared(cis: Sequence[CI], shared: dict[Keep, Keep]) -> Keep:
    """The package and service names the host's CIs declare (one shared pair per distinct value)."""
    keep = tuple(frozenset(name for ci in cis if isinstance(ci.desired.get(section), Mapping)
                           for name in ci.desired[section]) for section in ("packages", "services"))
    return shared.setdefault(keep, keep)  # type: ignore[arg-type]


class Licensed:
    """Whether a package name matches a licence glob the way classify counts installations (lower-cased
    fnmatch); one answer per name and job: the same names come back on every host."""

    def __init__(self, globs: Sequence[str]):
        pattern = "|".join(fnmatch.translate(str(glob).lower()) for glob in globs)
        self.match = re.compile(pattern).match if globs else None
        self.known: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        if self.match is None:
            return False
        hit = self.known.get(name)
        if hit is None:
            hit = self.known[name] = self.match(str(name).lower()) is not None
        return hit


class Kept:
    """One host's kept names: raw setup facts are cut down before normalising (the cost is per package),
    our own module's vocabulary after it."""

    def __init__(self, keep: Keep, licensed: Licensed):
        self.packages, self.services = keep
        self.licensed = licensed

    def raw(self, facts: dict[str, Any]) -> dict[str, Any]:
        packages, services = facts.get("packages"), facts.get("services")
        if isinstance(packages, dict):
            facts = {**facts, "packages": self._packages(packages)}
        if isinstance(services, dict):
            facts = {**facts, "services": self._services(services)}
        return facts

    def _packages(self, packages: dict[str, Any]) -> dict[str, Any]:
        if not _all_of(packages.values(), list) or not _all_of(chain.from_iterable(packages.values()), dict):
            return packages  # an odd shape: normalising all of it reports it, as it did before
        wanted, licensed = self.packages, self.licensed
        if licensed.match is None:
            return {name: entries for name, entries in packages.items() if name in wanted}
        return {name: entries for name, entries in packages.items() if name in wanted or licensed(name)}

    def _services(self, services: dict[str, Any]) -> dict[str, Any]:
        if not _all_of(services.values(), dict):
            return services
        wanted = self.services
        return {unit: info for unit, info in services.items() if unit.removesuffix(".service") in wanted}

    def normalised(self, facts: dict[str, Any]) -> dict[str, Any]:
        packages, services = facts.get("packages"), facts.get("services")
        if isinstance(packages, dict):
            facts["packages"] = {name: version for name, version in packages.items()
                                 if name in self.packages or self.licensed(name)}
        if isinstance(services, dict):
            facts["services"] = {name: state for name, state in services.items() if name in self.services}
        return facts


def _all_of(values: Iterable[Any], kind: type) -> bool:
    """Whether every value is exactly of `kind` (what JSON decoding gives), in one pass in C."""
    return set(map(type, values)) <= {kind}


def _check_setup_shape(facts: Mapping[str, Any]) -> None:
    """package_facts / service_facts records as those modules write them, or a ShapeError naming which."""
    packages = facts.get("packages")
    if packages is not None and not (isinstance(packages, dict) and all(
            isinstance(entries, list) and all(isinstance(e, dict) for e in entries) for entries in packages.values())):
        raise ShapeError("packages must map each name to a list of package_facts records ({version: ...})")
    services = facts.get("services")
    if services is not None and not (isinstance(services, dict) and all(
            isinstance(info, dict) for info in services.values())):
        raise ShapeError("services must map each unit to a service_facts record ({state: ..., status: ...})")


def _index(directory: Path) -> dict[str, str]:
    """hostname -> file name, listing the directory once (10,000 hosts means 10,000 files)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    index: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (n.endswith(".json") or bool(_CACHE_PREFIX.match(n)), n)):
        for host in {name, name.removesuffix(".json"), _CACHE_PREFIX.sub("", name)}:
            index.setdefault(host, name)
    return index


def _fact_set(ci: str, sections: Sequence[str], host: str, facts: dict | None, error: str | None,
              path: Path) -> FactSet:
    if facts is not None:
        lacking = sorted(section for section in sections if section not in facts)
        if lacking:
            error = f"{path} has no facts for {', '.join(lacking)} (gather them, or declare less)"
    if error:
        return FactSet(ci, "facts_dir", host, error=error, identity={"host": host})
    return FactSet(ci, "facts_dir", host, facts=facts, identity={"host": host})


def _identity(host: str, facts: Mapping[str, Any]) -> dict[str, Any]:
    hardware = facts.get("hardware") or {}
    identity = {"host": host, "hostname": facts.get("hostname"), "serial": hardware.get("serial"),
                "uuid": hardware.get("uuid")}
    return {key: value for key, value in identity.items() if value}
