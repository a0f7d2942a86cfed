"""Moving an instance from SQLite to PostgreSQL (``consentry db copy``), losing nothing.

Both databases are first brought to this version's schema. Then every table is copied row for
row, in one PostgreSQL transaction: ids are kept (alerts and the audit log name them), JSON and
the audit chain's hashes are copied as the exact text SQLite holds (the chain hashes those bytes,
so it verifies afterwards), timestamps become ``timestamptz``, 0/1 flags booleans, and evidence
stays the same sealed bytes. Identity sequences then continue after the copied ids. The target
must hold no instance yet (no entries, cases, evidence, enrolments or audit records): a copy
never merges two instances.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.storage import open_storage
from bot.storage._url import parse_url
from bot.storage.base import StorageError
from bot.storage.sqlite._db import from_text

KEPT_EMPTY = ("blocklist", "cases", "evidence", "enrolments", "audit_log")
"""Tables a target must not hold rows in."""
# Heartbeats belong to the processes of the old database, which stop before a copy.
_SKIPPED = {"sqlite_sequence", "schema_migrations", "processes"}


async def copy_database(
    source_url: str, target_url: str, *, on_table: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of the SQLite instance at ``source_url`` into the PostgreSQL database at
    ``target_url``; rows copied per table. StorageError for anything a user must fix."""
    source, target = parse_url(source_url), parse_url(target_url)
    if source.backend != "sqlite" or target.backend != "postgresql":
        raise StorageError(
            "db copy moves a SQLite instance to PostgreSQL (--from sqlite:... --to postgresql://...)"
        )
    for url in (source_url, target_url):  # both at this version's schema
        async with await open_storage(url):
            pass
    import asyncpg  # type: ignore[import-untyped]

    reader = sqlite3.connect(f"file:{source.location}?mode=ro", uri=True)
    try:
        connection = await asyncpg.connect(target.location, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        reader.close()
        raise StorageError(f"cannot open the target database: {exc}") from exc
    try:
        return await _copy(reader, connection, on_table)
    finally:
        reader.close()
        await connection.close()


async def _copy(
    reader: sqlite3.Connection, target: Any, on_table: Callable[[str, int], None] | None
) -> dict[str, int]:
    tables = [
        str(r[0])
        for r in reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if r[0] not in _SKIPPED
    ]
    types = await _column_types(target)
    missing = [t for t in tables if t not in types]
    if missing:
        raise StorageError(f"the target has no table {', '.join(missing)}: not this version?")
    for table in KEPT_EMPTY:
        if await target.fetchval(f"SELECT count(*) FROM {table}"):
            raise StorageError(f"the target already holds an instance ({table} has rows)")
    copied: dict[str, int] = {}
    async with target.transaction():
        ordered = await _parents_first(target, tables)
        for table in reversed(ordered):  # seeded rows (counters) go, children before parents
            await target.execute(f"DELETE FROM {table}")
        for table in ordered:
            columns = [r[1] for r in reader.execute(f"PRAGMA table_info({table})")]
            columns = [c for c in columns if c in types[table]]
            rows = reader.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            kinds = [types[table][c] for c in columns]
            records = [tuple(_value(v, k) for v, k in zip(row, kinds, strict=True)) for row in rows]
            if records:
                await target.copy_records_to_table(table, records=records, columns=columns)
            await _continue_identities(target, table)
            copied[table] = len(records)
            if on_table is not None:
                on_table(table, len(records))
    return copied


async def _column_types(target: Any) -> dict[str, dict[str, str]]:
    rows = await target.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    types: dict[str, dict[str, str]] = {}
    for row in rows:
        types.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return types


async def _parents_first(target: Any, tables: list[str]) -> list[str]:
    """``tables`` ordered so that a table comes after every table its foreign keys name."""
    rows = await target.fetch(
        "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent"
        " FROM pg_constraint WHERE contype = 'f'"
    )
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for row in rows:
        if row["child"] in parents and row["parent"] in parents and row["child"] != row["parent"]:
            parents[row["child"]].add(row["parent"])
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, needs in parents.items() if not needs - set(ordered))
        if not ready:
            raise StorageError("the target's foreign keys form a cycle")
        for table in ready:
            ordered.append(table)
            del parents[table]
    return ordered


def _value(value: object, kind: str) -> object:
    if value is None:
        return None
    if kind == "timestamp with time zone":
        return value if isinstance(value, datetime) else from_text(str(value))
    if kind == "boolean":
        return bool(value)
    if kind in ("bigint", "integer", "smallint"):
        return int(str(value)) if not isinstance(value, int) else value
    if kind == "double precision" or kind == "real":
        return float(str(value))
    if kind == "bytea":
        return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value
    return value if isinstance(value, str) else str(value)


async def _continue_identities(target: Any, table: str) -> None:
    rows = await target.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = $1 AND is_identity = 'YES'",
        table,
    )
    for row in rows:
        column = row["column_name"]
        await target.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
            f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
        )
