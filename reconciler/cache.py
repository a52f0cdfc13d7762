"""A content-addressed cache of the loaded project: the parsed inventory and the rendered, validated CIs.

Loading a 10,000-host project (Ansible's inventory plugins, Jinja2, YAML, schemas) costs seconds; a
scheduled run usually finds nothing changed. project.py asks `lookup` first: the key is a digest of every
input of the load — the files under desired/, each inventory source (group_vars/ and host_vars/
included), reconciler.yml, plugins/, the collectors installed by entry points, reconciler's own version
and code, and the environment when a template reads `env`. Any change gives another key, so an entry is
never stale; a missing, unreadable or corrupt entry is a miss. Only loads without a problem are stored.
Inventories that run code (scripts, inventory plugin configs) make the project uncachable.
Lives in `.reconciler/cache/`; deleting it is always safe.

Below it, `facts/` keeps each facts_dir shard's collected result under a digest of the shard's request and
the bytes of its facts files (`shard_key`): a warm run with the same files reads them but decodes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from .errors import Problem
from .model import CI

CACHE_DIR = Path(".reconciler/cache")
_FORMAT = b"reconciler-project-cache/1"
_KEPT = 4  # entries kept: a few projects variants (e.g. --facts-dir or not) share the directory
SHARDS_DIR = CACHE_DIR / "facts"
_SHARD_FORMAT = b"reconciler-shard-cache/1"


class CachedInventory:
    """What the pipeline reads of an Inventory, from the cache. Host variables (only the ansible collector
    and templates need them) come from a real Inventory, parsed on first use."""

    def __init__(self, sources: list[str], hosts: list[str], groups: dict[str, list[str]]):
        self.sources, self.hosts, self.groups = sources, hosts, groups
        self.host_names = frozenset(hosts)
        self.problems: list[Problem] = []
        self._real: Any = None

    def host_vars(self, name: str) -> dict[str, Any]:
        if self._real is None:
            from .inventory import Inventory

            self._real = Inventory(self.sources)
        return self._real.host_vars(name)

    @property
    def hostvars(self) -> Any:
        from .inventory import HostVars

        return HostVars(self)  # type: ignore[arg-type]

    def __getstate__(self) -> dict[str, Any]:
        return {"sources": self.sources, "hosts": self.hosts, "groups": self.groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["sources"], state["hosts"], state["groups"])  # type: ignore[misc]


def project_key(root: Path, sources: Iterable[str]) -> str | None:
    """The digest of everything a project load reads, or None when the load cannot be cached."""
    digest = hashlib.blake2b(_FORMAT, digest_size=20)
    for part in _code_parts():
        digest.update(part.encode())
    for path in sorted(set(_inputs(root, sources))):
        if path.is_dir():
            continue
        if _runs_code(path, root):
            return None
        digest.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode() + b"\0")
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest.update(hashlib.blake2b(data, digest_size=20).digest())
        if path.is_relative_to(root / "desired") and b"env" in data:  # a template may read `env`
            digest.update(repr(sorted(os.environ.items())).encode())
    return digest.hexdigest()


def _inputs(root: Path, sources: Iterable[str]) -> Iterator[Path]:
    for name in ("reconciler.yml", "desired", "plugins", *sources):
        path = (root / name).resolve()
        if path.is_dir():  # an inventory directory holds its own group_vars/ and host_vars/
            yield from (p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif path.is_file():
            yield path
            if name in sources:  # group_vars/ and host_vars/ beside an inventory file
                for extra in ("group_vars", "host_vars"):
                    yield from (p for p in (path.parent / extra).rglob("*") if p.is_file())


def _runs_code(path: Path, root: Path) -> bool:
    """An inventory script or an inventory plugin config: what it yields is not in the files."""
    if (path == root / "reconciler.yml" or path.is_relative_to(root / "plugins")
            or path.is_relative_to(root / "desired") or {"group_vars", "host_vars"} & set(path.parts)):
        return False
    if os.access(path, os.X_OK):
        return True
    try:
        return b"plugin:" in path.read_bytes()[:4096]
    except OSError:
        return True


def _code_parts() -> list[str]:
    """reconciler's version and code (sizes and times of its modules), and the collectors installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts = [version("reconciler")]
    except PackageNotFoundError:
        parts = ["unknown"]
    package = Path(__file__).parent
    for module in sorted(package.rglob("*.py")):
        stat = module.stat()
        parts.append(f"{module.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns}")
    for entry in entry_points(group="reconciler.collectors"):
        parts.append(f"{entry.name}={entry.value}:{entry.dist.version if entry.dist else ''}")
    return parts


def lookup(root: Path, key: str | None) -> tuple[Any, list[CI]] | None:
    """The cached (inventory, CIs) of this key, or None (no entry, unreadable, corrupt)."""
    if key is None:
        return None
    try:
        data = (root / CACHE_DIR / key).read_bytes()
        if not data.startswith(_FORMAT + b"\n"):
            return None
        inventory, cis = pickle.loads(data[len(_FORMAT) + 1:])
    except Exception:  # noqa: BLE001 -- a cache entry that cannot be read is a miss, never an error
        return None
    if not isinstance(inventory, CachedInventory) or not all(isinstance(ci, CI) for ci in cis):
        return None
    return inventory, list(cis)


def store(root: Path, key: str | None, inventory: Any, cis: list[CI]) -> None:
    """Keep this load under its key; a cache that cannot be written (read-only project) is skipped."""
    if key is None:
        return
    directory = root / CACHE_DIR
    snapshot = CachedInventory(list(inventory.sources), list(inventory.hosts), dict(inventory.groups))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".{key}.{os.getpid()}"
        partial.write_bytes(_FORMAT + b"\n" + pickle.dumps((snapshot, cis), protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, directory / key)
        _prune(directory)
    except OSError:
        return


def _prune(directory: Path) -> None:
    entries = sorted((p for p in directory.iterdir() if not p.name.startswith(".") and p.is_file()),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[_KEPT:]:
        old.unlink(missing_ok=True)


# --- collected shards ---------------------------------------------------------------------------

@functools.cache
def code_key() -> str:
    """reconciler's version and code: a shard collected by other code is another entry."""
    return hashlib.blake2b("\n".join(_code_parts()).encode(), digest_size=20).hexdigest()


def shard_key(request: Any, contents: Iterable[bytes | str]) -> str:
    """The digest of a shard's request (its repr: plain, ordered data) and of each facts file's bytes (or
    the error reading it)."""
    digest = hashlib.blake2b(_SHARD_FORMAT + repr(request).encode(), digest_size=20)
    for content in contents:
        digest.update(hashlib.blake2b(content if isinstance(content, bytes) else content.encode(),
                                      digest_size=20).digest())
    return digest.hexdigest()


def shard_lookup(directory: Path, key: str) -> Any | None:
    """The cached result of this key, or None (no entry, unreadable, corrupt: a miss, never an error)."""
    path = directory / key
    try:
        data = path.read_bytes()
        if not data.startswith(_SHARD_FORMAT + b"\n"):
            return None
        value = pickle.loads(data[len(_SHARD_FORMAT) + 1:])
        os.utime(path)  # used: newest, so pruning keeps it
        return value
    except Exception:  # noqa: BLE001
        return None


def shard_store(directory: Path, key: str, value: Any, keep: int) -> None:
    """Keep this result; the newest `keep` entries stay (a run's shards, twice over)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".{key}.{os.getpid()}"
        partial.write_bytes(_SHARD_FORMAT + b"\n" + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, directory / key)
        entries = sorted((p for p in directory.iterdir() if not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[keep:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
