"""One asyncpg pool, its transactions, and the translation of PostgreSQL errors."""

from __future__ import annotations

import contextlib
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

# asyncpg ships no type information: its values are typed where they enter this module.
import asyncpg  # type: ignore[import-untyped]

from bot.storage.base import StorageError
from bot.storage.records import AllGuilds, GuildScope

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable, Iterator

Params = tuple[Any, ...]
Row = Any
"""An ``asyncpg.Record``: read by column name or position."""
Isolation = Literal["read_committed", "repeatable_read", "serializable"]

ACQUIRE_TIMEOUT_S = 10.0
"""How long an operation waits for a free pooled connection."""

# Advisory locks (transaction-scoped, per database) that serialise what must not interleave
# across processes. Arbitrary but fixed keys: every Consentry process must agree on them.
MIGRATION_LOCK = 0x436E_0001
BLOCKLIST_LOCK = 0x436E_0002
"""Held by every blocklist write: a batch then gets consecutive ids, so the change feed's id
ranges never take in another writer's rows, and revisions commit in order."""
AUDIT_LOCK = 0x436E_0003
"""Held by every audit append: reading the chain's head and inserting after it is atomic."""

# SQLSTATEs of failures that another attempt may well not meet: lock or statement timeouts,
# deadlocks and serialisation failures (class 40), too many connections, a server starting.
_BUSY = {"55P03", "57014", "53300", "57P03", "55006"}


def now() -> datetime:
    """The current time, UTC (timestamptz keeps its microseconds exactly)."""
    return datetime.now(UTC)


def stamp(at: datetime) -> datetime:
    """``at`` as a parameter for a timestamptz column, in UTC.

    A naive datetime is refused (ValueError), as the SQLite backend does: asyncpg would
    silently read it as UTC, and a caller's local time would then be stored wrongly."""
    if at.utcoffset() is None:
        raise ValueError(f"a datetime without a time zone cannot be stored: {at!r}")
    return at.astimezone(UTC)


def utc(at: datetime) -> datetime:
    """A timestamptz read back, as an aware UTC datetime (asyncpg returns UTC already)."""
    return at.astimezone(UTC)


def scope_filter(guild_id: GuildScope, index: int) -> tuple[str, Params]:
    """An ``AND ...`` clause (and its parameters) keeping the rows of one scope; its
    placeholder, if any, is ``$index``."""
    if isinstance(guild_id, AllGuilds):
        return "", ()
    if guild_id is None:
        return " AND guild_id IS NULL", ()
    return f" AND guild_id = ${index}", (guild_id,)


def changed(status: str) -> int:
    """The row count of a command status (``UPDATE 3``, ``INSERT 0 1``, ``DELETE 0``)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn PostgreSQL failures a user can act on (a lock or statement timeout, a lost
    connection, a full disk, a constraint) into StorageError naming the database. Class 42
    (syntax, unknown column...) and asyncpg's misuse errors are bugs in our code: they surface."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        state = str(getattr(exc, "sqlstate", "") or "")
        if state.startswith("42"):
            raise
        busy = state in _BUSY or state.startswith("40")
        hint = " (another writer held the lock too long; try again)" if state == "55P03" else ""
        raise StorageError(f"database {where}: {exc}{hint}", busy=busy) from exc
    except TimeoutError as exc:
        # asyncpg's command timeout.
        message = f"database {where}: timed out waiting for the server"
        raise StorageError(message, busy=True) from exc
    except OSError as exc:
        raise StorageError(f"database {where}: {exc.strerror or exc}") from exc


class Database:
    """An asyncpg pool shared by the stores of one Storage. Each operation takes a pooled
    connection for its own duration only, so concurrent operations run side by side."""

    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self.where = where
        """The database, named without its password (for messages)."""
        self._closed = False
        self._listening: list[tuple[Any, str, Any]] = []

    @asynccontextmanager
    async def transaction(
        self, *, isolation: Isolation = "read_committed", readonly: bool = False
    ) -> AsyncIterator[Transaction]:
        """A transaction on one pooled connection, committed when the block ends and rolled back
        if it raises. READ COMMITTED by default: writers that must not interleave take a row
        lock (``FOR UPDATE``) or an advisory lock, and each statement sees what committed."""
        with translate_errors(self.where):
            async with (
                self._connection() as conn,
                conn.transaction(isolation=isolation, readonly=readonly),
            ):
                yield Transaction(conn)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        """Run one read query (one statement: one snapshot) and return every row."""
        with translate_errors(self.where):
            async with self._connection() as conn:
                return list(await conn.fetch(sql, *params))

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        """Run one read query and return its first row, if any."""
        rows = await self.fetch(sql, *params)
        return rows[0] if rows else None

    async def listen(self, channel: str, handler: Callable[[str], None]) -> None:
        """Hear ``channel``'s notifications on a connection of the pool kept for it until the
        database closes."""

        def heard(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            handler(payload)

        with translate_errors(self.where):
            conn = await self._acquire()
            await conn.add_listener(channel, heard)
        self._listening.append((conn, channel, heard))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._pool.release(conn)

    async def _acquire(self) -> Any:
        try:
            return await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
        except TimeoutError as exc:
            # Told apart from a slow server: the remedy is a bigger pool or fewer processes.
            size = self._pool.get_max_size()
            raise StorageError(
                f"database {self.where}: all {size} connections of this process stayed in use"
                f" for {ACQUIRE_TIMEOUT_S:g} s ([storage] pool_size)",
                busy=True,
            ) from exc

    async def close(self) -> None:
        """Close the pool (waiting for operations under way); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for conn, channel, heard in self._listening:
            with contextlib.suppress(Exception):
                await conn.remove_listener(channel, heard)
                await self._pool.release(conn)
        with translate_errors(self.where):
            await self._pool.close()


class Transaction:
    """Statements inside one :meth:`Database.transaction`."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; return how many rows it changed."""
        return changed(await self._conn.execute(sql, *params))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter tuple."""
        await self._conn.executemany(sql, rows)

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        """Read (or run a statement with RETURNING) inside the transaction."""
        return list(await self._conn.fetch(sql, *params))

    async def fetchrow(self, sql: str, *params: Any) -> Row | None:
        """The first row, inside the transaction."""
        row: Row | None = await self._conn.fetchrow(sql, *params)
        return row

    async def lock(self, key: int) -> None:
        """Take an advisory lock until the transaction ends (waiting at most the connection's
        lock_timeout: then a busy StorageError)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", key)
