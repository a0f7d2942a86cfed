"""The interfaces of moderation cases and the evidence kept with them.

Part of :mod:`bot.storage.base` (split off to keep each file readable): import them from there or
from :mod:`bot.storage`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from bot.storage.records import (
    Case,
    CaseEvent,
    CaseStatus,
    CopyWork,
    Effects,
    Evidence,
    NewCase,
    NewEvidence,
)

if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Collection, Sequence
    from datetime import datetime

    from bot.core.blocklist import NewEntry


class TransitionRefused(Exception):
    """A case was not in an expected status: a concurrent or repeated decision."""

    def __init__(self, case_id: int, current: CaseStatus) -> None:
        super().__init__(f"case {case_id} is {current.value}")
        self.case_id = case_id
        self.current = current


class CaseStore(ABC):
    """Moderation cases (one per message the bot flagged or quarantined) and their timelines."""

    @abstractmethod
    async def open(
        self,
        new: NewCase,
        *,
        actor: str = "consentry",
        seal: Callable[[int], Sequence[NewEvidence]] | None = None,
        audit: tuple[str, dict[str, Any]] | None = None,
        work: Effects | None = None,
    ) -> Case:
        """Store a new case with status OPEN and record an "opened" event by ``actor`` (the bot
        itself, or the member who reported the message). ``verdict`` and ``media`` must be
        JSON-serialisable (else TypeError or ValueError).

        In the same transaction: the evidence ``seal`` returns for the new case's id (sealed
        by the caller, bound to that id), the ``audit`` record (action,
        details; subject: the case) and, with ``work``, the message's work record moves to ACT
        with these effects due. Either all of it is stored or none."""

    @abstractmethod
    async def get(self, case_id: int) -> Case | None:
        """One case by id."""

    @abstractmethod
    async def find_by_message(self, guild_id: int, message_id: int) -> Case | None:
        """The newest case about one message, if it has any."""

    @abstractmethod
    async def list(
        self, guild_id: int, *, status: CaseStatus | None = None, limit: int = 25, offset: int = 0
    ) -> builtins.list[Case]:
        """A server's cases, newest first, optionally only those with ``status``."""

    @abstractmethod
    async def count(self, guild_id: int, *, status: CaseStatus | None = None) -> int:
        """How many cases :meth:`list` would page through (for "page 2 of 7")."""

    @abstractmethod
    async def list_by_author(
        self, guild_id: int, author_id: int, *, limit: int = 100
    ) -> builtins.list[Case]:
        """The cases about one member's messages in one server, newest first."""

    @abstractmethod
    async def count_by_author(
        self, guild_id: int, author_id: int, *, status: CaseStatus | None = None
    ) -> int:
        """How many cases one member has in one server, optionally only those with ``status``."""

    @abstractmethod
    async def transition(
        self,
        case_id: int,
        *,
        expected: Collection[CaseStatus],
        status: CaseStatus,
        actor: str,
        note: str = "",
        entries: Sequence[NewEntry] = (),
        audit: tuple[str, dict[str, Any]] | None = None,
        work: CopyWork | None = None,
    ) -> Case | None:
        """The one checked change of a case's status, in one transaction: unless the case's
        status is one of ``expected`` nothing is written and TransitionRefused (carrying the
        current status) is raised; otherwise the status and its timeline event, the blocklist or
        allow-list ``entries``, the ``audit`` record (action, details) and the effects due on
        the message (``work``: a confirmed flag is deleted) commit together.
        Return the updated case, or None if there is no such case."""

    async def set_status(
        self, case_id: int, status: CaseStatus, *, actor: str, note: str = ""
    ) -> Case | None:
        """Change a case's status from whatever it is, recording it in the timeline (even if
        unchanged: the note may matter); an unchecked :meth:`transition` for tools and tests."""
        return await self.transition(
            case_id, expected=tuple(CaseStatus), status=status, actor=actor, note=note
        )

    @abstractmethod
    async def set_legal_hold(self, case_id: int, hold: bool, *, actor: str) -> Case | None:
        """Place (``hold``) or lift the legal hold, recording an event noted "legal hold placed"
        or "legal hold lifted" (every call, as :meth:`set_status`); the status is unchanged.
        Return the updated case, or None if there is none."""

    @abstractmethod
    async def add_note(
        self, case_id: int, *, actor: str, note: str, work: CopyWork | None = None
    ) -> CaseEvent | None:
        """Record a note in the timeline (an event keeping the current status); return it, or
        None if there is no such case. With ``work``, another message joins the case: its work
        record moves to ACT in the same transaction."""

    @abstractmethod
    async def attach_alert(self, case_id: int, channel_id: int, message_id: int) -> None:
        """Remember where the moderators' alert about the case was posted (replacing any earlier
        one); nothing happens for an unknown case. Not a timeline event."""

    @abstractmethod
    async def events(self, case_id: int) -> builtins.list[CaseEvent]:
        """A case's timeline, oldest first."""


class EvidenceStore(ABC):
    """Encrypted media kept with cases until it expires. The caller encrypts: storage keeps
    opaque bytes, and never purges evidence whose case is under legal hold."""

    @abstractmethod
    async def put(self, case_id: int, items: Sequence[NewEvidence]) -> builtins.list[Evidence]:
        """Store ``items`` for one case in one transaction; return them, in order. StorageError
        if there is no such case; ValueError for a negative size or a naive ``expires_at``."""

    @abstractmethod
    async def for_case(self, case_id: int) -> builtins.list[Evidence]:
        """A case's evidence, purged items included (without their bytes), oldest first."""

    @abstractmethod
    async def due_for_purge(self, now: datetime, *, limit: int = 100) -> builtins.list[int]:
        """Ids of up to ``limit`` unpurged items with ``expires_at <= now`` whose case is not
        under legal hold, soonest expiry first."""

    @abstractmethod
    async def purge(self, evidence_ids: Sequence[int], *, now: datetime) -> int:
        """Drop the bytes of these items (the rows stay, ``purged_at = now``). Items already
        purged, unknown ids and items whose case is under legal hold are left alone, so this is
        idempotent and safe against a hold placed after :meth:`due_for_purge`. Return how many
        items this call purged."""

    @abstractmethod
    async def purge_author(
        self, guild_id: int, author_id: int, *, now: datetime
    ) -> tuple[int, int]:
        """Purge all evidence of one member's cases in one server (a data-deletion request),
        except cases under legal hold. Return (items purged now, unpurged items kept because
        their case is under legal hold)."""

    @abstractmethod
    async def stats(self, guild_id: int) -> dict[str, int]:
        """One server's evidence: ``"stored"`` items still holding bytes, ``"purged"`` items,
        and ``"bytes"``, the ciphertext bytes stored."""

    @abstractmethod
    async def key_ids(self) -> dict[str, int]:
        """Every key id that unpurged evidence is sealed with, and how many items each."""


__all__ = ["CaseStore", "EvidenceStore"]
