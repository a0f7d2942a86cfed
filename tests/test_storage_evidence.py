"""Storage, every backend: encrypted evidence kept with cases; expiry, purging, legal hold."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.storage import Case, Storage, StorageError, open_storage
from tests.storage_support import (
    AUTHOR,
    GUILD,
    OTHER_GUILD,
    T0,
    assert_recent_utc,
    new_case,
    new_evidence,
)

DAY = timedelta(days=1)


async def open_case(
    storage: Storage, n: int = 1, *, guild_id: int = GUILD, author_id: int = AUTHOR
) -> Case:
    return await storage.cases.open(new_case(n, guild_id, author_id=author_id))


async def test_put_stores_the_items_in_order_and_for_case_reads_them_back(
    storage: Storage,
) -> None:
    case = await open_case(storage)
    items = [new_evidence(1), new_evidence(2, expires_at=T0 + DAY)]
    stored = await storage.evidence.put(case.id, items)
    assert [(e.label, e.sha256, e.nonce, e.ciphertext) for e in stored] == [
        (i.label, i.sha256, i.nonce, i.ciphertext) for i in items
    ]
    first = stored[0]
    assert (first.case_id, first.media_type, first.size, first.key_id) == (
        case.id,
        "image/png",
        100,
        "key-2030",
    )
    assert [e.expires_at for e in stored] == [T0, T0 + DAY]
    assert first.purged_at is None
    assert_recent_utc(first.created_at)
    assert await storage.evidence.for_case(case.id) == stored


async def test_evidence_belongs_to_its_case_only(storage: Storage) -> None:
    one, two = await open_case(storage, 1), await open_case(storage, 2)
    await storage.evidence.put(one.id, [new_evidence(1)])
    assert await storage.evidence.for_case(two.id) == []
    assert await storage.evidence.put(two.id, []) == []


async def test_put_for_an_unknown_case_is_a_storage_error(storage: Storage) -> None:
    with pytest.raises(StorageError, match="no case 999"):
        await storage.evidence.put(999, [new_evidence()])


async def test_put_stores_all_of_a_batch_or_none_of_it(storage: Storage) -> None:
    case = await open_case(storage)
    broken = dataclasses.replace(new_evidence(2), label=None)  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        await storage.evidence.put(case.id, [new_evidence(1), broken])
    assert await storage.evidence.for_case(case.id) == []


async def test_put_refuses_a_negative_size_or_a_naive_expiry(storage: Storage) -> None:
    case = await open_case(storage)
    with pytest.raises(ValueError, match="negative"):
        await storage.evidence.put(case.id, [new_evidence(size=-1)])
    with pytest.raises(ValueError, match="time zone"):
        await storage.evidence.put(case.id, [new_evidence(expires_at=datetime(2030, 1, 1))])
    assert await storage.evidence.for_case(case.id) == []


async def test_due_for_purge_lists_expired_unheld_items_soonest_first(storage: Storage) -> None:
    case, held = await open_case(storage, 1), await open_case(storage, 2)
    late, early, future = await storage.evidence.put(
        case.id,
        [
            new_evidence(1, expires_at=T0),
            new_evidence(2, expires_at=T0 - DAY),
            new_evidence(3, expires_at=T0 + DAY),
        ],
    )
    await storage.evidence.put(held.id, [new_evidence(4, expires_at=T0 - DAY)])
    await storage.cases.set_legal_hold(held.id, True, actor="mod")
    assert await storage.evidence.due_for_purge(T0) == [early.id, late.id]
    assert await storage.evidence.due_for_purge(T0, limit=1) == [early.id]
    assert await storage.evidence.due_for_purge(T0 - 2 * DAY) == []
    await storage.evidence.purge([early.id], now=T0)
    assert await storage.evidence.due_for_purge(T0 + DAY) == [late.id, future.id]


async def test_due_for_purge_includes_a_case_once_its_hold_is_lifted(storage: Storage) -> None:
    case = await open_case(storage)
    [item] = await storage.evidence.put(case.id, [new_evidence(expires_at=T0)])
    await storage.cases.set_legal_hold(case.id, True, actor="mod")
    assert await storage.evidence.due_for_purge(T0) == []
    await storage.cases.set_legal_hold(case.id, False, actor="mod")
    assert await storage.evidence.due_for_purge(T0) == [item.id]


async def test_purge_drops_the_bytes_keeps_the_row_and_is_idempotent(storage: Storage) -> None:
    case = await open_case(storage)
    gone, kept = await storage.evidence.put(case.id, [new_evidence(1), new_evidence(2)])
    assert await storage.evidence.purge([gone.id, gone.id, 12345], now=T0) == 1
    assert await storage.evidence.purge([gone.id], now=T0 + DAY) == 0
    assert await storage.evidence.for_case(case.id) == [
        dataclasses.replace(gone, nonce=None, ciphertext=None, purged_at=T0),
        kept,
    ]
    assert await storage.evidence.purge([], now=T0) == 0


async def test_purge_never_touches_evidence_under_legal_hold(storage: Storage) -> None:
    case = await open_case(storage)
    [item] = await storage.evidence.put(case.id, [new_evidence()])
    await storage.cases.set_legal_hold(case.id, True, actor="mod")
    assert await storage.evidence.purge([item.id], now=T0) == 0
    assert await storage.evidence.for_case(case.id) == [item]


async def test_purge_handles_more_ids_than_one_statement_binds(storage: Storage) -> None:
    case = await open_case(storage)
    stored = await storage.evidence.put(case.id, [new_evidence(n % 256) for n in range(1200)])
    assert await storage.evidence.purge([e.id for e in stored], now=T0) == 1200
    assert (await storage.evidence.stats(GUILD))["purged"] == 1200


async def test_purge_author_purges_their_cases_but_keeps_held_ones(storage: Storage) -> None:
    first, second, held = [await open_case(storage, n) for n in range(3)]
    other_author = await open_case(storage, 3, author_id=AUTHOR + 1)
    other_guild = await open_case(storage, 4, guild_id=OTHER_GUILD)
    for case in (first, second, held, other_author, other_guild):
        await storage.evidence.put(case.id, [new_evidence(1), new_evidence(2)])
    await storage.cases.set_legal_hold(held.id, True, actor="mod")
    assert await storage.evidence.purge_author(GUILD, AUTHOR, now=T0) == (4, 2)
    assert await storage.evidence.purge_author(GUILD, AUTHOR, now=T0) == (0, 2)
    expected = [(first, True), (second, True), (held, False), (other_author, False)]
    for case, purged in [*expected, (other_guild, False)]:
        items = await storage.evidence.for_case(case.id)
        assert [e.purged_at == T0 for e in items] == [purged, purged]
        assert all((e.ciphertext is None) is purged for e in items)


async def test_stats_count_stored_and_purged_items_and_stored_bytes_per_guild(
    storage: Storage,
) -> None:
    assert await storage.evidence.stats(GUILD) == {"stored": 0, "purged": 0, "bytes": 0}
    case, elsewhere = await open_case(storage, 1), await open_case(storage, 2, guild_id=OTHER_GUILD)
    stored = await storage.evidence.put(case.id, [new_evidence(n) for n in range(3)])
    await storage.evidence.put(elsewhere.id, [new_evidence(9)])
    await storage.evidence.purge([stored[0].id], now=T0)
    assert await storage.evidence.stats(GUILD) == {"stored": 2, "purged": 1, "bytes": 60}
    assert await storage.evidence.stats(OTHER_GUILD) == {"stored": 1, "purged": 0, "bytes": 30}


async def test_purge_times_must_carry_a_time_zone(storage: Storage) -> None:
    with pytest.raises(ValueError, match="time zone"):
        await storage.evidence.due_for_purge(datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        await storage.evidence.purge_author(GUILD, AUTHOR, now=datetime(2030, 1, 1))


# --- SQLite specifics ---------------------------------------------------------------------------


async def test_sqlite_evidence_is_deleted_with_its_case(db_path: Path) -> None:
    async with await open_storage(str(db_path)) as storage:
        case = await open_case(storage)
        await storage.evidence.put(case.id, [new_evidence()])
        db = storage._db  # type: ignore[attr-defined]
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM cases WHERE id = ?", (case.id,))
        assert await db.fetchall("SELECT id FROM evidence") == []
