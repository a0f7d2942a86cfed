"""`/sweep`: scan a channel's (or every channel's) recent history, e.g. after adding a hash."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.runtime.permissions import is_moderator, refuse

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot

MAX_PER_CHANNEL = 1000
MAX_TOTAL = 5000
PROGRESS_SECONDS = 2.0


class Sweep(commands.Cog):
    """History sweeps, with a progress message that updates as it goes."""

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
        guild, member, watcher = interaction.guild, interaction.user, self.bot.watcher
        if guild is None or not isinstance(member, discord.Member) or watcher is None:
            return
        if not is_moderator(member, await self.bot.guild_settings.get(guild.id)):
            await refuse(interaction, "Only moderators can run a sweep.")
            return
        targets = [channel] if channel else [c for c in guild.text_channels if _readable(c)]
        await interaction.response.send_message(
            f"Sweeping {len(targets)} channel(s), up to {messages} messages each…", ephemeral=True
        )
        scanned = acted = 0
        last = time.monotonic()
        for target in targets:
            async for message in target.history(limit=messages):
                if scanned >= MAX_TOTAL:
                    break
                scanned += 1
                incident = await watcher.handle(message, force=True)
                if incident is not None and incident.case_id is not None:
                    acted += 1
                if time.monotonic() - last >= PROGRESS_SECONDS:
                    last = time.monotonic()
                    await interaction.edit_original_response(
                        content=f"Sweeping… {scanned} messages scanned, {acted} cases opened."
                    )
        capped = f" (stopped at the {MAX_TOTAL}-message limit)" if scanned >= MAX_TOTAL else ""
        await interaction.edit_original_response(
            content=f"Sweep done: {scanned} messages scanned in {len(targets)} channel(s), "
            f"{acted} cases opened{capped}."
        )


def _readable(channel: discord.TextChannel) -> bool:
    me = channel.guild.me
    permissions = channel.permissions_for(me)
    return permissions.view_channel and permissions.read_message_history


async def setup(bot: ConsentryBot) -> None:
    await bot.add_cog(Sweep(bot))
