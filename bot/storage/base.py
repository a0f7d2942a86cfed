"""The storage interfaces every backend implements (SQLite now, PostgreSQL later).

Callers depend only on these classes, so a backend can be swapped without touching them; one test
suite (tests/test_storage_*.py, backends listed in tests/conftest.py) runs against every backend.
The case and evidence interfaces live in :mod:`bot.storage.base_cases` and are re-exported here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Self

from bot.storage.base_campaigns import CampaignStore
from bot.storage.base_cases import CaseStore, EvidenceStore, TransitionRefused
from bot.storage.base_enrolments import EnrolmentStore
from bot.storage.base_feeds import FeedStore
from bot.storage.base_jobs import JobLeases
from bot.storage.base_own_media import OwnMediaStore
from bot.storage.base_reviews import ReviewStore
from bot.storage.base_sweeps import SweepStore
from bot.storage.base_work import WorkStore
from bot.storage.records import (
    ALL,
    AddResult,
    ApplyResult,
    AuditRecord,
    AuditVerification,
    BlocklistChanges,
    Case,
    CaseEvent,
    CaseStatus,
    Enrolment,
    Evidence,
    GuildScope,
    NewCase,
    NewEnrolment,
    NewEvidence,
)

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator, Callable, Sequence
    from datetime import datetime
    from types import TracebackType

    from bot.core.blocklist import Algorithm, BlocklistEntry, MatchRow, NewEntry
    from bot.core.hash_lists import Removal


class StorageError(Exception):
    """A storage failure worth showing to a user: unreadable file, newer schema, locked database.

    ``busy``: another writer held the database past the busy timeout; the same write may well
    succeed if tried again later (unlike a full disk or a corrupt file, which need a person)."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


class SettingsStore(ABC):
    """Per-server settings. Only OVERRIDES are stored; the defaults live in code, so changing a
    default in a release reaches every server that has not overridden it."""

    @abstractmethod
    async def get_overrides(self, guild_id: int) -> dict[str, Any]:
        """Every override stored for ``guild_id``, key to decoded JSON value (empty if none)."""

    @abstractmethod
    async def set_override(self, guild_id: int, key: str, value: Any) -> None:
        """Store ``value`` for ``key``, replacing any previous one.

        ``value`` must be JSON-serialisable (else TypeError or ValueError; NaN is refused);
        ``key`` must not be empty (ValueError)."""

    @abstractmethod
    async def clear_override(self, guild_id: int, key: str) -> bool:
        """Remove one override (back to the default); return whether there was one."""

    @abstractmethod
    async def clear_all(self, guild_id: int) -> int:
        """Remove every override of ``guild_id``; return how many there were."""


class BlocklistStore(ABC):
    """Hashes of known abusive media, and allow entries for known false positives."""

    @abstractmethod
    async def add(self, entries: Sequence[NewEntry]) -> AddResult:
        """Add ``entries`` in one transaction. An entry whose (algorithm, value, scope, allow,
        source) is already stored, or repeated earlier in ``entries``, is reported as a
        duplicate, not an error. Bumps :meth:`revision` when anything was added."""

    @abstractmethod
    async def apply(self, entries: Sequence[NewEntry], removals: Sequence[Removal]) -> ApplyResult:
        """A hash list's rows in one transaction: ``entries`` added as :meth:`add` does, and for
        each removal, the blocking entry of that hash, scope and source deleted (a victim's
        withdrawal). Everything lands together or, on any failure, nothing does."""

    @abstractmethod
    async def remove(self, entry_id: int) -> BlocklistEntry | None:
        """Delete one entry and return it (None if there was none); bumps :meth:`revision`."""

    @abstractmethod
    async def removed_since(
        self, since: datetime, sources: Sequence[str]
    ) -> builtins.list[tuple[Algorithm, str, datetime]]:
        """The hashes of ``sources`` removed at or after ``since``, each once with its latest
        removal time, oldest first (what a published feed lists as removed)."""

    @abstractmethod
    async def get(self, entry_id: int) -> BlocklistEntry | None:
        """One entry by id."""

    @abstractmethod
    async def list(
        self, *, guild_id: GuildScope = ALL, limit: int = 100, after_id: int = 0
    ) -> builtins.list[BlocklistEntry]:
        """Up to ``limit`` entries with id > ``after_id``, by ascending id (keyset pagination: pass
        the last id seen to get the next page). ``guild_id``: one server's entries, None for the
        instance-wide ones only, or ALL."""

    @abstractmethod
    def iter_all(self, batch_size: int = 10_000) -> AsyncIterator[BlocklistEntry]:
        """Every entry by ascending id, fetched ``batch_size`` at a time (for building the match
        index). Batches are separate reads: read :meth:`revision` before and after, and rebuild
        if it moved."""

    @abstractmethod
    def match_rows(self, batch_size: int = 50_000) -> AsyncIterator[builtins.list[MatchRow]]:
        """Every entry's matching columns by ascending id, ``batch_size`` rows a batch: what the
        match index is built from, without an entry object each. Batches are separate reads, as
        for :meth:`iter_all`."""

    @abstractmethod
    async def count(self) -> dict[str, int]:
        """Blocking entries per algorithm value (every algorithm present, zero included), plus
        ``"allow"``: the number of allow entries."""

    @abstractmethod
    async def revision(self) -> int:
        """A counter bumped in the same transaction as every add or remove that changed something.

        A running bot polls it to notice changes made by the CLI in another process."""

    @abstractmethod
    async def changes_since(
        self, revision: int, *, limit: int = 100_000
    ) -> BlocklistChanges | None:
        """The entries added and removed after ``revision``, read together with the current
        revision. None when the feed cannot say (``revision`` predates it, or more than
        ``limit`` entries were added: a big import): the reader rebuilds from all entries."""


class AuditLog(ABC):
    """Append-only, tamper-evident log of what moderators, operators and the bot did."""

    @abstractmethod
    async def append(
        self,
        *,
        guild_id: int | None,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any],
    ) -> AuditRecord:
        """Append one record chained to the previous one. Appends are serialised across processes,
        so the chain never forks. ``details`` must be JSON-serialisable."""

    @abstractmethod
    async def list(
        self, *, guild_id: GuildScope = ALL, limit: int = 100, after_id: int = 0
    ) -> builtins.list[AuditRecord]:
        """Up to ``limit`` records with id > ``after_id``, oldest first. ``guild_id``: one
        server's records, None for instance-wide ones only, or ALL."""

    @abstractmethod
    async def verify(self) -> AuditVerification:
        """Recompute the whole chain, in batches; report the first record that breaks it."""


class CursorStore(ABC):
    """The newest message seen in each channel, so that a restarted bot can catch up on what was
    posted while it was away. Discord ids are snowflakes: a later message has a larger id."""

    @abstractmethod
    async def advance(self, guild_id: int, channel_id: int, message_id: int) -> None:
        """Record ``message_id`` as seen in the channel, unless a later one is recorded already
        (a cursor never moves back)."""

    @abstractmethod
    async def advance_many(self, items: Sequence[tuple[int, int, int]]) -> None:
        """:meth:`advance` for each (guild_id, channel_id, message_id), in one transaction; a
        channel may appear more than once (the largest id wins)."""

    @abstractmethod
    async def get(self, guild_id: int) -> dict[int, int]:
        """One server's cursors: channel id to the newest message id seen there."""

    @abstractmethod
    async def forget_channel(self, channel_id: int) -> bool:
        """Drop a channel's cursor (the channel was deleted); return whether there was one."""


class Storage(ABC):
    """One open database: the stores, and the connection(s) behind them.

    Use as ``async with await open_storage(url) as storage: ...`` or call :meth:`close`.
    """

    @property
    @abstractmethod
    def settings(self) -> SettingsStore:
        """Per-server settings overrides."""

    @property
    @abstractmethod
    def blocklist(self) -> BlocklistStore:
        """Blocklist and allow-list entries."""

    @property
    @abstractmethod
    def cases(self) -> CaseStore:
        """Moderation cases."""

    @property
    @abstractmethod
    def evidence(self) -> EvidenceStore:
        """Encrypted media kept with cases."""

    @property
    @abstractmethod
    def enrolments(self) -> EnrolmentStore:
        """Protected members' sealed face descriptors."""

    @property
    @abstractmethod
    def cursors(self) -> CursorStore:
        """The newest message seen in each channel."""

    @property
    @abstractmethod
    def work(self) -> WorkStore:
        """The durable record of work per message."""

    @property
    @abstractmethod
    def sweeps(self) -> SweepStore:
        """History sweeps under way."""

    @property
    @abstractmethod
    def feeds(self) -> FeedStore:
        """Hash-list subscriptions."""

    @property
    @abstractmethod
    def own_media(self) -> OwnMediaStore:
        """Members' registrations of their own media."""

    @property
    @abstractmethod
    def reviews(self) -> ReviewStore:
        """Holds, disputes and confirmations of shared entries."""

    @property
    @abstractmethod
    def campaigns(self) -> CampaignStore:
        """Campaigns: the same media posted by several accounts or servers."""

    @property
    @abstractmethod
    def jobs(self) -> JobLeases:
        """Leases on background jobs, so that each runs in one process at a time."""

    @property
    @abstractmethod
    def audit(self) -> AuditLog:
        """The tamper-evident audit log."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection(s). Safe to call twice."""

    async def listen(self, handler: Callable[[str], None]) -> bool:
        """Call ``handler`` with what changed (``"blocklist"``, ``"settings:<guild id>"``) when
        another process changes it; whether this backend can say (PostgreSQL's LISTEN/NOTIFY).
        Without it (SQLite) processes notice changes by polling."""
        return False

    async def notify(self, what: str) -> None:
        """Tell every listening process ``what`` (``"work"``: scans are due), at once; nothing
        on a backend without notifications (SQLite), where processes poll instead."""
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


__all__ = [
    "ALL",
    "AddResult",
    "AuditLog",
    "AuditRecord",
    "AuditVerification",
    "BlocklistStore",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "CaseStore",
    "CursorStore",
    "Enrolment",
    "EnrolmentStore",
    "Evidence",
    "EvidenceStore",
    "GuildScope",
    "NewCase",
    "NewEnrolment",
    "NewEvidence",
    "SettingsStore",
    "Storage",
    "StorageError",
    "TransitionRefused",
    "WorkStore",
]
