"""Raids: the same media posted again and again joins one case and one alert.

Under a raid the bot still deletes every copy, but moderators get one alert that counts the
copies (updated as they come) instead of hundreds of alerts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import discord

from bot.core.moderation import Decision
from bot.storage import Case

BurstKey = tuple[int, frozenset[str]]
"""(server, what identifies the media): see ``BurstTracker.key``."""
_MAX_BURSTS = 1000


@dataclass
class Burst:
    """An ongoing run of copies: its case, its alert, and who posted how many."""

    case: Case
    alert: discord.Message | None
    last_at: float
    copies: int = 1
    authors: set[int] = field(default_factory=set)
    refresh: asyncio.Task[None] | None = None


class BurstTracker:
    """Remembers, per server and media, the case opened in the last ``window`` seconds."""

    def __init__(self, window: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._bursts: dict[BurstKey, Burst] = {}
        self._locks: dict[BurstKey, asyncio.Lock] = {}

    @staticmethod
    def key(guild_id: int, decision: Decision) -> BurstKey | None:
        """What makes two messages copies of each other.

        Known abusive media: the blocklist entry it matched (the lowest id, since an altered copy
        may match only some of one picture's entries), so re-encoded or resized variants with
        different bytes still count as copies. Anything else: the SHA-256 of the media.
        """
        entries = [m.entry_id for v in decision.verdicts for m in v.matches if not m.allow]
        if entries:
            return (guild_id, frozenset({f"entry:{min(entries)}"}))
        hashes = frozenset(v.sha256 for v in decision.verdicts if v.sha256)
        return (guild_id, hashes) if hashes else None

    def lock(self, key: BurstKey) -> asyncio.Lock:
        """Held while deciding whether a message starts a burst or joins one."""
        return self._locks.setdefault(key, asyncio.Lock())

    def active(self, key: BurstKey) -> Burst | None:
        """The burst for ``key`` if its last copy came within the window."""
        self._expire()
        burst = self._bursts.get(key)
        if burst is not None:
            burst.last_at = self._clock()
        return burst

    def start(self, key: BurstKey, case: Case, alert: discord.Message | None, author: int) -> None:
        self._bursts[key] = Burst(case, alert, self._clock(), authors={author})

    def decided(self, case_id: int) -> None:
        """Case ``case_id`` was decided (here or in another process): its burst ends, so the
        next copy is judged afresh, and the alert's buttons are never re-edited from the case
        as it was before the decision."""
        for key in [k for k, b in self._bursts.items() if b.case.id == case_id]:
            del self._bursts[key]

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, b in self._bursts.items() if now - b.last_at > self.window]:
            del self._bursts[key]
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
        while len(self._bursts) > _MAX_BURSTS:  # oldest first: dicts keep insertion order
            oldest = next(iter(self._bursts))
            del self._bursts[oldest]
            self._locks.pop(oldest, None)
