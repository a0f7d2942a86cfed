"""Storage, every backend: blocklist entries, paging, counts and the revision; SQLite specifics."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from bot.core.blocklist import Algorithm, MatchRow, NewEntry
from bot.core.hash_lists import Removal
from bot.storage import ALL, Storage, StorageError, open_storage
from tests.storage_support import (
    GUILD,
    OTHER_GUILD,
    assert_recent_utc,
    break_change_feed,
    entry,
    md5,
    pdq,
)

if TYPE_CHECKING:
    from bot.core.blocklist import BlocklistEntry


# --- blocklist --------------------------------------------------------------------------------


async def test_blocklist_add_returns_stored_entries(storage: Storage) -> None:
    new = NewEntry(Algorithm.PDQ, pdq(1).upper(), source="stopncii", reason="fake", added_by="op")
    result = await storage.blocklist.add([new])
    assert result.duplicates == []
    [stored] = result.added
    assert (stored.algorithm, stored.value, stored.guild_id) == (Algorithm.PDQ, pdq(1), None)
    assert (stored.source, stored.reason, stored.added_by, stored.allow) == (
        "stopncii",
        "fake",
        "op",
        False,
    )
    assert_recent_utc(stored.added_at)
    assert await storage.blocklist.get(stored.id) == stored


async def test_blocklist_add_reports_duplicates_stored_or_repeated(storage: Storage) -> None:
    await storage.blocklist.add([entry(1)])
    result = await storage.blocklist.add([entry(1), entry(2), entry(2, reason="again")])
    assert [e.value for e in result.added] == [md5(2)]
    assert result.duplicates == [entry(1), entry(2, reason="again")]
    assert len(await storage.blocklist.list()) == 2


async def test_same_hash_in_another_scope_or_as_allow_entry_is_not_a_duplicate(
    storage: Storage,
) -> None:
    variants = [entry(1), entry(1, guild_id=GUILD), entry(1, allow=True)]
    variants += [entry(1, guild_id=GUILD, allow=True), NewEntry(Algorithm.PHASH, "0" * 15 + "1")]
    result = await storage.blocklist.add(variants)
    assert len(result.added) == 5 and result.duplicates == []
    assert (await storage.blocklist.add(variants)).duplicates == variants


async def test_blocklist_add_nothing_changes_nothing(storage: Storage) -> None:
    result = await storage.blocklist.add([])
    assert (result.added, result.duplicates) == ([], [])
    assert await storage.blocklist.revision() == 0


async def test_blocklist_remove_returns_the_entry_once(storage: Storage) -> None:
    [stored] = (await storage.blocklist.add([entry(1)])).added
    assert await storage.blocklist.remove(stored.id) == stored
    assert await storage.blocklist.get(stored.id) is None
    assert await storage.blocklist.remove(stored.id) is None


async def test_blocklist_list_paginates_by_id(storage: Storage) -> None:
    added = (await storage.blocklist.add([entry(n) for n in range(7)])).added
    pages, after = [], 0
    while page := await storage.blocklist.list(limit=3, after_id=after):
        pages.append(page)
        after = page[-1].id
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [e for p in pages for e in p] == added


async def test_blocklist_list_filters_by_scope(storage: Storage) -> None:
    await storage.blocklist.add(
        [entry(1), entry(2, guild_id=GUILD), entry(3, guild_id=OTHER_GUILD)]
    )
    assert [e.value for e in await storage.blocklist.list(guild_id=None)] == [md5(1)]
    assert [e.value for e in await storage.blocklist.list(guild_id=GUILD)] == [md5(2)]
    assert len(await storage.blocklist.list(guild_id=ALL)) == 3


async def test_allow_entries_are_kept_apart_from_blocking_ones(storage: Storage) -> None:
    await storage.blocklist.add([entry(1), entry(2, allow=True, reason="false positive")])
    listed = {e.value: e.allow for e in await storage.blocklist.list()}
    assert listed == {md5(1): False, md5(2): True}


@pytest.mark.parametrize("count", [0, 6, 7])
async def test_iter_all_yields_every_entry_in_id_order(storage: Storage, count: int) -> None:
    added = (await storage.blocklist.add([entry(n) for n in range(count)])).added
    assert [e async for e in storage.blocklist.iter_all(batch_size=3)] == added


@pytest.mark.parametrize("count", [0, 6, 7])
async def test_match_rows_yields_every_entrys_matching_columns_in_batches(
    storage: Storage, count: int
) -> None:
    added = (
        await storage.blocklist.add(
            [entry(n, guild_id=GUILD if n % 2 else None, allow=n == 4) for n in range(count)]
        )
    ).added
    batches = [rows async for rows in storage.blocklist.match_rows(batch_size=3)]
    assert [len(rows) for rows in batches] == [3] * (count // 3) + (
        [count % 3] if count % 3 else []
    )
    assert [row for rows in batches for row in rows] == [MatchRow.of(e) for e in added]
    with pytest.raises(ValueError, match="batch_size"):
        [rows async for rows in storage.blocklist.match_rows(batch_size=0)]


async def test_storage_is_usable_between_items_of_iter_all(storage: Storage) -> None:
    await storage.blocklist.add([entry(n) for n in range(5)])
    seen = []
    async for item in storage.blocklist.iter_all(batch_size=2):
        seen.append(item.id)
        assert await storage.blocklist.get(item.id) == item  # would deadlock if a lock were held
    assert len(seen) == 5


async def test_count_reports_every_algorithm_and_allow_entries(storage: Storage) -> None:
    assert await storage.blocklist.count() == {
        "pdq": 0,
        "phash": 0,
        "sha256": 0,
        "md5": 0,
        "clip": 0,
        "allow": 0,
    }
    await storage.blocklist.add(
        [entry(1), entry(2, guild_id=GUILD), entry(3, allow=True), NewEntry(Algorithm.PDQ, pdq(1))]
    )
    counts = await storage.blocklist.count()
    assert counts == {"pdq": 1, "phash": 0, "sha256": 0, "md5": 2, "clip": 0, "allow": 1}


async def test_revision_moves_with_every_change_but_not_with_pure_duplicates(
    storage: Storage,
) -> None:
    assert await storage.blocklist.revision() == 0
    [stored] = (await storage.blocklist.add([entry(1)])).added
    assert await storage.blocklist.revision() == 1
    await storage.blocklist.add([entry(1)])
    assert await storage.blocklist.revision() == 1
    await storage.blocklist.remove(stored.id)
    assert await storage.blocklist.revision() == 2
    await storage.blocklist.remove(stored.id)
    assert await storage.blocklist.revision() == 2


async def test_revision_change_is_seen_by_another_storage(storage: Storage, url: str) -> None:
    async with await open_storage(url) as cli:
        before = await storage.blocklist.revision()
        await cli.blocklist.add([entry(1)])
        assert await storage.blocklist.revision() == before + 1


async def test_blocklist_refuses_bad_pages(storage: Storage) -> None:
    with pytest.raises(ValueError):
        await storage.blocklist.list(limit=0)
    with pytest.raises(ValueError):
        [e async for e in storage.blocklist.iter_all(batch_size=0)]


# --- SQLite specifics ---------------------------------------------------------------------------


async def test_sqlite_iter_all_fetches_one_batch_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with await open_storage(":memory:") as storage:
        await storage.blocklist.add([entry(n) for n in range(7)])
        real_list, fetched = storage.blocklist.list, []

        async def spy(**kwargs: Any) -> list[BlocklistEntry]:
            page = await real_list(**kwargs)
            fetched.append(len(page))
            return page

        monkeypatch.setattr(storage.blocklist, "list", spy)
        assert len([e async for e in storage.blocklist.iter_all(batch_size=3)]) == 7
    assert fetched == [3, 3, 1]


async def test_sqlite_add_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async with await open_storage(":memory:") as storage:
        monkeypatch.setattr("bot.storage.sqlite.blocklist._record_change", fail)
        with pytest.raises(StorageError, match="disk I/O error"):
            await storage.blocklist.add([entry(1), entry(2)])
        monkeypatch.undo()
        assert await storage.blocklist.list() == []
        assert len((await storage.blocklist.add([entry(1)])).added) == 1  # still usable


async def test_the_change_feed_says_what_was_added_and_removed_since_a_revision(
    storage: Storage,
) -> None:
    start = await storage.blocklist.revision()
    first = await storage.blocklist.add([entry(1), entry(2)])
    middle = await storage.blocklist.revision()
    await storage.blocklist.add([entry(3)])
    await storage.blocklist.remove(first.added[0].id)
    changes = await storage.blocklist.changes_since(start)
    assert changes is not None and changes.revision == await storage.blocklist.revision()
    # The removed entry is gone from the rows and listed as removed.
    assert [r.value for r in changes.added] == [md5(2), md5(3)]
    assert changes.removed == (first.added[0].id,)
    later = await storage.blocklist.changes_since(middle)
    assert later is not None and [r.value for r in later.added] == [md5(3)]
    nothing = await storage.blocklist.changes_since(changes.revision)
    assert nothing is not None and nothing.added == () and nothing.removed == ()


async def test_the_change_feed_declines_a_big_import_and_an_unknown_revision(
    storage: Storage,
) -> None:
    start = await storage.blocklist.revision()
    await storage.blocklist.add([entry(n) for n in range(10)])
    assert await storage.blocklist.changes_since(start, limit=5) is None  # rebuild instead
    assert await storage.blocklist.changes_since(start + 100) is None


async def test_a_list_withdraws_only_the_entry_its_own_source_added(storage: Storage) -> None:
    pdq = "ab" * 32
    feed = NewEntry(Algorithm.PDQ, pdq, None, "stopncii")
    confirmed = NewEntry(Algorithm.PDQ, pdq, None, "case")  # a moderator's own decision
    first = await storage.blocklist.apply([feed, confirmed], [])
    assert first.added == 2  # the same hash from two sources: two entries
    [from_feed] = [e for e in await storage.blocklist.list() if e.source == "stopncii"]
    revision = await storage.blocklist.revision()
    withdrawn = Removal(Algorithm.PDQ, pdq, None, "stopncii")
    elsewhere = Removal(Algorithm.PDQ, pdq, 42, "stopncii")  # another scope: not this entry
    result = await storage.blocklist.apply([], [withdrawn, elsewhere])
    assert [e.source for e in result.removed] == ["stopncii"]
    assert result.missing == [elsewhere]
    assert [e.source for e in await storage.blocklist.list()] == ["case"]
    changes = await storage.blocklist.changes_since(revision)
    assert changes is not None and changes.removed == (from_feed.id,)


async def test_a_list_lands_whole_or_not_at_all(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = NewEntry(Algorithm.MD5, "1" * 32, None, "import:x")
    await storage.blocklist.apply([kept], [])
    revision = await storage.blocklist.revision()
    # The additions are written, then the withdrawal's change record fails: nothing stays.
    break_change_feed(storage, monkeypatch)
    added = NewEntry(Algorithm.MD5, "2" * 32, None, "import:x")
    with pytest.raises(StorageError, match="disk"):
        await storage.blocklist.apply([added], [Removal(Algorithm.MD5, "1" * 32, None, "import:x")])
    assert [e.value for e in await storage.blocklist.list()] == ["1" * 32]
    assert await storage.blocklist.revision() == revision
