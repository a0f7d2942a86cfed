"""The interface for campaigns: the same media posted by several accounts or servers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import builtins
    from datetime import datetime, timedelta

__all__ = ["Campaign", "CampaignPost", "CampaignStore"]


@dataclass(frozen=True, slots=True)
class CampaignPost:
    """One post linked to a campaign."""

    guild_id: int
    channel_id: int
    message_id: int
    author_id: int
    case_id: int | None = None


@dataclass(frozen=True, slots=True)
class Campaign:
    """How far a campaign has spread."""

    id: int
    posts: int
    authors: int
    servers: int
    first_at: datetime
    last_at: datetime

    @property
    def spread(self) -> bool:
        """A campaign proper: several accounts, or several servers (not one member's repost)."""
        return self.authors > 1 or self.servers > 1


class CampaignStore(ABC):
    """Campaigns and their posts."""

    @abstractmethod
    async def record(self, media_key: str, post: CampaignPost, *, window: timedelta) -> Campaign:
        """Link ``post`` to the campaign of ``media_key`` whose last post is within ``window``
        (a new one otherwise); the campaign as it stands now. A post is linked once."""

    @abstractmethod
    async def get(self, campaign_id: int) -> Campaign | None:
        """One campaign."""

    @abstractmethod
    async def posts(
        self, campaign_id: int, guild_id: int | None = None
    ) -> builtins.list[CampaignPost]:
        """A campaign's posts (in one server), oldest first."""
