"""Opening a PostgreSQL database: the pool, its timeouts, and migrations."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]

from bot.storage._migrations import load_migrations
from bot.storage.base import StorageError
from bot.storage.postgres._db import MIGRATION_LOCK, Database, Transaction, now

CONNECT_TIMEOUT_S = 10.0
"""How long opening one connection may take (TCP, TLS and authentication)."""
COMMAND_TIMEOUT_S = 60.0
"""The longest any one statement may run before the client gives up (a 1M-row import fits)."""
LOCK_TIMEOUT_MS = 5000
"""How long a statement waits for a lock (a row, or an advisory lock another process holds)
before failing as busy: the same patience as SQLite's busy timeout."""
POOL_MIN = 1
"""Connections opened at once; more are opened as operations need them, up to the pool size."""

_SERVER_SETTINGS = {
    "application_name": "consentry",
    "lock_timeout": str(LOCK_TIMEOUT_MS),
    # A process that dies mid-transaction must not keep its locks (and the audit chain) held.
    "idle_in_transaction_session_timeout": "60000",
    # Every timestamp is passed in and read back as UTC; the session zone only affects casts.
    "timezone": "UTC",
}


def describe(dsn: str) -> str:
    """The database named by ``dsn`` without its password, for messages and logs."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
    except ValueError:
        return "postgresql://(unreadable URL)"
    return f"postgresql://{user}{host}{port}{parts.path}"


async def connect(dsn: str, *, pool_size: int) -> Database:
    """Open a pool of at most ``pool_size`` connections to ``dsn`` and migrate the database;
    StorageError for what a user can fix (refused connection, bad password, unknown database,
    too many connections, timeout, schema newer than this code)."""
    where = describe(dsn)
    pool = await _create_pool(dsn, where, pool_size)
    db = Database(pool, where)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


async def _create_pool(dsn: str, where: str, pool_size: int) -> Any:
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=POOL_MIN,
            max_size=pool_size,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=COMMAND_TIMEOUT_S,
            server_settings=_SERVER_SETTINGS,
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        raise StorageError(f"cannot open database {where}: authentication failed ({exc})") from exc
    except asyncpg.InvalidCatalogNameError as exc:
        raise StorageError(f"cannot open database {where}: it does not exist ({exc})") from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        busy = isinstance(exc, asyncpg.TooManyConnectionsError | asyncpg.CannotConnectNowError)
        raise StorageError(f"cannot open database {where}: {exc}", busy=busy) from exc
    except TimeoutError as exc:
        raise StorageError(
            f"cannot open database {where}: no answer within {CONNECT_TIMEOUT_S:.0f} s", busy=True
        ) from exc
    except OSError as exc:
        # Connection refused, unknown host, unreachable network: the server is not there.
        reason = exc.strerror or str(exc)
        raise StorageError(f"cannot open database {where}: {reason}") from exc
    except ValueError as exc:
        # asyncpg parses the URL itself: a bad port or option ends here. It is not echoed
        # back whole, as it may hold a password.
        raise StorageError(f"cannot open database {where}: invalid URL ({exc})") from exc


async def migrate(db: Database) -> None:
    """Apply every migration the database lacks, in one transaction under an advisory lock:
    processes opening the same new database at once apply each migration exactly once, and
    PostgreSQL's transactional DDL means a failed migration leaves nothing half-applied."""
    migrations = load_migrations("postgres")
    latest = migrations[-1].version if migrations else 0
    async with db.transaction() as tx:
        await tx.lock(MIGRATION_LOCK)
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        current = await _current_version(tx)
        if current > latest:
            raise StorageError(
                f"database schema version {current} is newer than this Consentry ({latest}); "
                f"upgrade Consentry (database: {db.where})"
            )
        for migration in migrations[current:]:
            # A script without parameters runs through the simple query protocol: several
            # statements (and $$-quoted function bodies) in one call.
            await tx.execute(migration.sql)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                now(),
            )


async def _current_version(tx: Transaction) -> int:
    row = await tx.fetchrow("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return int(row[0]) if row is not None else 0
