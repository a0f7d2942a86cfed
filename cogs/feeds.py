"""`/feeds`: this server's subscriptions to hash lists (the operator's allowed hosts only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.signed_feed import FeedError, load_public_key
from bot.feeds.limits import MIN_REFRESH_SECONDS
from bot.feeds.refresh import describe
from bot.runtime.permissions import is_manager
from bot.storage import NewFeed
from cogs._common import actor, refuse_audited, reply

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


class Feeds(commands.Cog):
    """Subscribe this server to hash lists, list and end its subscriptions."""

    group = app_commands.Group(
        name="feeds",
        description="Hash lists this server matches, fetched from other instances or sources",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="subscribe", description="Match a hash list at an HTTPS URL here")
    @app_commands.describe(
        url="The list's https:// address (its host must be allowed by the bot's operator)",
        key="The publisher's public key: only feeds signed with it are accepted",
        every="Refresh interval in minutes (default: the operator's, 60)",
    )
    async def subscribe(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 9, 2000],
        key: app_commands.Range[str, 1, 100] = "",
        every: app_commands.Range[int, 5, 10080] | None = None,
    ) -> None:
        """Subscribe this server; the list is fetched within a minute."""
        member = await self._admin(interaction)
        if member is None:
            return
        limits = self.bot.engine.config.feeds
        refused = limits.refuses(url)
        if refused is not None:
            await reply(interaction, f"Not subscribed: {refused}.")
            return
        if key:
            try:
                load_public_key(key)
            except FeedError as exc:
                await reply(interaction, f"Not subscribed: the key is {exc}.")
                return
        minutes = max(every or limits.refresh_minutes, MIN_REFRESH_SECONDS // 60)
        new = NewFeed(member.guild.id, url, url, key, "auto", minutes * 60, actor(member))
        feed = await self.bot.engine.storage.feeds.subscribe(new)
        if feed is None:
            await reply(interaction, "This server is subscribed to that URL already.")
            return
        await reply(
            interaction,
            f"Subscribed: {describe(feed)}. It is fetched within a minute; its entries apply "
            "to this server only, and this server's allow-list still overrides them.",
        )

    @group.command(name="list", description="This server's subscriptions and how they fare")
    async def list_command(self, interaction: discord.Interaction) -> None:
        """Every subscription of this server, with its last refresh."""
        member = await self._admin(interaction)
        if member is None:
            return
        feeds = await self.bot.engine.storage.feeds.list(member.guild.id)
        text = "\n".join(describe(f) for f in feeds) or "This server subscribes to no list."
        await reply(interaction, text)

    @group.command(name="unsubscribe", description="End a subscription and remove its entries")
    @app_commands.describe(feed="The subscription's number, from /feeds list")
    async def unsubscribe(self, interaction: discord.Interaction, feed: int) -> None:
        """End one of this server's subscriptions."""
        member = await self._admin(interaction)
        if member is None:
            return
        storage = self.bot.engine.storage
        found = await storage.feeds.get(feed)
        if found is None or found.guild_id != member.guild.id:
            await reply(interaction, f"This server has no subscription #{feed}.")
            return
        await storage.feeds.unsubscribe(feed, actor=actor(member))
        await self.bot.engine.refresh_blocklist()
        await reply(
            interaction, f"Unsubscribed from {found.url}: its {found.entry_count} entries are gone."
        )

    async def _admin(self, interaction: discord.Interaction) -> discord.Member | None:
        # Server admins can open the command to anyone: the permission is checked again here.
        member = interaction.user
        if isinstance(member, discord.Member) and is_manager(member):
            return member
        await refuse_audited(
            self.bot, interaction, "Only members with Manage Server can manage subscriptions."
        )
        return None


async def setup(bot: ConsentryBot) -> None:
    """Register the ``/feeds`` commands."""
    await bot.add_cog(Feeds(bot))
