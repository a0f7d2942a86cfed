"""Storage, every backend: channel cursors, the newest message seen in each channel."""

from __future__ import annotations

import pytest

from bot.storage import Storage, StorageError
from tests.storage_support import GUILD, OTHER_GUILD

# Discord snowflakes use all 63 bits a signed 64-bit integer offers.
BIG = 2**63 - 1


async def test_cursors_start_empty(storage: Storage) -> None:
    assert await storage.cursors.get(GUILD) == {}


async def test_advance_keeps_the_largest_message_id_per_channel(storage: Storage) -> None:
    await storage.cursors.advance(GUILD, 1, 100)
    await storage.cursors.advance(GUILD, 1, 50)  # a late update never moves the cursor back
    await storage.cursors.advance(GUILD, 2, 7)
    assert await storage.cursors.get(GUILD) == {1: 100, 2: 7}
    await storage.cursors.advance(GUILD, 1, 200)
    assert await storage.cursors.get(GUILD) == {1: 200, 2: 7}


async def test_cursors_are_per_guild(storage: Storage) -> None:
    await storage.cursors.advance(GUILD, 1, 100)
    await storage.cursors.advance(OTHER_GUILD, 2, 300)
    assert await storage.cursors.get(GUILD) == {1: 100}
    assert await storage.cursors.get(OTHER_GUILD) == {2: 300}


async def test_full_size_snowflakes_round_trip(storage: Storage) -> None:
    await storage.cursors.advance(GUILD, BIG, BIG)
    assert await storage.cursors.get(GUILD) == {BIG: BIG}


async def test_advance_many_applies_a_batch_keeping_the_largest_ids(storage: Storage) -> None:
    await storage.cursors.advance(GUILD, 1, 500)
    await storage.cursors.advance_many(
        [(GUILD, 1, 400), (GUILD, 2, 10), (GUILD, 2, 30), (GUILD, 2, 20), (OTHER_GUILD, 3, 1)]
    )
    assert await storage.cursors.get(GUILD) == {1: 500, 2: 30}
    assert await storage.cursors.get(OTHER_GUILD) == {3: 1}
    await storage.cursors.advance_many([])
    assert await storage.cursors.get(GUILD) == {1: 500, 2: 30}


async def test_advance_many_applies_all_of_a_batch_or_none_of_it(storage: Storage) -> None:
    with pytest.raises(StorageError):
        await storage.cursors.advance_many([(GUILD, 1, 10), (GUILD, 2, None)])  # type: ignore[list-item]
    assert await storage.cursors.get(GUILD) == {}


async def test_forget_channel_drops_its_cursor_and_says_whether_there_was_one(
    storage: Storage,
) -> None:
    await storage.cursors.advance_many([(GUILD, 1, 100), (GUILD, 2, 200)])
    assert await storage.cursors.forget_channel(1) is True
    assert await storage.cursors.forget_channel(1) is False
    assert await storage.cursors.get(GUILD) == {2: 200}
    await storage.cursors.advance(GUILD, 1, 5)  # a recreated cursor starts afresh
    assert await storage.cursors.get(GUILD) == {1: 5, 2: 200}
