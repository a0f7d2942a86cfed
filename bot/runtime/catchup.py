"""Never miss a message: remember the newest message seen per channel, and after a restart or a
new gateway session scan what was posted meanwhile (within a bounded window)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import discord

from bot.storage.base import CursorStore, WorkStore

log = logging.getLogger(__name__)


class CursorBook:
    """The newest message id seen per channel, kept in memory and flushed in batches.

    A cursor never passes a message whose work record is still being written (see
    :meth:`recording`): killed at that moment, the bot would otherwise skip it for good.
    """

    def __init__(self, store: CursorStore) -> None:
        self._store = store
        self._pending: dict[tuple[int, int], int] = {}
        self._recording: dict[tuple[int, int], set[int]] = {}

    def recording(self, guild_id: int, channel_id: int, message_id: int) -> None:
        """``message_id`` is seen and its record not yet written: hold the cursor before it
        until :meth:`note`."""
        self._recording.setdefault((guild_id, channel_id), set()).add(message_id)

    def note(self, guild_id: int, channel_id: int, message_id: int) -> None:
        """``message_id`` is seen (and recorded, if it needs a record)."""
        key = (guild_id, channel_id)
        held = self._recording.get(key)
        if held is not None:
            held.discard(message_id)
            if not held:
                del self._recording[key]
        if message_id > self._pending.get(key, 0):
            self._pending[key] = message_id

    async def flush(self) -> None:
        """Write the pending cursors in one transaction; if that fails they stay pending (merged
        with any noted meanwhile) for the next flush."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        safe = {}
        for key, newest in batch.items():
            held = self._recording.get(key)
            safe[key] = min(newest, min(held) - 1) if held else newest
            if safe[key] < newest:
                self.note(*key, newest)  # the rest waits for the records being written
        try:
            await self._store.advance_many([(g, c, m) for (g, c), m in safe.items()])
        except BaseException:
            for (guild, channel), message_id in batch.items():
                self.note(guild, channel, message_id)
            raise

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
    work: WorkStore,
    admit: Callable[[discord.Message], Awaitable[object]],
    *,
    per_channel: int,
    window: timedelta,
) -> int:
    """Hand the messages posted while the bot was away to ``admit``; returns how many.

    Every text channel and active thread the bot can read is caught up, those it never saw a
    message in too, each from its oldest unfinished message or else the last one seen (never
    older than ``window``), with at most ``per_channel`` messages.
    """
    floor = discord.utils.time_snowflake(datetime.now(UTC) - window)
    starts = await book.last_seen(guild.id)
    for channel_id, oldest in (await work.oldest_unfinished(guild.id)).items():
        starts[channel_id] = min(starts.get(channel_id, floor), oldest - 1)
    readable: list[discord.TextChannel | discord.Thread] = [*guild.text_channels, *guild.threads]
    channels = {c.id: c for c in readable if _readable(c)}
    for channel_id in starts:
        found = guild.get_channel_or_thread(channel_id)
        if isinstance(found, discord.TextChannel | discord.Thread) and _readable(found):
            channels[channel_id] = found
    queued = 0
    for channel_id, channel in channels.items():
        after = max(starts.get(channel_id, floor), floor)
        try:
            async for message in channel.history(
                after=discord.Object(after), limit=per_channel, oldest_first=True
            ):
                await admit(message)
                queued += 1
        except discord.HTTPException as exc:
            log.warning("cannot catch up in channel %s: %s", channel_id, exc)
    return queued


def _readable(channel: discord.TextChannel | discord.Thread) -> bool:
    allowed = channel.permissions_for(channel.guild.me)
    return allowed.view_channel and allowed.read_message_history
