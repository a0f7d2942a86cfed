"""Safeguards for hash lists from elsewhere, applied to each scan's matches for one server.

- **Match distance per list.** A feed may demand closer PDQ or pHash matches than the
  instance's thresholds; a match farther than its list allows does not count.
- **Sharing between servers (opt-in).** In a participating server, entries that another
  participating server's moderators confirmed count too, unless this server ignores that one.
- **Reviews.** An entry a moderator disputed here, or that the flood guard held, only flags (a
  moderator's confirmation here lifts a hold).
- **Flood guard.** An entry from another list that suddenly matches many different files by many
  different members (a poisoned or mistaken entry: a common meme) is held instance-wide. A raid
  repeating one file, or one account's spree, does not trip it: it counts distinct files *and*
  distinct authors.

Negative banks need nothing here: a server's allow-list entries are matched in its own scope
and override every blocking entry, shared or from a feed (``Policy.evaluate``).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.core.match_scope import MatchScope
from bot.core.verdict import Action, Match, Verdict
from bot.guild_settings import GuildSettings, GuildSettingsService
from bot.storage import Feed, Storage

log = logging.getLogger(__name__)

LOCAL_SOURCES = frozenset({"case", "cli", "discord", "member"})
"""Entries this instance's own people made: never held by the flood guard."""
SHARED_SOURCES = frozenset({"case", "discord"})
"""What sharing between servers carries: hashes moderators confirmed or added themselves."""
FLOOD_WINDOW_SECONDS = 3600.0
FLOOD_FILES = 10
FLOOD_AUTHORS = 10
"""An entry from another list matching this many different files by this many different members
within the window is held (it only flags until a moderator confirms it)."""
_CACHED_ENTRIES = 10_000
_WATCHED_ENTRIES = 10_000
REVIEW_SECONDS = 2.0
"""How long a review state (or a feed's match limits) read is trusted: another process's dispute
counts here within this (this process's own reviews and holds count at once)."""


class Safeguards:
    """Decides, per server and per scan, which matches count and which only flag."""

    def __init__(
        self,
        storage: Storage,
        settings: GuildSettingsService,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self._clock = clock
        # Entries never change once stored (a change is a removal and a new entry): cached.
        self._entries: OrderedDict[int, BlocklistEntry | None] = OrderedDict()
        self._hits: OrderedDict[int, deque[tuple[float, int, str]]] = OrderedDict()
        # (entry, server) -> (read at, state): a raid matching one entry reads it once.
        self._reviews: OrderedDict[tuple[int, int | None], tuple[float, tuple[str, str] | None]]
        self._reviews = OrderedDict()
        self._feeds: dict[int, tuple[float, Feed | None]] = {}

    async def scope_for(self, guild_id: int | None, matches: Sequence[Match]) -> MatchScope:
        """The exceptions to the plain scope rule for these matches in server ``guild_id``."""
        shared: dict[int, int] = {}
        excluded: set[int] = set()
        held: dict[int, str] = {}
        settings = await self.settings.get(guild_id) if guild_id is not None else None
        for match in matches:
            if match.allow:
                continue
            entry = await self._entry(match.entry_id)
            if entry is None:
                continue
            if await self._too_far(entry, match):
                excluded.add(entry.id)
                continue
            own = entry.guild_id in (None, guild_id)
            if not own:
                if settings is None or not await self._shares(settings, entry):
                    continue
                assert entry.guild_id is not None
                shared[entry.id] = entry.guild_id
            review = await self._review(entry.id, guild_id)
            if review is not None and review[0] != "confirmed":
                state, note = review
                why = f"held by {note}" if state == "held" else "disputed by a moderator here"
                if state == "disputed" and note:
                    why += f" ({note})"
                held[entry.id] = f"entry {entry.id} (source {entry.source}) is {why}"
        return MatchScope(shared, frozenset(excluded), held)

    async def observe(self, author_id: int, verdict: Verdict) -> list[str]:
        """Count a message's quarantining matches of other lists' entries; hold an entry that
        floods. Returns what was held, and why (for the log and the moderators)."""
        now = self._clock()
        notes = []
        for reason in verdict.reasons:
            if reason.entry_id is None or reason.action is not Action.QUARANTINE:
                continue
            entry = await self._entry(reason.entry_id)
            if entry is None or entry.source in LOCAL_SOURCES:
                continue
            hits = self._hits.setdefault(entry.id, deque(maxlen=1000))
            self._hits.move_to_end(entry.id)
            while len(self._hits) > _WATCHED_ENTRIES:
                self._hits.popitem(last=False)
            hits.append((now, author_id, verdict.sha256))
            while hits and hits[0][0] < now - FLOOD_WINDOW_SECONDS:
                hits.popleft()
            files = {sha for _, _, sha in hits}
            authors = {author for _, author, _ in hits}
            if len(files) >= FLOOD_FILES and len(authors) >= FLOOD_AUTHORS:
                why = (
                    f"the flood guard: it matched {len(files)} different files by {len(authors)} "
                    f"members within {FLOOD_WINDOW_SECONDS / 60:.0f} minutes, far more than a "
                    "list's entry should (a mistaken or poisoned entry?); it flags instead of "
                    "removing until a moderator confirms it with /blocklist review"
                )
                self.forget(entry.id)
                if await self.storage.reviews.hold(entry, why):
                    log.warning("entry %s (source %s) held: %s", entry.id, entry.source, why)
                    notes.append(f"Entry {entry.id} from {entry.source} is held by {why}.")
                del self._hits[entry.id]
        return notes

    def forget(self, entry_id: int) -> None:
        """An entry's review changed (a moderator here): read it afresh from now on."""
        for key in [k for k in self._reviews if k[0] == entry_id]:
            del self._reviews[key]

    async def _review(self, entry_id: int, guild_id: int | None) -> tuple[str, str] | None:
        key = (entry_id, guild_id)
        cached = self._reviews.get(key)
        now = self._clock()
        if cached is not None and now - cached[0] < REVIEW_SECONDS:
            return cached[1]
        state = await self.storage.reviews.state(entry_id, guild_id)
        self._reviews[key] = (now, state)
        self._reviews.move_to_end(key)
        while len(self._reviews) > _CACHED_ENTRIES:
            self._reviews.popitem(last=False)
        return state

    async def _feed(self, feed_id: int) -> Feed | None:
        # Read once per REVIEW_SECONDS: a raid of a feed's media would otherwise read the feed's
        # row for every message.
        cached = self._feeds.get(feed_id)
        now = self._clock()
        if cached is None or now - cached[0] >= REVIEW_SECONDS:
            if len(self._feeds) >= _CACHED_ENTRIES:
                self._feeds.clear()
            cached = self._feeds[feed_id] = (now, await self.storage.feeds.get(feed_id))
        return cached[1]

    async def _entry(self, entry_id: int) -> BlocklistEntry | None:
        if entry_id in self._entries:
            self._entries.move_to_end(entry_id)
            return self._entries[entry_id]
        entry = await self.storage.blocklist.get(entry_id)
        self._entries[entry_id] = entry
        while len(self._entries) > _CACHED_ENTRIES:
            self._entries.popitem(last=False)
        return entry

    async def _too_far(self, entry: BlocklistEntry, match: Match) -> bool:
        if not entry.source.startswith("feed:") or not entry.algorithm.perceptual:
            return False
        feed_id = entry.source.removeprefix("feed:")
        feed = await self._feed(int(feed_id)) if feed_id.isdigit() else None
        if feed is None:
            return False
        limit = feed.max_pdq_distance if entry.algorithm is Algorithm.PDQ else None
        if entry.algorithm is Algorithm.PHASH:
            limit = feed.max_phash_distance
        return limit is not None and match.distance > limit

    async def _shares(self, settings: GuildSettings, entry: BlocklistEntry) -> bool:
        """Whether a server with ``settings`` counts ``entry``, another server's: both take
        part, it was confirmed there, and this server does not ignore that one."""
        assert entry.guild_id is not None
        if not settings.share_confirmed or entry.source not in SHARED_SOURCES:
            return False
        if entry.guild_id in settings.share_ignored_guild_ids:
            return False
        return (await self.settings.get(entry.guild_id)).share_confirmed
