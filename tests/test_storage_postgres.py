"""PostgreSQL specifics: URLs, connection failures, migrations, locks between processes, the
audit log's guards, leases taken with SKIP LOCKED. (Behaviour shared with SQLite is tested on
both backends in the other tests/test_storage_*.py files.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import pytest

from bot.storage import CaseStatus, NewWork, StorageError, TransitionRefused, open_storage
from bot.storage._migrations import load_migrations
from bot.storage._url import parse_url
from bot.storage.postgres import _db, _schema
from bot.storage.postgres._db import BLOCKLIST_LOCK
from tests.postgres_support import with_database
from tests.storage_support import GUILD, append, entry, new_case, new_enrolment, new_evidence

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.postgres_support import ScratchDatabases


@pytest.fixture
async def pg_url(scratch_databases: ScratchDatabases) -> AsyncIterator[str]:
    async with scratch_databases.database() as dsn:
        yield dsn


@pytest.fixture
async def empty_pg_url(scratch_databases: ScratchDatabases) -> AsyncIterator[str]:
    async with scratch_databases.database(migrated=False) as dsn:
        yield dsn


@pytest.fixture
async def raw(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Another client of the same database (a psql session, another process)."""
    conn = await asyncpg.connect(pg_url, timeout=5)
    yield conn
    await conn.close()


# --- URLs and connection failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@h:5433/db",
        "postgres://u:pw@h:5433/db",
        "postgresql+asyncpg://u:pw@h:5433/db",
    ],
)
def test_postgresql_urls_select_the_postgresql_backend(url: str) -> None:
    target = parse_url(url)
    assert (target.backend, target.location) == ("postgresql", "postgresql://u:pw@h:5433/db")


async def test_a_refused_connection_is_a_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError, match="cannot open database") as caught:
        await open_storage("postgresql://someone:s3cret@127.0.0.1:1/consentry")
    assert "s3cret" not in str(caught.value)
    assert "postgresql://someone@127.0.0.1:1/consentry" in str(caught.value)


async def test_an_unknown_database_is_named(pg_url: str) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        await open_storage(with_database(pg_url, "consentry_no_such_database"))


async def test_an_unknown_role_fails_authentication(pg_url: str) -> None:
    parts = urlsplit(pg_url)
    stranger = parts._replace(netloc=f"consentry_no_such_role@{parts.netloc.rpartition('@')[2]}")
    with pytest.raises(StorageError, match="authentication failed"):
        await open_storage(urlunsplit(stranger))


# --- migrations ---------------------------------------------------------------------------------


async def test_an_empty_database_is_migrated_once_by_processes_opening_it_together(
    empty_pg_url: str,
) -> None:
    first, second = await asyncio.gather(open_storage(empty_pg_url), open_storage(empty_pg_url))
    async with first, second:
        await first.settings.set_override(GUILD, "a", 1)
        assert await second.settings.get_overrides(GUILD) == {"a": 1}
    conn = await asyncpg.connect(empty_pg_url, timeout=5)
    try:
        applied = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        tables = {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert [(r[0], r[1]) for r in applied] == [
        (m.version, m.name) for m in load_migrations("postgres")
    ]
    assert {"blocklist", "cases", "evidence", "work", "feeds", "audit_log", "campaigns"} <= tables


async def test_a_newer_schema_is_refused(pg_url: str, raw: asyncpg.Connection) -> None:
    await raw.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    latest = load_migrations("postgres")[-1].version
    with pytest.raises(
        StorageError, match=rf"version 999 is newer than this Consentry \({latest}\)"
    ):
        await open_storage(pg_url)


# --- locks --------------------------------------------------------------------------------------


async def test_a_writer_kept_waiting_past_the_lock_timeout_is_told_it_is_busy(
    pg_url: str, raw: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(_schema._SERVER_SETTINGS, "lock_timeout", "200")
    async with await open_storage(pg_url) as storage, raw.transaction():
        await raw.execute("SELECT pg_advisory_xact_lock($1)", BLOCKLIST_LOCK)  # a big import
        with pytest.raises(StorageError, match="lock timeout") as caught:
            await storage.blocklist.add([entry(1)])
    assert caught.value.busy
    async with await open_storage(pg_url) as storage:  # nothing was half-written
        assert await storage.blocklist.list() == []
        assert await storage.blocklist.revision() == 0


async def test_a_process_keeps_at_most_its_pool_size_and_says_so_when_all_stay_busy(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_db, "ACQUIRE_TIMEOUT_S", 0.3)
    async with await open_storage(pg_url, pool_size=2) as storage:
        holding = asyncio.Semaphore(0)
        done = asyncio.Event()

        async def long_read() -> None:
            async with storage._db.transaction() as tx:  # type: ignore[attr-defined]
                await tx.fetch("SELECT 1")
                holding.release()
                await done.wait()

        readers = [asyncio.create_task(long_read()) for _ in range(2)]
        for _ in readers:
            await holding.acquire()  # both connections taken
        with pytest.raises(StorageError, match=r"all 2 connections .*\[storage\] pool_size") as e:
            await storage.blocklist.list()
        assert e.value.busy  # retried like any busy database, not reported as a fault
        done.set()
        await asyncio.gather(*readers)
        assert await storage.blocklist.list() == []  # free again: served


async def test_concurrent_decisions_on_one_case_are_checked_one_after_the_other(
    pg_url: str,
) -> None:
    async with await open_storage(pg_url) as one, await open_storage(pg_url) as other:
        case = await one.cases.open(new_case())
        results = await asyncio.gather(
            *(
                s.cases.transition(case.id, expected={CaseStatus.OPEN}, status=status, actor="mod")
                for s, status in ((one, CaseStatus.CONFIRMED), (other, CaseStatus.DISMISSED))
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, TransitionRefused)]
        assert len(refused) == 1
        final = await one.cases.get(case.id)
        assert final is not None and refused[0].current == final.status
        assert len(await one.cases.events(case.id)) == 2


async def test_claims_skip_records_another_worker_has_locked(
    pg_url: str, raw: asyncpg.Connection
) -> None:
    now = datetime.now(UTC)
    async with await open_storage(pg_url) as storage:
        news = [NewWork(GUILD, 42, m, (f"https://cdn/{m}",)) for m in (1, 2, 3)]
        await storage.work.seen_many(news, lease_until=now)
        async with raw.transaction():
            # Another worker is in the middle of claiming message 1.
            await raw.execute("SELECT 1 FROM work WHERE message_id = 1 FOR UPDATE")
            claimed = await storage.work.claim(
                now + timedelta(seconds=1), limit=10, lease_until=now + timedelta(minutes=5)
            )
        assert [w.message_id for w in claimed] == [2, 3]


async def test_two_workers_claiming_at_once_never_take_the_same_record(pg_url: str) -> None:
    now = datetime.now(UTC)
    async with await open_storage(pg_url) as one, await open_storage(pg_url) as other:
        news = [NewWork(GUILD, 42, m, (f"https://cdn/{m}",)) for m in range(1, 41)]
        await one.work.seen_many(news, lease_until=now)
        lease = now + timedelta(minutes=5)
        batches = await asyncio.gather(
            *(
                s.work.claim(now + timedelta(seconds=1), limit=5, lease_until=lease)
                for _ in range(4)
                for s in (one, other)
            )
        )
    taken = [w.message_id for batch in batches for w in batch]
    assert sorted(taken) == list(range(1, 41))  # each once


async def test_concurrent_writers_keep_the_change_feed_exact(pg_url: str) -> None:
    async with await open_storage(pg_url) as one, await open_storage(pg_url) as other:
        batches = [[entry(10 * b + n) for n in range(3)] for b in range(20)]
        await asyncio.gather(
            *(s.blocklist.add(batch) for s, batch in zip((one, other) * 10, batches, strict=True))
        )
        [first, *_] = await one.blocklist.list(limit=1)
        removed = await other.blocklist.remove(first.id)
        changes = await one.blocklist.changes_since(0)
        stored = [e async for e in one.blocklist.iter_all()]
    assert removed is not None and changes is not None and changes.revision == 21
    # Each batch's ids form its own range: every stored entry is listed once, in id order.
    assert [r.id for r in changes.added] == [e.id for e in stored]
    assert len(stored) == 59 and changes.removed == (first.id,)


# --- the audit log's guards ---------------------------------------------------------------------


async def test_the_audit_log_refuses_plain_updates_deletes_and_truncation(
    pg_url: str, raw: asyncpg.Connection
) -> None:
    async with await open_storage(pg_url) as storage:
        await append(storage, 1)
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await raw.execute(sql)


@pytest.mark.parametrize(
    ("sql", "bad_id"),
    [
        ("UPDATE audit_log SET details = '{\"n\":2}' WHERE id = 3", 3),
        ("UPDATE audit_log SET details = 'not json' WHERE id = 4", 4),
        ("UPDATE audit_log SET at = '2020-01-01T00:00:00Z' WHERE id = 1", 1),
        ("DELETE FROM audit_log WHERE id = 3", 4),  # the next record's prev_hash no longer fits
    ],
)
async def test_verify_finds_a_row_tampered_with_behind_the_guards(
    pg_url: str, raw: asyncpg.Connection, sql: str, bad_id: int
) -> None:
    async with await open_storage(pg_url) as storage:
        for n in range(5):
            await append(storage, n)
        await raw.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        await raw.execute(sql)
        result = await storage.audit.verify()
    assert (result.ok, result.first_bad_id) == (False, bad_id)


# --- cascades -----------------------------------------------------------------------------------


async def test_evidence_is_deleted_with_its_case(pg_url: str, raw: asyncpg.Connection) -> None:
    async with await open_storage(pg_url) as storage:
        case = await storage.cases.open(new_case())
        await storage.evidence.put(case.id, [new_evidence()])
        await raw.execute("DELETE FROM cases WHERE id = $1", case.id)
        assert await storage.evidence.for_case(case.id) == []


async def test_other_processes_hear_enrolments_decisions_and_due_work(pg_url: str) -> None:
    async with await open_storage(pg_url) as mine, await open_storage(pg_url) as theirs:
        heard: asyncio.Queue[str] = asyncio.Queue()
        assert await theirs.listen(heard.put_nowait)
        case = await mine.cases.open(new_case())
        await mine.cases.transition(
            case.id, expected={CaseStatus.OPEN}, status=CaseStatus.CONFIRMED, actor="mod"
        )
        await mine.enrolments.put(new_enrolment(7), actor="user:7")
        await mine.enrolments.remove(GUILD, 7, actor="user:7", why="withdrawn")
        await mine.notify("work")
        said = [await asyncio.wait_for(heard.get(), 2.0) for _ in range(4)]
        assert said == [f"case:{case.id}", f"enrolment:{GUILD}:7", f"enrolment:{GUILD}:7", "work"]
