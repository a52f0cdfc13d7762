"""Opening the register and talking to it: the only module (with `recording`) that holds connections.

The pipeline opens the register (`open_register`), reads a `snapshot()` for classify, and at the end
records the run in ONE transaction (`record_run`, see `recording`). Every write happens under the writer
lock: `BEGIN IMMEDIATE` on SQLite (WAL, busy timeout), a transaction-scoped advisory lock on PostgreSQL.
A second writer waits up to `timeout` seconds, then fails with a clear RegisterError.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Self, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from ..bulk import paused_gc
from ..errors import RegisterError
from ..secrets import mask
from ..userdata import clip
from . import schema as t
from .assets import (
    ASSET_FIELDS,
    LINK_FIELDS,
    Asset,
    RegisterSnapshot,
    Sighting,
    asset_from_row,
    asset_from_tuple,
    link_from_tuple,
)
from .rows import insert_rows

DEFAULT_DSN = "sqlite:///.reconciler/register.db"
LOCK_KEY = 0x5245434F  # "RECO": the advisory lock every writer of one PostgreSQL register takes
MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_dsn(cli: str | None, settings_register: str | None = None) -> str:
    """--register, then RECONCILER_REGISTER, then reconciler.yml `register:`, then the default."""
    return cli or os.environ.get("RECONCILER_REGISTER") or settings_register or DEFAULT_DSN


def now() -> datetime:
    return datetime.now(UTC)


def safe_dsn(url: URL) -> str:
    return mask(url.render_as_string(hide_password=True))


def open_register(dsn: str | None, project_root: Path | str, *, timeout: float = 30.0) -> Register:
    """Open (and create or migrate) the register at `dsn`; relative SQLite paths are under the project."""
    url = parse_dsn(dsn or DEFAULT_DSN)
    if url.get_backend_name() == "sqlite":
        url = _prepare_sqlite(url, Path(project_root))
    elif url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    try:
        engine = _engine(url, timeout)
        register = Register(engine, url, timeout)
        register.migrate()
    except sa.exc.SQLAlchemyError as error:
        raise RegisterError(mask(f"cannot open register {safe_dsn(url)}: {_reason(error)}")) from None
    except RegisterError as error:
        raise RegisterError(mask(f"cannot open {error}")) from None
    return register


SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_SUPPORTED = "supported: sqlite:///PATH, postgresql://USER@HOST[:PORT]/DB"


def parse_dsn(dsn: str) -> URL:
    """A register DSN as a URL, or a RegisterError naming what is wrong (credentials masked)."""
    try:
        url = make_url(dsn)
        url.port  # noqa: B018 -- a port that is not a number fails here, not at connect time
    except (sa.exc.ArgumentError, ValueError) as error:
        raise RegisterError(mask(f"register DSN {clip(mask(dsn), 120)!r} is not valid: {clip(str(error), 120)} "
                                 f"({_SUPPORTED})")) from None
    if url.drivername not in SCHEMES:
        raise RegisterError(f"register DSN scheme '{clip(url.drivername, 40)}' is not supported ({_SUPPORTED})")
    return url


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _prepare_sqlite(url: URL, root: Path) -> URL:
    """Create the file with the user's permissions only (dir 0700, file 0600) before SQLite does."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    path = Path(database) if Path(database).is_absolute() else root / database
    if not path.parent.exists():
        if Path(database).is_absolute() and not path.parent.parent.is_dir():  # a typo must not make a tree
            raise RegisterError(f"cannot open register {mask(str(url))}: directory {path.parent.parent} does not exist")
        path.parent.mkdir(parents=True, mode=0o700)
        path.parent.chmod(0o700)  # mkdir's mode is filtered by the umask
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    return url.set(database=str(path))


def plain(value: Any) -> Any:
    """json.dumps' fallback: dataclasses as dicts, enums as values, other mappings as dicts, sets as lists."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _field_names(type(value))}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    # Once per class: dataclasses.fields() per object was a third of encoding a 100,000-item report.
    return tuple(f.name for f in dataclasses.fields(cls))


_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _orjson_default(value: Any) -> Any:
    # json.dumps writes a tuple subclass (a drift path) as an array; orjson hands it here
    return list(value) if isinstance(value, tuple) else plain(value)


def dumps_bytes(value: Any) -> bytes:
    """The register's JSON (columns, stored reports): compact, values as `plain` makes them. Through
    orjson (~10x the json module's speed on a fleet's facts and report); what orjson refuses (integers
    beyond 64 bits, lone surrogates) goes through the json module as before."""
    try:
        return orjson.dumps(value, default=_orjson_default, option=_ORJSON)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=plain, separators=(",", ":")).encode()


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


def _engine(url: URL, timeout: float) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, json_serializer=dumps)
    engine = sa.create_engine(url, connect_args={"timeout": timeout}, json_serializer=dumps)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module, so BEGIN is ours (SQLAlchemy recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writing = conn.get_execution_options().get("writer", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _columns(table: sa.Table, names: Sequence[str]) -> sa.Select[Any]:
    """Columns in dataclass field order, JSON ones as text: json_value decodes them (mostly '{}')
    faster than the JSON type's per-row processing."""
    return sa.select(*(sa.cast(table.c[name], sa.Text) if isinstance(table.c[name].type, sa.JSON)
                       else table.c[name] for name in names))


_ASSET_COLUMNS = _columns(t.assets, ASSET_FIELDS)
_LINK_COLUMNS = _columns(t.links, LINK_FIELDS)


class Register:
    """A connection pool to one register, and what can be read or written in it."""

    def __init__(self, engine: Engine, url: URL, timeout: float = 30.0):
        self.engine = engine
        self.url = url
        self.timeout = timeout

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction under the writer lock: all of it is committed, or none of it."""
        try:
            with self.engine.connect().execution_options(writer=True) as conn, conn.begin():
                self._lock(conn)
                yield conn
        except sa.exc.OperationalError as error:
            if _is_busy(error):
                raise RegisterError(f"register {safe_dsn(self.url)} is busy: another run is writing to "
                                    f"it (waited {self.timeout:g} s); try again when it has finished") from None
            raise RegisterError(f"register {safe_dsn(self.url)}: {_reason(error)}") from None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.OperationalError as error:
            raise RegisterError(f"register {safe_dsn(self.url)}: {_reason(error)}") from None

    def _lock(self, conn: Connection) -> None:
        if self.dialect == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(self.timeout * 1000)}ms'")
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic), under the writer lock."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        script = ScriptDirectory.from_config(config)
        head = script.get_current_head()
        with self.writing() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
            if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
                raise RegisterError(f"{safe_dsn(self.url)}: schema revision {clip(current, 40)!r} was written by a "
                                    "newer reconciler; upgrade reconciler to use this register")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    # --- reads ----------------------------------------------------------------------------------

    @paused_gc()
    def snapshot(self) -> RegisterSnapshot:
        """Assets, links and when each linked asset was last observed: what classify needs."""
        with self.reading() as conn:
            assets = {a.asset_tag: a for a in map(asset_from_tuple, conn.execute(_ASSET_COLUMNS))}
            links = {link.asset_tag: link for link in map(link_from_tuple, conn.execute(_LINK_COLUMNS))}
            return RegisterSnapshot(assets, links, _sightings(conn))

    def assets(self) -> list[Asset]:
        with self.reading() as conn:
            rows = conn.execute(_ASSET_COLUMNS.order_by(t.assets.c.asset_tag))
            return [asset_from_tuple(row) for row in rows]

    def asset(self, tag: str) -> Asset | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(t.assets).where(t.assets.c.asset_tag == tag)).first()
            return asset_from_row(dict(row._mapping)) if row else None

    def rows(self, table: sa.Table, *where: Any, order: Sequence[Any] = (), limit: int | None = None
             ) -> list[dict[str, Any]]:
        """Plain rows of any register table, for the read-only commands."""
        query = sa.select(table).where(*where).order_by(*order).limit(limit)
        with self.reading() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def licence_globs(self) -> tuple[str, ...]:
        """The package globs of licence assets with seats: collectors keep the packages these match."""
        a = t.assets.c
        query = sa.select(a.licence_product).distinct().where(a.licence_product.is_not(None), a.seats.is_not(None))
        with self.reading() as conn:
            return tuple(sorted(row[0] for row in conn.execute(query)))

    def waivers(self, today: date) -> list[dict[str, Any]]:
        """Waivers still in force on `today` (until is inclusive): ci, path (glob), reason, by, until."""
        return self.rows(t.waivers, t.waivers.c.until >= today, order=[t.waivers.c.id])

    # --- small writes ---------------------------------------------------------------------------

    def add_waiver(self, ci: str, path: str, reason: str, by: str, until: date) -> int:
        with self.writing() as conn:
            values = {"ci": ci, "path": path, "reason": reason, "by": by, "until": until, "created_at": now()}
            key = conn.execute(t.waivers.insert().values(values)).inserted_primary_key
            assert key is not None  # an insert always has one
            return int(key[0])

    def record_change(self, *, ci: str | None, path: str | None, before: Any, after: Any, who: str,
                      plan_digest: str | None, run_id: str | None = None, asset_tag: str | None = None,
                      plan_id: str | None = None, result: str | None = None,
                      detail: str | None = None) -> None:
        """One change applied through a plan (apply calls this after re-verifying)."""
        self.record_changes([{"ci": ci, "path": path, "before": before, "after": after, "who": who,
                              "plan_digest": plan_digest, "run_id": run_id, "asset_tag": asset_tag,
                              "plan_id": plan_id, "result": result, "detail": detail}])

    def record_changes(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Every step of one apply, in one transaction (keys as `record_change`'s arguments)."""
        stamp = now()
        rows = [{"asset_tag": None, "run_id": None, "plan_id": None, "result": None, "detail": None,
                 **change, "kind": "plan", "at": stamp} for change in changes]
        if rows:
            with self.writing() as conn:
                conn.execute(t.changes.insert(), rows)

    def write_assets(self, creates: Sequence[Asset], updates: Sequence[Asset]) -> None:
        """Insert and update assets (by tag) in one transaction: the importer's all-or-nothing write."""
        stamp = now()
        with self.writing() as conn:
            if creates:
                insert_rows(conn, t.assets, ASSET_FIELDS, map(_asset_values, creates),
                            created_at=stamp, updated_at=stamp)
            if updates:
                statement = t.assets.update().where(t.assets.c.asset_tag == sa.bindparam("b_tag"))
                rows = [{**_asset_row(a, stamp), "b_tag": a.asset_tag} for a in updates]
                conn.execute(statement, rows)


def _asset_row(asset: Asset, stamp: datetime) -> dict[str, Any]:
    row = asset.as_row()
    row["updated_at"] = stamp
    return row


_ASSET_VALUES = operator.attrgetter(*ASSET_FIELDS[:-1])  # all but custom, in one C-level call


def _asset_values(asset: Asset) -> tuple[Any, ...]:
    return (*_ASSET_VALUES(asset), dict(asset.custom))


def _is_busy(error: sa.exc.OperationalError) -> bool:
    text = str(error.orig).lower()
    return "locked" in text or "lock timeout" in text or "busy" in text


def _sightings(conn: Connection) -> dict[str, Sighting]:
    """Per linked asset: the latest last_seen over its resource's observations, and their sources."""
    query = (sa.select(t.links.c.asset_tag, t.observations.c.source, t.observations.c.last_seen)
             .join(t.observations, t.observations.c.resource == t.links.c.resource))
    last: dict[str, datetime] = {}
    sources: dict[str, set[str]] = defaultdict(set)
    rows = cast("Iterable[tuple[str, str, datetime]]", conn.execute(query))
    for tag, source, seen in rows:
        seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
        last[tag] = max(last.get(tag, seen), seen)
        sources[tag].add(source)
    return {tag: Sighting(seen, tuple(sorted(sources[tag]))) for tag, seen in last.items()}
