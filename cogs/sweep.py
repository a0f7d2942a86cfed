"""`/sweep`: scan a channel's (or every channel's) recent history, e.g. after adding a hash.

The sweep runs in the background (:mod:`bot.runtime.sweeps`); this cog only starts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.permissions import is_moderator, refuse
from bot.runtime.sweeps import MAX_PER_CHANNEL, MAX_TOTAL, SweepRefused, readable_channels

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


class Sweep(commands.Cog):
    """Starts history sweeps."""

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @app_commands.command(name="sweep", description="Scan recent messages for media to act on")
    @app_commands.describe(
        channel="Channel to sweep (default: every text channel)",
        messages=f"Messages per channel, newest first (1-{MAX_PER_CHANNEL}, default 100)",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    async def sweep(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        messages: app_commands.Range[int, 1, MAX_PER_CHANNEL] = 100,
    ) -> None:
        guild, member, sweeper = interaction.guild, interaction.user, self.bot.sweeper
        if guild is None or not isinstance(member, discord.Member) or sweeper is None:
            return
        settings = await self.bot.guild_settings.get(guild.id)
        if not is_moderator(member, settings):
            await refuse(interaction, "Only moderators can run a sweep.")
            return
        targets: list[discord.TextChannel | discord.Thread] = (
            [channel] if channel else readable_channels(guild)
        )
        alerts = guild.get_channel_or_thread(settings.alert_channel_id or 0)
        report_to = alerts if isinstance(alerts, discord.abc.Messageable) else interaction.channel
        if not isinstance(report_to, discord.abc.Messageable):
            await refuse(interaction, "There is no channel to report the sweep's progress in.")
            return
        try:
            await sweeper.start(member, targets, messages, report_to)
        except SweepRefused as exc:
            await refuse(interaction, str(exc))
            return
        where = getattr(report_to, "mention", "here")
        await interaction.response.send_message(
            f"Sweep started: {len(targets)} channel(s), up to {messages} messages each "
            f"({MAX_TOTAL} in all). Its progress is shown in {where}.",
            ephemeral=True,
        )


async def setup(bot: ConsentryBot) -> None:
    await bot.add_cog(Sweep(bot))
