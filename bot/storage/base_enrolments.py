"""The enrolment store: protected members' sealed face descriptors, one enrolment per member and
server. Every change is written together with its audit record, in one transaction, so the
log never misses an enrolment or a withdrawal and never records one that did not happen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator

    from bot.storage.records import Enrolment, NewEnrolment


class EnrolmentStore(ABC):
    """Sealed descriptors of protected members (storage never sees the key)."""

    @abstractmethod
    async def put(self, enrolment: NewEnrolment, *, actor: str) -> Enrolment:
        """Store (or replace) the member's enrolment and audit it (``enrolment.created`` or
        ``enrolment.replaced``, with counts only) in one transaction."""

    @abstractmethod
    async def remove(
        self, guild_id: int, member_id: int, *, actor: str, why: str, reason: str = ""
    ) -> bool:
        """Delete the member's enrolment at once and audit it (``enrolment.<why>``: withdrawn,
        removed, member_left; with a manager's ``reason``) in one transaction; return whether
        there was one."""

    @abstractmethod
    async def get(self, guild_id: int, member_id: int) -> Enrolment | None:
        """The member's enrolment in the server, if any."""

    @abstractmethod
    async def list(self, guild_id: int) -> builtins.list[Enrolment]:
        """Every enrolment of one server, oldest first."""

    @abstractmethod
    def iter_all(self) -> AsyncIterator[Enrolment]:
        """Every enrolment of every server (loaded into memory at start)."""
