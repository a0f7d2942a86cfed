"""Refreshing subscriptions: fetch each due feed, check it, and apply it whole or not at all.

A feed is a snapshot of its publisher's list: a good copy replaces the entries of the last one
(what it no longer lists goes; Withdrawn and Deleted records go too). A copy that cannot be used
(the host is down, the signature fails, a row is invalid) changes nothing: the entries of the
last good copy keep matching, and the subscription says why the refresh failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core import blocklist_io
from bot.core.hash_lists import Collector, ParsedFile
from bot.core.signed_feed import FeedError, is_signed, load_public_key, parse_payload, verify
from bot.feeds.fetch import FeedFetcher, FetchFailed
from bot.feeds.stopncii import (
    API_FORMAT,
    DEFAULT_START,
    KEYS_ENV,
    MAX_PAGES,
    SKIP_AFTER,
    PageUnreadable,
    StopNCIIClient,
    api_keys,
)
from bot.storage import Feed, Storage

log = logging.getLogger(__name__)

RETRY_SECONDS = 900
"""After a failed refresh, the next try comes this soon (or at the feed's own interval, if
shorter)."""

Run = Callable[..., Awaitable[Any]]
"""Runs CPU work off the event loop (the engine's bounded executor)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one refresh came to, for logs, the CLI and ``/feeds list``."""

    feed: Feed
    changed: bool
    text: str


def read_copy(text: str, feed: Feed) -> ParsedFile:
    """A fetched copy's entries and removals, as the subscription's own (its source, its scope,
    blocking only). FeedError when a pinned key refuses it. CPU work: run it in an executor."""
    out = Collector(source=feed.source, added_by=feed.source, guild_id=feed.guild_id)
    if feed.public_key:
        return parse_payload(verify(text, load_public_key(feed.public_key)), out)
    if is_signed(text):
        out.note("signature not checked: this subscription pins no key")
        try:
            payload = json.loads(text).get("payload")
        except (json.JSONDecodeError, AttributeError):
            payload = None
        if not isinstance(payload, str):
            raise FeedError("malformed: the envelope lacks its payload")
        return parse_payload(payload, out)
    fmt = blocklist_io.detect_format(text) if feed.format == "auto" else feed.format
    parsed = blocklist_io.parse(
        text, fmt, default_source=feed.source, added_by=feed.source, guild_id=feed.guild_id
    )
    # CSV and JSON rows name their own source, scope and allow flag; a feed's entries are its
    # own, in its subscriber's scope, and never allow-list anything: a server's allow-list is
    # its own to keep (a feed that could allow-list would wave known abuse through).
    kept = [(e, w) for e, w in zip(parsed.entries, parsed.entry_lines, strict=True) if not e.allow]
    notes = list(parsed.notes)
    if len(kept) < len(parsed.entries):
        notes.append(f"{len(parsed.entries) - len(kept)} allow-list rows ignored")
    return replace(
        parsed,
        entries=[replace(e, source=feed.source, guild_id=feed.guild_id) for e, _ in kept],
        entry_lines=[w for _, w in kept],
        removals=[replace(r, source=feed.source, guild_id=feed.guild_id) for r in parsed.removals],
        notes=notes,
    )


class FeedRefresher:
    """Refreshes subscriptions as they fall due."""

    def __init__(
        self,
        storage: Storage,
        fetcher: FeedFetcher,
        run: Run,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.storage = storage
        self.fetcher = fetcher
        self._run = run
        self._clock = clock

    async def refresh_due(self) -> list[Outcome]:
        """Refresh every subscription that is due; what each came to."""
        return [await self.refresh(feed) for feed in await self.storage.feeds.due(self._clock())]

    async def refresh(self, feed: Feed) -> Outcome:
        """Fetch and apply one subscription. Whatever goes wrong with the feed is recorded on
        it and said in the outcome; only the database failing raises (StorageError)."""
        now = self._clock()
        every = timedelta(seconds=feed.refresh_seconds)
        retry = now + min(every, timedelta(seconds=RETRY_SECONDS))
        if feed.format == API_FORMAT:
            return await self._refresh_api(feed, now + every, retry)
        try:
            fetched = await self.fetcher.get(
                feed.url, etag=feed.etag, last_modified=feed.last_modified
            )
            if fetched is None:
                await self.storage.feeds.not_modified(feed.id, next_at=now + every)
                return Outcome(feed, False, f"feed {feed.id}: not modified since the last copy")
            parsed = await self._run(read_copy, fetched.text, feed)
        except (FetchFailed, FeedError) as exc:
            return await self._failed(feed, str(exc), retry)
        if parsed.errors:
            first = parsed.errors[0]
            why = f"{len(parsed.errors)} invalid rows (first: {first}); nothing of it applied"
            return await self._failed(feed, why, retry)
        try:
            result = await self.storage.feeds.refreshed(
                feed.id,
                parsed.entries,
                parsed.removals,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                next_at=now + every,
            )
        except KeyError:  # unsubscribed while it was being fetched
            return Outcome(feed, False, f"feed {feed.id}: unsubscribed meanwhile")
        text = (
            f"feed {feed.id}: {result.added} added, {result.removed} removed, "
            f"{result.entries} entries"
        )
        for note in parsed.notes:
            text += f"; {note}"
        log.info("%s (%s)", text, feed.url)
        return Outcome(feed, bool(result.added or result.removed), text)

    async def _refresh_api(self, feed: Feed, next_at: datetime, retry: datetime) -> Outcome:
        """A StopNCII-style API: page after page from the checkpoint, each applied as it comes."""
        keys = api_keys()
        if keys is None:
            why = f"no API keys: set {KEYS_ENV}=<function key>,<subscription key>"
            return await self._failed(feed, why, retry)
        client = StopNCIIClient(self.fetcher, keys)
        start, token = feed.checkpoint or DEFAULT_START, ""
        added = removed = pages = bad = 0
        first = ""
        for _ in range(MAX_PAGES):
            out = Collector(source=feed.source, added_by=feed.source, guild_id=feed.guild_id)
            try:
                page = await client.page(feed.url, start, token, out)
            except FetchFailed as exc:
                return await self._failed(feed, str(exc), retry)
            except PageUnreadable as exc:
                return await self._unreadable(feed, start if not token else None, str(exc), retry)
            parsed = page.parsed
            if parsed.errors:
                log.warning("feed %s: bad records skipped: %s", feed.id, parsed.errors)
                first = first or str(parsed.errors[0])
            bad += len(parsed.errors)
            # Kept on the feed until a fetch comes through clean (said of the whole fetch).
            note = f"{bad} bad records skipped (first: {first})" if bad else ""
            try:
                result = await self.storage.feeds.delta(
                    feed.id,
                    parsed.entries,
                    parsed.removals,
                    checkpoint=page.next_checkpoint,
                    next_at=None if page.has_more else next_at,
                    note=note,
                )
            except KeyError:
                return Outcome(feed, False, f"feed {feed.id}: unsubscribed meanwhile")
            added, removed, pages = added + result.added, removed + result.removed, pages + 1
            if not page.has_more:
                break
            token = page.next_token
        text = f"feed {feed.id}: {pages} pages, {added} added, {removed} removed"
        if bad:
            text += f", {bad} bad records skipped"
        log.info("%s (%s)", text, feed.url)
        return Outcome(feed, bool(added or removed), text)

    async def _unreadable(
        self, feed: Feed, checkpoint: int | None, why: str, retry: datetime
    ) -> Outcome:
        """A page that is not a page. Mid-fetch (``checkpoint`` None), the next refresh starts
        again from the stored checkpoint; the first page after it, unreadable :data:`SKIP_AFTER`
        times in a row, is skipped one second on so the fetching cannot stall for good."""
        tries = feed.failures + 1
        if checkpoint is None or tries < SKIP_AFTER:
            return await self._failed(feed, f"{why} (failure {tries} in a row)", retry)
        why = (
            f"{why}; unreadable {tries} times at checkpoint {checkpoint}: skipped past the "
            "records last modified then"
        )
        log.error("feed %s: %s", feed.id, why)
        await self.storage.feeds.failed(feed.id, why, next_at=retry, skip_to=checkpoint + 1)
        return Outcome(feed, False, f"feed {feed.id}: {why}")

    async def _failed(self, feed: Feed, why: str, retry: datetime) -> Outcome:
        log.warning("feed %s (%s) not refreshed: %s", feed.id, feed.url, why)
        await self.storage.feeds.failed(feed.id, why, next_at=retry)
        kept = f"the last good copy ({feed.entry_count} entries) stays"
        return Outcome(feed, False, f"feed {feed.id}: refresh failed: {why}; {kept}")


def describe(feed: Feed) -> str:
    """One line per subscription: what, where, for whom, and how its last refresh went."""
    scope = "instance-wide" if feed.guild_id is None else f"server {feed.guild_id}"
    signed = "signed" if feed.public_key else "unsigned"
    state = "never refreshed yet"
    if feed.last_error:
        state = f"last refresh failed: {feed.last_error}"
    elif feed.last_ok_at is not None:
        state = f"last good copy {feed.last_ok_at:%Y-%m-%d %H:%M} UTC"
    closer = ""
    if feed.max_pdq_distance is not None or feed.max_phash_distance is not None:
        closer = f", matches within pdq {feed.max_pdq_distance} / phash {feed.max_phash_distance}"
    return (
        f"#{feed.id} {feed.name} <{feed.url}> {scope}, {signed}, every "
        f"{feed.refresh_seconds // 60} min{closer}: {feed.entry_count} entries, {state}"
    )
