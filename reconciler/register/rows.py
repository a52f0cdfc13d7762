"""Bulk inserts for the store and the recorder: many rows into one table, the fastest way per backend.

SQLAlchemy's executemany builds a parameter dict and runs the type processors in Python for every row
(~20 µs a row here): for 100,000 assets or observations that was most of the write. `insert_rows` takes
plain tuples in a given column order, converts each value with the very bind processor SQLAlchemy would
have used (so the stored form is the same: SQLite dates as text, JSON through the engine's serializer),
and hands them to the driver: COPY on PostgreSQL (psycopg's `cursor.copy`), executemany on SQLite. It
runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Row = Sequence[Any]


def insert_rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[Row],
                **same: Any) -> None:
    """Insert `rows` (values in `columns` order) into `table`; `same` sets columns equal in every row
    (a run's timestamp, say), converted once."""
    constant = tuple(_preparer(conn.dialect, table, list(same))(list(same.values())))
    prepare = _preparer(conn.dialect, table, columns)
    prepared = (prepare(row) + constant for row in rows) if constant else map(prepare, rows)
    names = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in (*columns, *same))
    target = conn.dialect.identifier_preparer.format_table(table)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * (len(columns) + len(same)))
            cursor.executemany(f"INSERT INTO {target} ({names}) VALUES ({marks})", list(prepared))
    finally:
        cursor.close()


def _preparer(dialect: Dialect, table: sa.Table, columns: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    """A function converting one row's values for the driver; only columns with a processor are touched."""
    processors = [(i, p) for i, name in enumerate(columns)
                  if (p := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    if not processors:
        return tuple

    def prepare(row: Row) -> tuple[Any, ...]:
        values = list(row)
        for i, process in processors:
            values[i] = process(values[i])
        return tuple(values)

    return prepare
