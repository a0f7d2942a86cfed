"""Campaigns: the same media posted by several accounts, or in several servers, within
:data:`WINDOW` is one campaign, and every post of it is linked to one record.

"The same media" is the blocklist entry it matched (a PDQ entry first: re-encoded and resized
copies match it too), or, for media no list knows (a model's or a likeness match), the file.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import discord

from bot.core.moderation import Decision
from bot.storage import Campaign, CampaignPost, Storage, StorageError

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
"""Posts of the same media this far apart (from the campaign's last post) join one campaign."""
_PREFERRED = ("blocklist.pdq", "blocklist.phash", "blocklist.md5", "blocklist.sha256")


def media_key(decision: Decision) -> str | None:
    """What makes two posts "the same media" for a campaign."""
    reasons = [r for v in decision.verdicts for r in v.reasons if r.entry_id is not None]
    for signal in _PREFERRED:
        ids = [r.entry_id for r in reasons if r.signal == signal and r.entry_id is not None]
        if ids:
            return f"entry:{min(ids)}"
    files = [v.sha256 for v in decision.verdicts if v.sha256]
    return f"sha256:{min(files)}" if files else None


class CampaignTracker:
    """Links each post with a case to its campaign."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def record(
        self, message: discord.Message, decision: Decision, case_id: int | None
    ) -> Campaign | None:
        """Link ``message`` (decided, with case ``case_id``) to its campaign; the campaign, or
        None (no media to key on, or the database refused: acting never waits on this)."""
        key = media_key(decision)
        if key is None or message.guild is None:
            return None
        post = CampaignPost(
            message.guild.id, message.channel.id, message.id, message.author.id, case_id
        )
        try:
            return await self.storage.campaigns.record(key, post, window=WINDOW)
        except StorageError as exc:
            log.warning("message %s not linked to its campaign: %s", message.id, exc)
            return None


def campaign_text(campaign: Campaign) -> str:
    """The alert's line about a campaign, with the responses moderators can choose."""
    servers = f" in {campaign.servers} servers" if campaign.servers > 1 else ""
    return (
        f"Campaign #{campaign.id}: {campaign.posts} posts by {campaign.authors} accounts"
        f"{servers} since {campaign.first_at:%Y-%m-%d %H:%M} UTC. Responses: "
        f"`/campaign slowmode campaign:{campaign.id}` (slow mode where it was posted here), "
        f"`/campaign timeout campaign:{campaign.id}` (its repeat posters here)."
    )
