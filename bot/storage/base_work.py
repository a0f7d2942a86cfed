"""The interface of the durable record of work per message.

Part of :mod:`bot.storage.base` (split off to keep each file readable): import it from there or
from :mod:`bot.storage`. The case transaction that moves a record from SCAN to ACT lives on
:class:`bot.storage.base_cases.CaseStore` (``open`` and ``add_note`` take ``work=``), so the
case, its evidence, its audit record and the work record commit together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.storage.records import NewWork, WorkItem, WorkState

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence
    from datetime import datetime


EFFECTS = ("delete", "alert", "ladder", "repost")
"""The effects a work record can have due (see :meth:`WorkStore.effect_done`)."""
Shards = tuple[int, tuple[int, ...]]
"""Some of Discord's shards: their count in all, and which (a server is on shard
``(guild_id >> 22) % count``)."""
EFFECT_LEASE = timedelta(minutes=2)
"""How long effects just stored are left to the caller before the backlog may take them up
(every backend)."""


class WorkStore(ABC):
    """One record per (server, message) with media, from the moment it is seen until nothing is
    left to do. Unfinished records are what a restarted or recovering bot resumes."""

    async def seen(self, new: NewWork, *, lease_until: datetime) -> bool:
        """Record a message with media. A new record starts in SCAN, leased until
        ``lease_until`` (whoever saw it is about to scan it). A finished record whose message now
        carries media it did not have (an edit added an embed) goes back to SCAN with the union
        of both. Return whether there is scanning to do."""
        return (await self.seen_many([new], lease_until=lease_until))[0]

    @abstractmethod
    async def seen_many(
        self, news: Sequence[NewWork], *, lease_until: datetime
    ) -> builtins.list[bool]:
        """:meth:`seen` for each message, in one transaction (a raid's messages are recorded
        together); the answers in order."""

    @abstractmethod
    async def get(self, guild_id: int, message_id: int) -> WorkItem | None:
        """One message's record."""

    @abstractmethod
    async def claim(
        self,
        now: datetime,
        *,
        limit: int,
        lease_until: datetime,
        state: WorkState | None = None,
        shards: Shards | None = None,
    ) -> builtins.list[WorkItem]:
        """Take up to ``limit`` unfinished records due at ``now`` (oldest message first), only
        those in ``state`` if given, and only servers of ``shards`` if given: each is leased
        until ``lease_until`` and its ``attempts`` counts one more."""

    @abstractmethod
    async def extend(self, keys: Sequence[tuple[int, int]], *, until: datetime) -> None:
        """Renew the lease of records still waiting for their scan, (server, message) each:
        the process scanning them is alive, so nobody else takes them before ``until``."""

    @abstractmethod
    async def postpone(
        self, guild_id: int, message_id: int, *, until: datetime, error: str
    ) -> None:
        """An attempt did not finish: try again at ``until``, and remember why."""

    @abstractmethod
    async def finish(
        self, guild_id: int, message_id: int, state: WorkState, *, error: str = ""
    ) -> None:
        """End an unfinished record in a finished ``state`` (DONE, GONE or FAILED); the
        outstanding effects are dropped. A finished record is left as it is."""

    @abstractmethod
    async def scanned(self, guild_id: int, message_id: int) -> None:
        """The message's scan found nothing to act on: a record waiting for its scan is DONE.
        A record with effects still due (an earlier decision) is left as it is."""

    @abstractmethod
    async def effect_done(
        self,
        guild_id: int,
        message_id: int,
        effect: str,
        *,
        audit: tuple[str, dict[str, Any]] | None = None,
        alert: tuple[int, int] | None = None,
    ) -> WorkItem | None:
        """One effect (``"delete"``, ``"alert"``, ``"ladder"`` or ``"repost"``) was carried out,
        or refused for good: clear
        it, with its ``audit`` record (action, details; subject: the record's case) and, for an
        alert, where it was posted (channel id, message id; stored on the case), in one
        transaction. The record is DONE once no effect is due. Return it, or None if unknown."""

    @abstractmethod
    async def release(self) -> int:
        """Make every unfinished record due now (a starting bot holds no leases from before);
        return how many there are."""

    @abstractmethod
    async def oldest_unfinished(self, guild_id: int) -> dict[int, int]:
        """Channel id to the oldest unfinished message id there, for one server."""

    @abstractmethod
    async def unscanned(self, *, up_to_message: int) -> int:
        """How many records still wait for a scan among messages up to ``up_to_message``."""

    @abstractmethod
    async def held(self, now: datetime) -> int:
        """How many unfinished records are not due at ``now``: leased to a process that took
        them, or waiting for a retry."""

    @abstractmethod
    async def counts(self, guild_id: int | None = None) -> dict[WorkState, int]:
        """How many records are in each state (one server's, or all)."""

    @abstractmethod
    async def stuck(self, guild_id: int, *, limit: int = 10) -> builtins.list[WorkItem]:
        """Records with a failed attempt or given up (FAILED), newest first: what
        ``/consentry status`` shows moderators."""

    @abstractmethod
    async def forget_finished(self, before: datetime) -> int:
        """Delete finished records last changed before ``before`` (they only prevent a rescan);
        return how many."""
