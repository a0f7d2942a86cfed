"""The interface for history sweeps under way (:mod:`bot.runtime.sweeps`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["SweepRecord", "SweepStore"]


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """One server's sweep and how far it has come."""

    guild_id: int
    started_by: int
    channel_ids: tuple[int, ...]
    per_channel: int
    notice: tuple[int, int] | None = None
    """Where its progress message is (channel id, message id), once posted."""
    channel_index: int = 0
    """The channel being swept: an index into ``channel_ids``."""
    before_id: int = 0
    """The oldest message of that channel swept so far (0: none yet, start at the newest)."""
    taken: int = 0
    """How many of that channel's messages are swept."""
    scanned: int = 0
    acted: int = 0
    reason: str = ""
    """Why an automatic sweep runs (new blocklist entries); empty for a moderator's sweep."""
    oldest_id: int = 0
    """Messages older than this snowflake are not swept (0: no bound in time)."""


class SweepStore(ABC):
    """At most one sweep under way per server, kept until it ends."""

    @abstractmethod
    async def begin(self, sweep: SweepRecord, *, actor: str) -> bool:
        """Store a new sweep with its ``sweep.started`` audit record, in one transaction;
        False (and nothing written) if the server has one under way already."""

    @abstractmethod
    async def save(self, sweep: SweepRecord) -> None:
        """Store how far ``sweep`` has come (and where its progress message is)."""

    @abstractmethod
    async def end(self, sweep: SweepRecord, state: str) -> None:
        """The sweep is over (``state`` says how): remove it, with its ``sweep.finished`` audit
        record, in one transaction."""

    @abstractmethod
    async def under_way(self) -> list[SweepRecord]:
        """Every stored sweep (the bot stopped during them, or they are running)."""
