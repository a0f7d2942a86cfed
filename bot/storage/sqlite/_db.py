"""One aiosqlite connection, its transactions, and the translation of sqlite3 errors."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.storage.base import StorageError
from bot.storage.records import AllGuilds, GuildScope

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    import aiosqlite

BUSY_TIMEOUT_MS = 5000

Params = tuple[Any, ...]


def now() -> datetime:
    """The current time, UTC, at the microsecond precision that survives a round trip."""
    return datetime.now(UTC)


def to_text(at: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, so that text order is time order.

    A naive datetime is refused (ValueError): it would silently be read as local time."""
    if at.utcoffset() is None:
        raise ValueError(f"a datetime without a time zone cannot be stored: {at!r}")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    """Parse :func:`to_text` output back into a tz-aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def scope_filter(guild_id: GuildScope) -> tuple[str, Params]:
    """An ``AND ...`` clause (and its parameters) keeping the rows of one scope."""
    if isinstance(guild_id, AllGuilds):
        return "", ()
    if guild_id is None:
        return " AND guild_id IS NULL", ()
    return " AND guild_id = ?", (guild_id,)


@contextmanager
def translate_errors(path: str) -> Iterator[None]:
    """Turn sqlite3 failures a user can act on (locked, corrupt, read-only, full disk...) into
    StorageError naming the database. ProgrammingError is a bug in our SQL: let it surface."""
    try:
        yield
    except sqlite3.ProgrammingError:
        raise
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        busy = code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        raise StorageError(f"database {path}: {exc}", busy=busy) from exc


class Database:
    """An aiosqlite connection shared by the stores of one Storage.

    aiosqlite runs every statement on the connection's own thread, in order; the asyncio lock
    makes each store operation atomic with respect to the others, so one coroutine's reads never
    see another's half-done transaction on the same connection.
    """

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._closed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write transaction. BEGIN IMMEDIATE takes the write lock up front (waiting up to the
        busy timeout), which serialises writers across processes and avoids the deadlock of two
        readers both upgrading to writers."""
        async with self._lock:
            with translate_errors(self.path):
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Transaction(self._conn)
                except BaseException:
                    # SQLite rolls back by itself after some errors (SQLITE_FULL...).
                    if self._conn.in_transaction:
                        await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one read query (its own implicit read transaction) and return every row."""
        async with self._lock:
            with translate_errors(self.path):
                return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Run one read query and return its first row, if any."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._conn.close()


class Transaction:
    """Statements inside one :meth:`Database.transaction`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> tuple[int, int | None]:
        """Run one statement; return (rows changed, last inserted rowid)."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount, cursor.lastrowid

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter tuple."""
        cursor = await self._conn.executemany(sql, rows)
        await cursor.close()

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Read inside the transaction."""
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Read the first row inside the transaction."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None
