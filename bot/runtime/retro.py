"""Retroactive sweeps: once new blocking entries land (a confirmation, an import, a feed, a
member's registration), the recent history of the servers they apply to is swept for earlier
copies, and cases are opened for what is found.

Additions are gathered for :data:`GATHER_SECONDS` so that a burst of them (an import in several
files, a feed's refresh) makes one sweep per server. The sweeps themselves are bounded in
messages, age and rate (:data:`bot.runtime.sweeps.AUTO_PER_CHANNEL` and the rest).
"""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.guild_settings import GuildSettingsService
from bot.runtime.sweeps import Sweeper, readable_channels

log = logging.getLogger(__name__)

GATHER_SECONDS = 30.0
REASON = "new blocklist entries"


class RetroSweeps:
    """Turns "entries were added in these scopes" into automatic sweeps of those servers."""

    def __init__(
        self, client: discord.Client, sweeper: Sweeper, settings: GuildSettingsService
    ) -> None:
        self.client = client
        self.sweeper = sweeper
        self.settings = settings
        self._pending: set[int | None] = set()
        self._task: asyncio.Task[None] | None = None

    def entries_added(self, scopes: set[int | None]) -> None:
        """New blocking entries in ``scopes`` (None: instance-wide): sweep soon."""
        self._pending |= scopes
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._gathered(), name="consentry-retro-sweeps")

    async def stop(self) -> None:
        """Drop what is gathered (the bot is stopping)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _gathered(self) -> None:
        await asyncio.sleep(GATHER_SECONDS)
        scopes, self._pending = self._pending, set()
        guilds = [g for g in self.client.guilds if None in scopes or g.id in scopes]
        for guild in guilds:
            try:
                await self._sweep(guild)
            except Exception:  # one server's failure must not stop the others' sweeps
                log.exception("automatic sweep of guild %s could not start", guild.id)

    async def _sweep(self, guild: discord.Guild) -> None:
        settings = await self.settings.get(guild.id)
        alerts = guild.get_channel_or_thread(settings.alert_channel_id or 0)
        report_to = alerts if isinstance(alerts, discord.abc.Messageable) else None
        channels = readable_channels(guild)
        if channels:
            await self.sweeper.start_automatic(guild, channels, REASON, report_to)
