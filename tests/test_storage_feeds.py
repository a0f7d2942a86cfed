"""Storage, every backend: hash-list subscriptions, their refreshes, and the entries they bring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.hash_lists import Removal
from bot.storage import ALL, Feed, FeedRefresh, NewFeed, Storage
from tests.storage_support import GUILD, OTHER_GUILD, assert_recent_utc, md5

URL = "https://lists.example/hashes.json"
LATER = datetime(2031, 1, 1, tzinfo=UTC)


def listed(feed: Feed, *ns: int) -> list[NewEntry]:
    return [NewEntry(Algorithm.MD5, md5(n), feed.guild_id, feed.source) for n in ns]


async def subscribe(storage: Storage, guild_id: int | None = GUILD, url: str = URL) -> Feed:
    feed = await storage.feeds.subscribe(NewFeed(guild_id, url, "list", added_by="user:7"))
    assert feed is not None
    return feed


async def values(storage: Storage, feed: Feed) -> set[str]:
    return {e.value for e in await storage.blocklist.list() if e.source == feed.source}


async def test_a_subscription_is_stored_due_at_once_with_its_audit_record(
    storage: Storage,
) -> None:
    new = NewFeed(GUILD, URL, "list", public_key="k", refresh_seconds=600, added_by="user:7")
    feed = await storage.feeds.subscribe(new)
    assert feed is not None and feed.source == f"feed:{feed.id}"
    assert (feed.guild_id, feed.url, feed.name, feed.public_key) == (GUILD, URL, "list", "k")
    assert (feed.refresh_seconds, feed.entry_count, feed.failures, feed.checkpoint) == (
        600,
        0,
        0,
        0,
    )
    assert (feed.etag, feed.last_error, feed.last_ok_at, feed.last_error_at) == ("", "", None, None)
    assert feed.next_at == feed.created_at
    assert_recent_utc(feed.created_at)
    assert await storage.feeds.get(feed.id) == feed
    assert await storage.feeds.due(datetime.now(UTC)) == [feed]
    [record] = await storage.audit.list()
    assert (record.action, record.actor, record.subject) == (
        "feed.subscribed",
        "user:7",
        f"feed {feed.id}",
    )
    assert record.details == {"url": URL}


async def test_one_subscription_per_scope_and_url(storage: Storage) -> None:
    first = await subscribe(storage)
    assert await storage.feeds.subscribe(NewFeed(GUILD, URL, "again")) is None
    elsewhere = await subscribe(storage, OTHER_GUILD)
    instance = await subscribe(storage, None)
    assert await storage.feeds.subscribe(NewFeed(None, URL, "again")) is None
    assert await storage.feeds.list(GUILD) == [first]
    assert await storage.feeds.list(None) == [instance]
    assert await storage.feeds.list(ALL) == [first, elsewhere, instance]
    assert len(await storage.audit.list()) == 3  # the refused ones wrote nothing


async def test_a_good_copy_becomes_the_feeds_entries_less_its_withdrawals(storage: Storage) -> None:
    feed = await subscribe(storage)
    withdrawn = Removal(Algorithm.MD5, md5(3), GUILD, feed.source)
    result = await storage.feeds.refreshed(
        feed.id, listed(feed, 1, 2, 3), [withdrawn], etag='"v1"', last_modified="Mon", next_at=LATER
    )
    assert result == FeedRefresh(added=2, removed=0, entries=2)
    assert await values(storage, feed) == {md5(1), md5(2)}
    stored = await storage.feeds.get(feed.id)
    assert stored is not None
    assert (stored.etag, stored.last_modified, stored.next_at, stored.entry_count) == (
        '"v1"',
        "Mon",
        LATER,
        2,
    )
    assert stored.last_ok_at is not None and stored.failures == 0
    assert await storage.feeds.due(datetime.now(UTC)) == []
    # The next copy no longer lists 1: it goes; 4 is new.
    again = await storage.feeds.refreshed(
        feed.id, listed(feed, 2, 4), [], etag='"v2"', last_modified="", next_at=LATER
    )
    assert again == FeedRefresh(added=1, removed=1, entries=2)
    assert await values(storage, feed) == {md5(2), md5(4)}
    since = datetime.now(UTC) - timedelta(minutes=1)
    gone = await storage.blocklist.removed_since(since, [feed.source])
    assert [(a, v) for a, v, _ in gone] == [(Algorithm.MD5, md5(1))]
    records = [r for r in await storage.audit.list() if r.action == "feed.refreshed"]
    assert [r.details for r in records] == [
        {"added": 2, "removed": 0, "entries": 2},
        {"added": 1, "removed": 1, "entries": 2},
    ]
    assert (await storage.audit.verify()).ok


async def test_a_copy_leaves_other_sources_entries_alone(storage: Storage) -> None:
    feed = await subscribe(storage)
    other = await subscribe(storage, url="https://other.example/list")
    await storage.feeds.refreshed(
        feed.id, listed(feed, 1), [], etag="", last_modified="", next_at=LATER
    )
    await storage.feeds.refreshed(
        other.id, listed(other, 1, 2), [], etag="", last_modified="", next_at=LATER
    )
    await storage.blocklist.add([NewEntry(Algorithm.MD5, md5(1), GUILD, "local")])
    await storage.feeds.refreshed(feed.id, [], [], etag="", last_modified="", next_at=LATER)
    assert await values(storage, feed) == set()
    assert await values(storage, other) == {md5(1), md5(2)}
    assert len(await storage.blocklist.list(guild_id=GUILD)) == 3


async def test_delta_pages_add_remove_and_move_the_checkpoint(storage: Storage) -> None:
    feed = await subscribe(storage)
    first = await storage.feeds.delta(feed.id, listed(feed, 1, 2), [], checkpoint=100, next_at=None)
    assert first == FeedRefresh(added=2, removed=0, entries=2)
    paging = await storage.feeds.get(feed.id)
    assert paging is not None and paging.checkpoint == 100 and paging.next_at == feed.next_at
    removal = Removal(Algorithm.MD5, md5(1), GUILD, feed.source)
    last = await storage.feeds.delta(
        feed.id, listed(feed, 3), [removal], checkpoint=200, next_at=LATER, note="1 skipped"
    )
    assert last == FeedRefresh(added=1, removed=1, entries=2)
    done = await storage.feeds.get(feed.id)
    assert done is not None
    assert (done.checkpoint, done.next_at, done.entry_count) == (200, LATER, 2)
    assert done.last_error == "1 skipped" and done.last_error_at is not None
    assert await values(storage, feed) == {md5(2), md5(3)}
    [*_, record] = await storage.audit.list()
    assert record.details == {"added": 1, "removed": 1, "entries": 2, "checkpoint": 200}


async def test_not_modified_and_failures_keep_the_last_good_copy(storage: Storage) -> None:
    feed = await subscribe(storage)
    await storage.feeds.refreshed(
        feed.id, listed(feed, 1), [], etag="e", last_modified="", next_at=LATER
    )
    await storage.feeds.failed(feed.id, "HTTP 500", next_at=LATER)
    await storage.feeds.failed(feed.id, "HTTP 502", next_at=LATER)
    failing = await storage.feeds.get(feed.id)
    assert failing is not None
    assert (failing.last_error, failing.failures, failing.entry_count) == ("HTTP 502", 2, 1)
    assert failing.last_error_at is not None
    assert await values(storage, feed) == {md5(1)}
    await storage.feeds.failed(feed.id, "unreadable page", next_at=LATER, skip_to=500)
    skipped = await storage.feeds.get(feed.id)
    assert skipped is not None and (skipped.checkpoint, skipped.failures) == (500, 0)
    soon = datetime(2032, 1, 1, tzinfo=UTC)
    await storage.feeds.not_modified(feed.id, next_at=soon)
    fine = await storage.feeds.get(feed.id)
    assert fine is not None and (fine.last_error, fine.failures, fine.next_at) == ("", 0, soon)
    assert fine.etag == "e" and fine.last_ok_at is not None


async def test_unsubscribing_removes_the_feed_and_every_entry_it_brought(storage: Storage) -> None:
    feed = await subscribe(storage)
    await storage.feeds.refreshed(
        feed.id, listed(feed, 1, 2), [], etag="", last_modified="", next_at=LATER
    )
    revision = await storage.blocklist.revision()
    gone = await storage.feeds.unsubscribe(feed.id, actor="user:8")
    assert gone is not None and gone.id == feed.id
    assert await storage.feeds.get(feed.id) is None
    assert await values(storage, feed) == set()
    changes = await storage.blocklist.changes_since(revision)
    assert changes is not None and len(changes.removed) == 2
    [*_, record] = await storage.audit.list()
    assert (record.action, record.actor) == ("feed.unsubscribed", "user:8")
    assert record.details == {"url": URL, "entries_removed": 2}
    assert await storage.feeds.unsubscribe(feed.id, actor="user:8") is None


async def test_refreshing_a_feed_that_is_gone_changes_nothing(storage: Storage) -> None:
    feed = await subscribe(storage)
    await storage.feeds.unsubscribe(feed.id, actor="user:7")
    with pytest.raises(KeyError):
        await storage.feeds.refreshed(
            feed.id, listed(feed, 1), [], etag="", last_modified="", next_at=LATER
        )
    with pytest.raises(KeyError):
        await storage.feeds.delta(feed.id, listed(feed, 1), [], checkpoint=1, next_at=None)
    assert await storage.blocklist.list() == []
