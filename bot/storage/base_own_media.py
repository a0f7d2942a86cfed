"""The interface for members' own registered media (``/protect media``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence

    from bot.core.blocklist import Algorithm, BlocklistEntry

__all__ = ["OWN_MEDIA_SOURCE", "OwnMediaStore"]

OWN_MEDIA_SOURCE = "member"
"""The source of registered entries: it names no one."""


class OwnMediaStore(ABC):
    """Which member registered which of their server's entries."""

    @abstractmethod
    async def register(
        self, guild_id: int, user_id: int, hashes: Sequence[tuple[Algorithm, str]]
    ) -> tuple[int, int]:
        """Add ``hashes`` as the server's entries, registered by the member, with an audit
        record (counts only), in one transaction; how many were new to the member, and how many
        they had registered already."""

    @abstractmethod
    async def listing(self, guild_id: int, user_id: int) -> builtins.list[BlocklistEntry]:
        """The member's registered entries, oldest first."""

    @abstractmethod
    async def withdraw(self, guild_id: int, user_id: int, *, actor: str) -> int:
        """Take back every registration of the member at once: each entry no other member
        registered is removed. Returns how many registrations there were."""

    @abstractmethod
    async def counts(self, guild_id: int) -> tuple[int, int]:
        """How many members registered media here, and how many entries they hold."""
