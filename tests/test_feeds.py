"""Feeds between instances: a publisher signs its confirmed hashes, a subscriber fetches them over
real HTTPS with conditional requests, and refuses what is unsigned, altered or broken while the
last good copy keeps matching."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.signed_feed import generate_key, load_private_key
from bot.feeds.fetch import FeedFetcher
from bot.feeds.publish import publish
from bot.feeds.refresh import FeedRefresher, Outcome
from bot.storage import Feed, NewFeed, Storage, open_storage
from tests.feed_server import FeedHost, feed_host

A, B, C = ("a1" * 32), ("b2" * 32), ("c3" * 32)
MD5 = "d4" * 16


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[FeedHost]:
    async with feed_host(tmp_path) as running:
        yield running


@pytest.fixture
async def publisher(tmp_path: Path) -> AsyncIterator[Storage]:
    async with await open_storage(str(tmp_path / "publisher.db")) as opened:
        yield opened


@pytest.fixture
async def subscriber(url: str) -> AsyncIterator[Storage]:
    """The subscribing instance, on each backend in turn (the publisher is another instance)."""
    async with await open_storage(url) as opened:
        yield opened


async def _inline(function: Any, *args: Any) -> Any:
    return function(*args)


async def _refresh(storage: Storage, host: FeedHost, feed: Feed, **limits: object) -> Outcome:
    async with aiohttp.ClientSession() as session:
        fetcher = FeedFetcher(session, host.limits(**limits))
        current = await storage.feeds.get(feed.id)
        assert current is not None
        return await FeedRefresher(storage, fetcher, _inline).refresh(current)


async def _values(storage: Storage) -> set[str]:
    return {e.value for e in await storage.blocklist.list()}


async def _subscribe(storage: Storage, host: FeedHost, key: str = "", fmt: str = "auto") -> Feed:
    feed = await storage.feeds.subscribe(NewFeed(None, host.url, "test", key, fmt, 3600, "cli"))
    assert feed is not None
    return feed


async def test_a_signed_feed_travels_with_its_removals_and_is_fetched_only_when_changed(
    host: FeedHost, publisher: Storage, subscriber: Storage
) -> None:
    pem, public = generate_key()
    key = load_private_key(pem)
    await publisher.blocklist.add(
        [
            NewEntry(Algorithm.PDQ, A, None, "case", "case 3 by <@123>", "user:123"),
            NewEntry(Algorithm.PDQ, B, 42, "cli"),
            NewEntry(Algorithm.PDQ, C, None, "feed:9"),  # received from elsewhere: not re-shared
            NewEntry(Algorithm.MD5, MD5, None, "case", allow=True),  # a false positive: not shared
        ]
    )
    host.body, entries, removed = await publish(publisher, key, publisher="inst-a")
    assert (entries, removed) == (2, 0)
    assert "123" not in host.body and "case 3" not in host.body  # no user ids, no reasons
    feed = await _subscribe(subscriber, host, public)
    first = await _refresh(subscriber, host, feed)
    assert first.changed and "2 added, 0 removed, 2 entries" in first.text
    assert await _values(subscriber) == {A, B}
    stored = await subscriber.blocklist.list()
    assert {(e.source, e.guild_id) for e in stored} == {(feed.source, None)}
    # Unchanged: a conditional request, answered 304, and nothing touched.
    second = await _refresh(subscriber, host, feed)
    assert not second.changed and "not modified" in second.text
    assert host.requests[-1]["If-None-Match"] == host.etag
    # The publisher removes B: the next feed lists it as removed, and the subscriber drops it.
    [b_entry] = [e for e in await publisher.blocklist.list() if e.value == B]
    await publisher.blocklist.remove(b_entry.id)
    host.body, entries, removed = await publish(publisher, key, publisher="inst-a")
    assert (entries, removed) == (1, 1)
    third = await _refresh(subscriber, host, feed)
    assert "0 added, 1 removed, 1 entries" in third.text
    assert await _values(subscriber) == {A}
    actions = [r.action for r in await subscriber.audit.list()]
    assert actions == ["feed.subscribed", "feed.refreshed", "feed.refreshed"]


@pytest.mark.parametrize("tamper", ["altered", "unsigned", "other key"])
async def test_a_feed_that_is_not_signed_by_the_pinned_key_changes_nothing(
    host: FeedHost, publisher: Storage, subscriber: Storage, tamper: str
) -> None:
    pem, public = generate_key()
    await publisher.blocklist.add([NewEntry(Algorithm.PDQ, A, None, "case")])
    host.body, _, _ = await publish(publisher, load_private_key(pem), publisher="inst-a")
    feed = await _subscribe(subscriber, host, public)
    assert "1 added" in (await _refresh(subscriber, host, feed)).text
    await publisher.blocklist.add([NewEntry(Algorithm.PDQ, B, None, "case")])
    if tamper == "altered":
        good, _, _ = await publish(publisher, load_private_key(pem), publisher="inst-a")
        envelope = json.loads(good)
        envelope["payload"] = envelope["payload"].replace(A, C)  # swap a hash, keep the signature
        host.body, why = json.dumps(envelope), "altered"
    elif tamper == "unsigned":
        host.body, why = f"pdq {A}\npdq {B}\n", "unsigned"
    else:
        other = load_private_key(generate_key()[0])
        host.body, _, _ = await publish(publisher, other, publisher="impostor")
        why = "not the pinned key"
    outcome = await _refresh(subscriber, host, feed)
    assert "refresh failed" in outcome.text and why in outcome.text
    assert "the last good copy (1 entries) stays" in outcome.text
    assert await _values(subscriber) == {A}
    stored = await subscriber.feeds.get(feed.id)
    assert stored is not None and why in stored.last_error and stored.entry_count == 1


async def test_an_unsigned_list_is_a_snapshot_with_withdrawals_and_never_allow_lists(
    host: FeedHost, subscriber: Storage
) -> None:
    records = [
        {"signalType": "ImagePDQ", "hashValue": A, "hashStatus": "Active"},
        {"signalType": "ImagePDQ", "hashValue": B, "hashStatus": "Active"},
    ]
    host.body = json.dumps({"hashRecords": records})
    feed = await _subscribe(subscriber, host)
    await _refresh(subscriber, host, feed)
    assert await _values(subscriber) == {A, B}
    records[1]["hashStatus"] = "Withdrawn"  # the victim withdrew B
    records.append({"signalType": "ImagePDQ", "hashValue": C, "hashStatus": "Received"})
    host.body = json.dumps({"hashRecords": records})
    outcome = await _refresh(subscriber, host, feed)
    assert "1 added, 1 removed, 2 entries" in outcome.text
    assert await _values(subscriber) == {A, C}
    # A CSV list's rows name their own source, scope and allow flag: a feed's are its own, and
    # an allow row (which would wave known abuse through) is ignored.
    host.body = f"algorithm,hash,scope,allow,source\npdq,{A},77,false,x\npdq,{B},,true,y\n"
    outcome = await _refresh(subscriber, host, feed)
    assert "1 allow-list rows ignored" in outcome.text
    [entry] = await subscriber.blocklist.list()
    assert (entry.value, entry.guild_id, entry.allow, entry.source) == (A, None, False, feed.source)


async def test_a_list_with_an_invalid_row_is_not_applied_at_all(
    host: FeedHost, subscriber: Storage
) -> None:
    host.body = f"pdq {A}\n"
    feed = await _subscribe(subscriber, host)
    await _refresh(subscriber, host, feed)
    host.body = f"pdq {B}\npdq nothex\n"
    outcome = await _refresh(subscriber, host, feed)
    assert "1 invalid rows (first: line 2: pdq hash must be 64 hex digits" in outcome.text
    assert await _values(subscriber) == {A}


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ({"status": 503}, "the host answered HTTP 503"),
        ({"status": 302}, "redirects are not followed"),
        ({"pad": 4096}, "over the 2,048-byte limit"),
    ],
)
async def test_a_feed_that_cannot_be_fetched_keeps_its_last_good_copy(
    host: FeedHost, subscriber: Storage, setup: dict[str, int], why: str
) -> None:
    host.body = f"pdq {A}\n"
    feed = await _subscribe(subscriber, host)
    await _refresh(subscriber, host, feed, max_bytes=2048)
    host.body = f"pdq {B}\n"
    for name, value in setup.items():
        setattr(host, name, value)
    outcome = await _refresh(subscriber, host, feed, max_bytes=2048)
    assert why in outcome.text and "last good copy (1 entries) stays" in outcome.text
    assert await _values(subscriber) == {A}


async def test_only_https_feeds_on_allowed_hosts_are_fetched(
    host: FeedHost, subscriber: Storage
) -> None:
    host.body = f"pdq {A}\n"
    feed = await _subscribe(subscriber, host)
    outcome = await _refresh(subscriber, host, feed, allowed_hosts=("feeds.example.org",))
    assert f"127.0.0.1:{host.port} is not in [feeds] allowed_hosts" in outcome.text
    assert host.requests == []  # never even asked
    limits = host.limits()
    assert limits.refuses(host.url.replace("https", "http")) == "only https:// feeds are fetched"
    assert host.limits(allowed_hosts=("*.example.org",)).refuses("https://a.example.org/x") is None
    assert "allowed_hosts is empty" in str(host.limits(allowed_hosts=()).refuses(host.url))


async def test_unsubscribing_removes_the_feeds_entries(host: FeedHost, subscriber: Storage) -> None:
    host.body = f"pdq {A}\npdq {B}\n"
    feed = await _subscribe(subscriber, host)
    await _refresh(subscriber, host, feed)
    await subscriber.blocklist.add([NewEntry(Algorithm.PDQ, A, None, "case")])  # our own too
    gone = await subscriber.feeds.unsubscribe(feed.id, actor="cli")
    assert gone is not None
    assert [e.source for e in await subscriber.blocklist.list()] == ["case"]
    assert await subscriber.feeds.subscribe(NewFeed(None, host.url, "again")) is not None
    assert await subscriber.feeds.subscribe(NewFeed(None, host.url, "twice")) is None
