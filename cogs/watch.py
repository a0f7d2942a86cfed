"""Watches guild messages (new and edited) for media."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from bot.runtime.client import ConsentryBot


class Watch(commands.Cog):
    """Queues every guild message, and every edit, for the watcher."""

    def __init__(self, bot: ConsentryBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self._handle(message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        # The raw event fires even for messages no longer in the cache; since discord.py 2.5 it
        # carries the updated message. Only media not scanned before is scanned again.
        await self._handle(payload.message)

    async def _handle(self, message: discord.Message) -> None:
        await self.bot.take(message)


async def setup(bot: ConsentryBot) -> None:
    await bot.add_cog(Watch(bot))
