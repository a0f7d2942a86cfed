"""Opening a SQLite database: connection settings and migrations."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite

from bot.storage._migrations import Migration, load_migrations
from bot.storage._url import MEMORY
from bot.storage.base import StorageError
from bot.storage.sqlite._db import BUSY_TIMEOUT_MS, Database, Transaction, now, to_text

if TYPE_CHECKING:
    from collections.abc import Iterator


async def connect(path: str) -> Database:
    """Open (creating if needed) the database at ``path`` (or ``:memory:``) and migrate it."""
    if path != MEMORY:
        _prepare_path(Path(path))
    try:
        # isolation_level=None: the sqlite3 module must not open transactions behind our back;
        # Database.transaction issues BEGIN IMMEDIATE / COMMIT itself.
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    db = Database(conn, path)
    try:
        await _configure(conn, path)
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


def _prepare_path(path: Path) -> None:
    """Create the parent folders and refuse paths SQLite would only answer cryptically about."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder for database {path}: {exc}") from exc
    if path.is_dir():
        raise StorageError(f"cannot open database {path}: it is a directory")
    if not path.exists():
        # Readable by the bot's user only: it holds sealed evidence, face data and the audit
        # log. SQLite gives its -wal and -shm files the same mode. An existing file is left as
        # its owner set it.
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot create database {path}: {exc.strerror or exc}") from exc


async def _configure(conn: aiosqlite.Connection, path: str) -> None:
    try:
        # busy_timeout first, so the journal-mode switch waits for another process's lock too.
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten, not just unlinked: a withdrawn enrolment or purged
        # evidence leaves no ciphertext behind in free pages.
        await conn.execute("PRAGMA secure_delete = ON")
        # The first real read happens here: garbage bytes fail with "file is not a database".
        await _enable_wal(conn)
        # NORMAL is durable across application crashes in WAL mode; only an OS crash or power
        # loss can lose the last transactions, never corrupt the file.
        await conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc


async def _enable_wal(conn: aiosqlite.Connection) -> None:
    """Switch to WAL (persistent in the file, so a no-op after the first time).

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once, without
    waiting for the busy timeout, when another connection is opening the same new file. So retry.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or loop.time() > deadline:
                raise
        await asyncio.sleep(0.02)


async def migrate(db: Database) -> None:
    """Apply every migration the database lacks, each in its own transaction.

    Each step re-reads the recorded version under the write lock, so two processes opening the
    same new file at once apply each migration exactly once.
    """
    migrations = load_migrations("sqlite")
    latest = migrations[-1].version if migrations else 0
    async with db.transaction() as tx:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = await _current_version(tx)
    if current > latest:
        raise StorageError(
            f"database schema version {current} is newer than this Consentry ({latest}); "
            f"upgrade Consentry (database: {db.path})"
        )
    for migration in migrations[current:]:
        async with db.transaction() as tx:
            if await _current_version(tx) >= migration.version:
                continue  # another process got there first
            await _apply(tx, migration)


async def _current_version(tx: Transaction) -> int:
    row = await tx.fetchone("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(row[0]) if row is not None else 0


async def _apply(tx: Transaction, migration: Migration) -> None:
    # Not executescript(): it COMMITs first, which would leave a half-applied migration behind.
    for statement in split_statements(migration.sql):
        await tx.execute(statement)
    await tx.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (migration.version, migration.name, to_text(now())),
    )


def split_statements(script: str) -> Iterator[str]:
    """Split an SQL script into statements. sqlite3.complete_statement knows about string
    literals, comments and trigger bodies, so a ';' inside them does not end a statement."""
    buffer = ""
    for piece in script.split(";"):
        buffer = f"{buffer};{piece}" if buffer else piece
        if sqlite3.complete_statement(buffer + ";"):
            statement = buffer.strip()
            # A chunk holding only comments is "complete" too; SQLite would reject it as empty.
            if _has_code(statement):
                yield statement
            buffer = ""
    if _has_code(buffer):
        raise ValueError(f"incomplete SQL statement at the end of the script: {buffer.strip()!r}")


def _has_code(text: str) -> bool:
    lines = (line.split("--", 1)[0].strip() for line in text.splitlines())
    return any(lines)
