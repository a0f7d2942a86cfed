"""The interface for reviews of shared entries: holds, disputes, confirmations, feedback."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import builtins
    from datetime import datetime

    from bot.core.blocklist import BlocklistEntry

__all__ = ["Feedback", "Opinion", "ReviewStore"]

Opinion = Literal["confirmed", "disputed"]


@dataclass(frozen=True, slots=True)
class Feedback:
    """One moderator's opinion of one entry, kept for its source's publisher."""

    entry_id: int
    guild_id: int | None
    source: str
    algorithm: str
    value: str
    opinion: Opinion
    note: str
    at: datetime


class ReviewStore(ABC):
    """Entries that only flag for now, and what moderators said of them."""

    @abstractmethod
    async def hold(self, entry: BlocklistEntry, reason: str) -> bool:
        """Hold ``entry`` instance-wide (it only flags) with an ``entry.held`` audit record;
        False if it was held already."""

    @abstractmethod
    async def review(
        self, entry: BlocklistEntry, guild_id: int, opinion: Opinion, *, actor: str, note: str
    ) -> None:
        """A moderator of ``guild_id`` confirms (it removes again there) or disputes (it only
        flags there) ``entry``; recorded as feedback for its source, and audited."""

    @abstractmethod
    async def state(self, entry_id: int, guild_id: int | None) -> tuple[str, str] | None:
        """For server ``guild_id``: ``("confirmed" | "disputed" | "held", reason)``, or None.
        A confirmation in the server outweighs an instance-wide hold."""

    @abstractmethod
    async def feedback(self, source: str | None = None) -> builtins.list[Feedback]:
        """Every opinion given (of one source's entries), oldest first."""
