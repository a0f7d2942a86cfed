"""Storage, every backend: the hash-chained audit log; SQLite's tamper detection and guards."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from bot.storage import ALL, Storage, open_storage
from tests.storage_support import GUILD, OTHER_GUILD, append, assert_recent_utc

if TYPE_CHECKING:
    from pathlib import Path


async def test_audit_append_chains_each_record_to_the_previous(storage: Storage) -> None:
    first = await storage.audit.append(
        guild_id=None, actor="cli", action="blocklist.add", subject="md5", details={"n": (1, 2)}
    )
    second = await storage.audit.append(
        guild_id=GUILD, actor="mod:1", action="case.confirm", subject="case:1", details={"é": 1.5}
    )
    assert first.prev_hash == "0" * 64 and second.prev_hash == first.hash
    assert first.details == {"n": [1, 2]}  # as it reads back: JSON has no tuples
    assert_recent_utc(second.at)
    assert await storage.audit.list() == [first, second]


async def test_audit_list_filters_by_scope_and_paginates(storage: Storage) -> None:
    for n in range(4):
        await append(storage, n)
    await append(storage, 9, guild_id=None)
    await append(storage, 8, guild_id=OTHER_GUILD)
    assert [r.subject for r in await storage.audit.list(guild_id=None)] == ["case:9"]
    page = await storage.audit.list(guild_id=GUILD, limit=3)
    assert [r.subject for r in page] == ["case:0", "case:1", "case:2"]
    rest = await storage.audit.list(guild_id=GUILD, after_id=page[-1].id)
    assert [r.subject for r in rest] == ["case:3"]
    assert len(await storage.audit.list(guild_id=ALL)) == 6


async def test_audit_verify_accepts_an_empty_or_intact_chain(storage: Storage) -> None:
    empty = await storage.audit.verify()
    assert (empty.ok, empty.checked, empty.first_bad_id) == (True, 0, None)
    for n in range(5):
        await append(storage, n)
    result = await storage.audit.verify()
    assert (result.ok, result.checked, result.first_bad_id) == (True, 5, None)
    assert result.head == (await storage.audit.list())[-1].hash


async def test_two_storages_appending_at_once_keep_one_chain(storage: Storage, url: str) -> None:
    async with await open_storage(url) as other:
        await asyncio.gather(*(append(s, n) for n in range(40) for s in (storage, other)))
    records = await storage.audit.list(limit=1000)
    assert [r.id for r in records] == list(range(1, 81))
    assert (await storage.audit.verify()).ok


async def test_two_processes_appending_at_once_keep_one_chain(storage: Storage, url: str) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        from bot.storage import open_storage

        async def main():
            async with await open_storage(sys.argv[1]) as storage:
                for n in range(30):
                    await storage.audit.append(
                        guild_id=None, actor="cli", action="x", subject=str(n), details={}
                    )

        asyncio.run(main())
        """
    )
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, url)
    await asyncio.gather(child.wait(), *(append(storage, n) for n in range(30)))
    assert child.returncode == 0
    result = await storage.audit.verify()
    assert (result.ok, result.checked) == (True, 60)


# --- SQLite specifics ---------------------------------------------------------------------------


def tamper(db_path: Path, sql: str, *params: object) -> None:
    """What an attacker with file access does: drop the append-only guards, then edit."""
    with sqlite3.connect(db_path) as raw:
        raw.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        raw.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        raw.execute(sql, params)


@pytest.mark.parametrize(
    ("sql", "bad_id"),
    [
        ("UPDATE audit_log SET details = '{\"n\":2}' WHERE id = 3", 3),
        ("UPDATE audit_log SET actor = 'someone else' WHERE id = 2", 2),
        ("UPDATE audit_log SET details = 'not json' WHERE id = 4", 4),
        ("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000+00:00' WHERE id = 1", 1),
        ("DELETE FROM audit_log WHERE id = 3", 4),  # the next record's prev_hash no longer fits
    ],
)
async def test_sqlite_audit_verify_finds_a_tampered_row(
    db_path: Path, sql: str, bad_id: int
) -> None:
    async with await open_storage(str(db_path)) as storage:
        for n in range(5):
            await append(storage, n)
        tamper(db_path, sql)
        result = await storage.audit.verify()
    assert (result.ok, result.first_bad_id) == (False, bad_id)
    assert result.checked == bad_id - (0 if "DELETE" not in sql else 1)


async def test_sqlite_audit_log_refuses_plain_updates_and_deletes(db_path: Path) -> None:
    async with await open_storage(str(db_path)) as storage:
        await append(storage, 1)
    with (
        sqlite3.connect(db_path) as raw,
        pytest.raises(sqlite3.IntegrityError, match="append-only"),
    ):
        raw.execute("UPDATE audit_log SET actor = 'x'")
    with (
        sqlite3.connect(db_path) as raw,
        pytest.raises(sqlite3.IntegrityError, match="append-only"),
    ):
        raw.execute("DELETE FROM audit_log")
