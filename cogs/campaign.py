"""`/campaign`: what a campaign is, and the responses moderators may choose for their server."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.campaigns import campaign_text
from bot.runtime.permissions import is_moderator
from bot.storage import Campaign
from cogs._common import audit, refuse_audited, reply

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

CAMPAIGN = "The campaign's number (its alerts name it)"


class Campaigns(commands.Cog):
    """Show a campaign; slow down the channels it hit; time out its repeat posters."""

    group = app_commands.Group(
        name="campaign",
        description="The same media posted by several accounts or servers",
        default_permissions=discord.Permissions(manage_messages=True),
        guild_only=True,
    )

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @group.command(name="show", description="How far a campaign spread, and where here")
    @app_commands.describe(campaign=CAMPAIGN)
    async def show(self, interaction: discord.Interaction, campaign: int) -> None:
        """The campaign's spread; its posts in this server by channel."""
        found = await self._campaign(interaction, campaign)
        if found is None:
            return
        assert interaction.guild_id is not None
        posts = await self.bot.engine.storage.campaigns.posts(found.id, interaction.guild_id)
        channels = Counter(p.channel_id for p in posts)
        where = ", ".join(f"<#{c}> ({n})" for c, n in channels.most_common(10))
        await reply(interaction, f"{campaign_text(found)}\nHere: {len(posts)} posts in {where}.")

    @group.command(name="slowmode", description="Slow mode in the channels it was posted in here")
    @app_commands.describe(campaign=CAMPAIGN, seconds="Seconds between messages (0 turns it off)")
    async def slowmode(
        self,
        interaction: discord.Interaction,
        campaign: int,
        seconds: app_commands.Range[int, 0, 21600] = 30,
    ) -> None:
        """Set slow mode in every channel of this server the campaign reached."""
        found = await self._campaign(interaction, campaign)
        if found is None or interaction.guild is None:
            return
        posts = await self.bot.engine.storage.campaigns.posts(found.id, interaction.guild.id)
        reason = f"Consentry campaign {found.id}"
        lines = []
        for channel_id in dict.fromkeys(p.channel_id for p in posts):
            channel = interaction.guild.get_channel_or_thread(channel_id)
            if isinstance(channel, discord.TextChannel | discord.Thread):
                lines.append((await self.bot.actioner.slowmode(channel, seconds, reason)).detail)
        await audit(
            self.bot, interaction, "campaign.slowmode", f"campaign {found.id}", {"seconds": seconds}
        )
        await reply(interaction, "\n".join(lines) or "No channel of this campaign is left here.")

    @group.command(name="timeout", description="Time out the members who posted it more than once")
    @app_commands.describe(campaign=CAMPAIGN, minutes="How long (1 to 40320)")
    async def timeout(
        self,
        interaction: discord.Interaction,
        campaign: int,
        minutes: app_commands.Range[int, 1, 40320] = 60,
    ) -> None:
        """Time out this server's repeat posters of the campaign (two posts or more)."""
        found = await self._campaign(interaction, campaign)
        if found is None or interaction.guild is None:
            return
        guild = interaction.guild
        posts = await self.bot.engine.storage.campaigns.posts(found.id, guild.id)
        repeat = [a for a, n in Counter(p.author_id for p in posts).items() if n > 1]
        if not repeat:
            await reply(interaction, "No one posted this campaign's media twice here.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        reason = f"Consentry campaign {found.id}: posted its media repeatedly"
        lines = []
        for author in repeat:
            outcome = await self.bot.actioner.apply_step(
                guild, author, f"timeout:{minutes}", reason
            )
            lines.append(f"<@{author}>: {outcome.detail}")
        await audit(
            self.bot,
            interaction,
            "campaign.timeout",
            f"campaign {found.id}",
            {"minutes": minutes, "members": len(repeat)},
        )
        await reply(interaction, "\n".join(lines))

    async def _campaign(self, interaction: discord.Interaction, campaign: int) -> Campaign | None:
        member = interaction.user
        if interaction.guild is None or not isinstance(member, discord.Member):
            return None
        if not is_moderator(member, await self.bot.guild_settings.get(interaction.guild.id)):
            await refuse_audited(self.bot, interaction, "Only moderators can act on campaigns.")
            return None
        storage = self.bot.engine.storage
        found = await storage.campaigns.get(campaign)
        if found is None or not await storage.campaigns.posts(campaign, interaction.guild.id):
            await reply(interaction, f"No campaign #{campaign} reached this server.")
            return None
        return found


async def setup(bot: ConsentryBot) -> None:
    """Register the ``/campaign`` commands."""
    await bot.add_cog(Campaigns(bot))
