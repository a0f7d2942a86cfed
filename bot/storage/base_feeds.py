"""The interface for hash-list subscriptions (:mod:`bot.feeds`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence
    from datetime import datetime

    from bot.core.blocklist import NewEntry
    from bot.core.hash_lists import Removal
    from bot.storage.records import GuildScope

__all__ = ["Feed", "FeedRefresh", "FeedStore", "NewFeed"]


@dataclass(frozen=True, slots=True)
class NewFeed:
    """A subscription about to be stored."""

    guild_id: int | None
    """The server that subscribes; None: the whole instance."""
    url: str
    name: str
    public_key: str = ""
    """The publisher's pinned Ed25519 key (base64); empty: an unsigned list."""
    format: str = "auto"
    refresh_seconds: int = 3600
    added_by: str = ""
    max_pdq_distance: int | None = None
    """A closer PDQ match than the instance's that this list's entries demand (None: the
    instance's); the same for pHash below."""
    max_phash_distance: int | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    """A stored subscription and how its last refreshes went."""

    id: int
    guild_id: int | None
    url: str
    name: str
    public_key: str
    format: str
    refresh_seconds: int
    etag: str
    last_modified: str
    next_at: datetime
    last_ok_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    entry_count: int
    added_by: str
    created_at: datetime
    checkpoint: int = 0
    """For a StopNCII-style API: the timestamp the next delta fetch starts from."""
    failures: int = 0
    """Refreshes in a row that failed."""
    max_pdq_distance: int | None = None
    max_phash_distance: int | None = None

    @property
    def source(self) -> str:
        """The source its entries carry."""
        return f"feed:{self.id}"


@dataclass(frozen=True, slots=True)
class FeedRefresh:
    """What one good copy of a feed changed."""

    added: int
    removed: int
    entries: int
    """How many entries the feed has now."""


class FeedStore(ABC):
    """Subscriptions, at most one per (scope, URL)."""

    @abstractmethod
    async def subscribe(self, new: NewFeed) -> Feed | None:
        """Store a subscription, due at once, with its ``feed.subscribed`` audit record; None
        if this scope has one to that URL already."""

    @abstractmethod
    async def unsubscribe(self, feed_id: int, *, actor: str) -> Feed | None:
        """Remove a subscription and every entry it brought, with its audit record."""

    @abstractmethod
    async def get(self, feed_id: int) -> Feed | None:
        """One subscription."""

    @abstractmethod
    async def list(self, guild_id: GuildScope) -> builtins.list[Feed]:
        """The subscriptions of one server, of the instance (None), or ALL, oldest first."""

    @abstractmethod
    async def due(self, at: datetime) -> builtins.list[Feed]:
        """Subscriptions whose next refresh is at or before ``at``."""

    @abstractmethod
    async def refreshed(
        self,
        feed_id: int,
        entries: Sequence[NewEntry],
        removals: Sequence[Removal],
        *,
        etag: str,
        last_modified: str,
        next_at: datetime,
    ) -> FeedRefresh:
        """A good copy: the feed's entries become exactly ``entries`` (a feed is a snapshot:
        what it no longer lists goes) less ``removals``, in one transaction with the feed's
        state and a ``feed.refreshed`` audit record."""

    @abstractmethod
    async def delta(
        self,
        feed_id: int,
        entries: Sequence[NewEntry],
        removals: Sequence[Removal],
        *,
        checkpoint: int,
        next_at: datetime | None,
        note: str = "",
    ) -> FeedRefresh:
        """One page of a delta feed (a StopNCII-style API): ``entries`` added and ``removals``
        removed, and the checkpoint moved to ``checkpoint``, in one transaction with a
        ``feed.refreshed`` audit record. ``next_at``: the fetch is complete (None: more pages
        follow). ``note`` (records skipped on the page) is kept as the feed's last error."""

    @abstractmethod
    async def not_modified(self, feed_id: int, *, next_at: datetime) -> None:
        """The publisher answered 304: the copy held is still good."""

    @abstractmethod
    async def failed(
        self, feed_id: int, error: str, *, next_at: datetime, skip_to: int | None = None
    ) -> None:
        """A refresh failed: the entries of the last good copy stay; ``error`` says why, and the
        count of failures in a row goes up. ``skip_to``: move a delta feed's checkpoint past
        what cannot be read (the count starts again)."""
