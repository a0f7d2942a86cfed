"""Never miss a message: remember the newest message seen per channel, and after a restart or a
new gateway session scan what was posted meanwhile (within a bounded window)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import discord

from bot.storage.base import CursorStore

log = logging.getLogger(__name__)


class CursorBook:
    """The newest message id seen per channel, kept in memory and flushed in batches."""

    def __init__(self, store: CursorStore) -> None:
        self._store = store
        self._pending: dict[tuple[int, int], int] = {}

    def note(self, guild_id: int, channel_id: int, message_id: int) -> None:
        key = (guild_id, channel_id)
        if message_id > self._pending.get(key, 0):
            self._pending[key] = message_id

    async def flush(self) -> None:
        """Write the pending cursors in one transaction."""
        if self._pending:
            batch = [(g, c, m) for (g, c), m in self._pending.items()]
            self._pending = {}
            await self._store.advance_many(batch)

    async def last_seen(self, guild_id: int) -> dict[int, int]:
        """Channel -> newest message id seen, stored or pending."""
        seen = await self._store.get(guild_id)
        for (guild, channel), message_id in self._pending.items():
            if guild == guild_id and message_id > seen.get(channel, 0):
                seen[channel] = message_id
        return seen


async def catch_up(
    guild: discord.Guild,
    book: CursorBook,
    enqueue: Callable[[discord.Message], object],
    *,
    per_channel: int,
    window: timedelta,
) -> int:
    """Queue the messages posted since the last one seen in each channel; returns how many.

    Only channels the bot has seen before are caught up (elsewhere it was never watching), each
    with at most ``per_channel`` messages, none older than ``window``.
    """
    floor = discord.utils.time_snowflake(datetime.now(UTC) - window)
    queued = 0
    for channel_id, last in (await book.last_seen(guild.id)).items():
        channel = guild.get_channel_or_thread(channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            continue
        try:
            async for message in channel.history(
                after=discord.Object(max(last, floor)), limit=per_channel, oldest_first=True
            ):
                enqueue(message)
                queued += 1
        except discord.HTTPException as exc:
            log.warning("cannot catch up in channel %s: %s", channel_id, exc)
    return queued
