"""Scratch PostgreSQL databases for the storage tests.

The shared suite uses one database per session, migrated once and emptied before each test
(deleting a few rows is much cheaper than creating and migrating a database, which takes the
server a good fraction of a second); tests that change the schema or its guards get a database
of their own, made from a template migrated once."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

from bot.storage import open_storage

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ENV = "CONSENTRY_TEST_POSTGRES"
LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
"""Tried when ENV is unset: a developer's machine with the usual local server."""
_PREFIX = "consentry_test_"
_TIMEOUT_S = 5.0


def with_database(dsn: str, name: str) -> str:
    """``dsn`` naming database ``name`` instead (query options kept)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass
class ScratchDatabases:
    """Makes and drops this session's databases on the server ``admin`` names."""

    admin: str | None
    explicit: bool
    """The DSN was configured: a server that does not answer fails the tests, not skips them."""
    skip_reason: str = ""
    template: str = ""
    shared_name: str = ""
    _reset_sql: str = ""
    _names: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def from_environment(cls) -> ScratchDatabases:
        configured = os.environ.get(ENV)
        if configured is None:
            return cls(LOCAL, explicit=False)
        if configured.strip().lower() in ("", "off", "0", "no"):
            return cls(None, explicit=True, skip_reason=f"PostgreSQL tests are off ({ENV})")
        return cls(configured.strip(), explicit=True)

    async def _connect(self) -> asyncpg.Connection:
        if self.skip_reason or self.admin is None:
            pytest.skip(self.skip_reason)
        try:
            return await asyncpg.connect(self.admin, timeout=_TIMEOUT_S)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            if self.explicit:
                raise
            self.skip_reason = (
                f"no PostgreSQL server at {LOCAL} ({type(exc).__name__}: {exc}); "
                f"set {ENV} to a DSN to run the PostgreSQL storage tests"
            )
            pytest.skip(self.skip_reason)

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[str]:
        """The session's database, emptied: every table as a new one has it."""
        admin = await self._connect()
        try:
            if not self.shared_name:
                await _drop_stale(admin)
                name = f"{_PREFIX}{os.getpid()}_shared"
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{name}"')
                # A scratch database need not survive a crash: commits skip the WAL flush.
                await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
                async with await open_storage(with_database(self.admin or "", name)):
                    pass
                self.shared_name = name
        finally:
            await admin.close()
        dsn = with_database(self.admin or "", self.shared_name)
        conn = await asyncpg.connect(dsn, timeout=_TIMEOUT_S)
        try:
            if not self._reset_sql:
                self._reset_sql = await _reset_script(conn)
            # A failed test may have left a connection (and its locks) behind.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            await conn.execute(self._reset_sql)
        finally:
            await conn.close()
        yield dsn

    @asynccontextmanager
    async def database(self, *, migrated: bool = True) -> AsyncIterator[str]:
        """A fresh database for one test, dropped afterwards: migrated and empty, or without
        a single table (``migrated=False``)."""
        admin = await self._connect()
        try:
            if migrated and not self.template:
                await self._make_template(admin)
            name = f"{_PREFIX}{os.getpid()}_{next(self._names)}"
            template = self.template if migrated else "template0"
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            try:
                yield with_database(self.admin or "", name)
            finally:
                # FORCE: a test that failed half-way may have left a connection open.
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def _make_template(self, admin: asyncpg.Connection) -> None:
        await _drop_stale(admin)
        name = f"{_PREFIX}{os.getpid()}_template"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        async with await open_storage(with_database(self.admin or "", name)):
            pass  # migrated: every copy starts at the latest schema
        self.template = name

    def drop_all(self) -> None:
        """At the end of the session: drop the template and the shared database (the tests'
        own copies are gone already)."""
        names = [n for n in (self.template, self.shared_name) if n]
        if not names or self.admin is None:
            return
        admin_dsn = self.admin

        async def drop() -> None:
            admin = await asyncpg.connect(admin_dsn, timeout=_TIMEOUT_S)
            try:
                for name in names:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

        asyncio.run(drop())


async def _reset_script(conn: asyncpg.Connection) -> str:
    """SQL that empties every table of the migrated schema and restarts its identities. The
    audit log's append-only trigger is bypassed (replica role) for this one transaction."""
    tables = [
        r[0]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        if r[0] not in ("schema_migrations", "counters")
    ]
    sequences = [r[0] for r in await conn.fetch("SELECT sequencename FROM pg_sequences ORDER BY 1")]
    statements = ["BEGIN", "SET LOCAL session_replication_role = replica"]
    statements += [f'DELETE FROM "{t}"' for t in tables]
    statements += [f'ALTER SEQUENCE "{q}" RESTART' for q in sequences]
    statements += ["UPDATE counters SET value = 0", "COMMIT"]
    return ";\n".join(statements)


async def _drop_stale(admin: asyncpg.Connection) -> None:
    """Drop what an interrupted earlier session left behind (its process is gone)."""
    rows = await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", f"{_PREFIX}%")
    for row in rows:
        match = re.fullmatch(rf"{_PREFIX}(\d+)_\w+", row["datname"])
        if match is None or _alive(int(match.group(1))):
            continue
        with suppress(asyncpg.PostgresError):
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
