"""The StopNCII-style API client, against a local imitation over HTTPS: paged deltas from a
checkpoint, victims' withdrawals taking effect, bad records skipped, and an unreadable page that
cannot stall the fetching for good."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.feeds import stopncii
from bot.feeds.fetch import FeedFetcher
from bot.feeds.refresh import FeedRefresher, Outcome
from bot.storage import Feed, NewFeed, Storage
from tests.stopncii_server import FUNCTION_KEY, SUBSCRIPTION_KEY, HashApi, hash_api

HASHES = [f"{n:02x}" * 32 for n in range(1, 6)]


@pytest.fixture
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HashApi]:
    monkeypatch.setattr(stopncii, "PAGE_SIZE", 2)
    monkeypatch.setenv(stopncii.KEYS_ENV, f"{FUNCTION_KEY},{SUBSCRIPTION_KEY}")
    async with hash_api(tmp_path) as running:
        yield running


async def _inline(function: Any, *args: Any) -> Any:
    return function(*args)


async def _subscribe(storage: Storage, api: HashApi) -> Feed:
    new = NewFeed(None, api.base, "stopncii", "", stopncii.API_FORMAT, 3600, "cli")
    feed = await storage.feeds.subscribe(new)
    assert feed is not None
    return feed


async def _refresh(storage: Storage, api: HashApi, feed: Feed) -> tuple[Outcome, Feed]:
    current = await storage.feeds.get(feed.id)
    assert current is not None
    async with aiohttp.ClientSession() as session:
        refresher = FeedRefresher(storage, FeedFetcher(session, api.limits()), _inline)
        outcome = await refresher.refresh(current)
    after = await storage.feeds.get(feed.id)
    assert after is not None
    return outcome, after


async def _values(storage: Storage) -> set[str]:
    return {e.value for e in await storage.blocklist.list()}


async def test_pages_are_fetched_from_the_checkpoint_and_a_withdrawal_takes_effect(
    api: HashApi, storage: Storage
) -> None:
    for at, pdq in enumerate(HASHES, start=100):
        api.record(pdq, "Active" if at % 2 else "Received", at, {f"case-{at}": "Active"})
    feed = await _subscribe(storage, api)
    outcome, after = await _refresh(storage, api, feed)
    assert outcome.text == f"feed {feed.id}: 3 pages, 5 added, 0 removed"
    assert await _values(storage) == set(HASHES)
    assert [r.get("nextPageToken", "") == "" for r in api.requests] == [True, False, False]
    assert after.checkpoint == 104 and after.entry_count == 5
    [first] = [e for e in await storage.blocklist.list() if e.value == HASHES[0]]
    assert first.reason == "StopNCII cases case-100" and first.source == feed.source
    # The victim withdraws the third hash: its record changes status (its hash stays the same).
    api.record(HASHES[2], "Withdrawn", 200)
    api.requests.clear()
    outcome, after = await _refresh(storage, api, feed)
    assert api.requests[0]["startTimestamp"] == "104"
    assert "1 removed" in outcome.text and HASHES[2] not in await _values(storage)
    assert after.checkpoint == 200 and after.entry_count == 4
    # Nothing new: the same last record again, which changes nothing.
    outcome, _ = await _refresh(storage, api, feed)
    assert "0 added, 0 removed" in outcome.text


async def test_the_api_keys_come_from_the_environment_and_a_refusal_is_reported(
    api: HashApi, storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.record(HASHES[0], "Active", 100)
    feed = await _subscribe(storage, api)
    monkeypatch.delenv(stopncii.KEYS_ENV)
    outcome, after = await _refresh(storage, api, feed)
    assert f"no API keys: set {stopncii.KEYS_ENV}" in outcome.text and api.requests == []
    monkeypatch.setenv(stopncii.KEYS_ENV, "wrong,keys")
    outcome, after = await _refresh(storage, api, feed)
    assert "the API refused the keys (HTTP 401)" in after.last_error
    assert await _values(storage) == set()


async def test_bad_records_on_a_page_are_skipped_and_the_fetching_goes_on(
    api: HashApi, storage: Storage
) -> None:
    for at, pdq in enumerate(HASHES, start=100):
        api.record(pdq, "Active", at)
    api.malformed_offsets = {2}  # the second page carries a record without its hash
    feed = await _subscribe(storage, api)
    outcome, after = await _refresh(storage, api, feed)
    assert "3 pages, 5 added" in outcome.text and "1 bad records skipped" in outcome.text
    assert await _values(storage) == set(HASHES)
    assert "hashValue must be text" in after.last_error


async def test_an_unreadable_page_is_retried_then_skipped_so_fetching_never_stalls(
    api: HashApi, storage: Storage
) -> None:
    api.record(HASHES[0], "Active", 100)
    feed = await _subscribe(storage, api)
    _, after = await _refresh(storage, api, feed)
    assert after.checkpoint == 100
    api.record(HASHES[1], "Active", 101)
    api.garbage_from = {100}  # the page after the checkpoint is an error page, every time
    for tries in (1, 2):
        outcome, after = await _refresh(storage, api, feed)
        assert "not JSON" in outcome.text and f"(failure {tries} in a row)" in outcome.text
        assert after.checkpoint == 100 and after.failures == tries
    outcome, after = await _refresh(storage, api, feed)
    assert "unreadable 3 times at checkpoint 100: skipped past" in outcome.text
    assert after.checkpoint == 101 and after.failures == 0
    outcome, after = await _refresh(storage, api, feed)
    assert "1 added" in outcome.text and await _values(storage) == set(HASHES[:2])
