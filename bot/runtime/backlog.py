"""The backlog: unfinished work in the durable record, taken up again until it is done.

A message whose scan never finished (the bot was killed, the queue was full, the scan failed) is
fetched from Discord again and queued; one already deleted counts as done. A stored case whose
deletion or alert is still due has it carried out again, with backoff (see
:mod:`bot.runtime.effects`). The bot is ready once everything seen up to catch-up is scanned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import discord

from bot.runtime.alerts import case_incident
from bot.runtime.effects import MAX_TRIES, Due, EffectRunner, backoff
from bot.runtime.handoff import received
from bot.storage import Storage, StorageError, WorkItem, WorkState
from bot.storage.base_work import Shards

log = logging.getLogger(__name__)

BACKLOG_SECONDS = 2.0
"""How often the backlog looks for due work."""
BATCH = 50
"""Records taken up per look."""
FETCH_TIMEOUT_SECONDS = 30.0
"""Fetching one message (and its channel) from Discord again."""

Enqueue = Callable[[discord.Message, bool], bool]
"""Queue a message for scanning (``True``: rescan all its media); False if the queue is full."""
Prepare = Callable[[int], Awaitable[object]]
"""Makes a server known to this process before its work is taken up (a scan worker, with no
gateway cache, fetches it over REST)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Backlog:
    """Takes up due unfinished work from the durable record and sees it through."""

    def __init__(
        self,
        client: discord.Client,
        storage: Storage,
        effects: EffectRunner,
        enqueue: Enqueue,
        room: Callable[[], int],
        *,
        clock: Callable[[], datetime] = _utcnow,
        lease: timedelta | None = None,
        shards: Shards | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.client = client
        self.storage = storage
        self.effects = effects
        self.enqueue = enqueue
        self.room = room
        """How many more messages the scan queue takes now."""
        self._clock = clock
        self._lease = lease or backoff(1)
        """How long a taken record is left to this process (a scan worker's is longer)."""
        self._shards = shards
        """Only these shards' servers are taken up (a gateway's own); None: every server."""
        self._prepare = prepare
        self.wake = asyncio.Event()
        """Set to look for due work at once (another process said some is due)."""
        self.ready = asyncio.Event()
        """Set once every message seen up to :meth:`caught_up_to` has been scanned."""
        self._ready_at: int | None = None

    def caught_up_to(self, message_id: int) -> None:
        """Catch-up has queued everything up to ``message_id`` (a snowflake): the bot becomes
        ready once all of it is scanned."""
        self.ready.clear()
        self._ready_at = message_id

    async def run(self) -> None:
        """Look for due work every :data:`BACKLOG_SECONDS`, for ever (faults are logged)."""
        while True:
            try:
                taken = await self.tick()
            except StorageError as exc:
                log.warning("backlog: the database is unavailable (%s); trying again", exc)
                taken = 0
            except Exception:  # a bug must not end the backlog: log it, look again later
                log.exception("backlog: looking for due work failed; trying again")
                taken = 0
            # After taking some, look again soon: more may be due, or the queue has room again
            # (what is taken and fails is postponed, so this never spins on the same work).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), BACKLOG_SECONDS if taken == 0 else 0.05)
            self.wake.clear()

    async def tick(self) -> int:
        """Take up what is due now; return how many records were taken. Messages to scan are
        taken only as far as the scan queue has room (a busy queue is no failure)."""
        now = self._clock()
        lease = now + self._lease
        work = self.storage.work
        shards = self._shards
        items = await work.claim(
            now, limit=BATCH, lease_until=lease, state=WorkState.ACT, shards=shards
        )
        room = min(self.room(), BATCH)
        if room > 0:
            items += await work.claim(
                now, limit=room, lease_until=lease, state=WorkState.SCAN, shards=shards
            )
        for item in items:
            try:
                if self._prepare is not None:
                    await self._prepare(item.guild_id)
                await self._resume(item)
            except (StorageError, discord.HTTPException) as exc:
                log.warning("backlog: message %s: %s", item.message_id, exc)
        waiting = self._ready_at is not None and not self.ready.is_set()
        if waiting and await self.storage.work.unscanned(up_to_message=self._ready_at or 0) == 0:
            log.info("ready: caught up, and every message seen so far is scanned")
            self.ready.set()
        return len(items)

    async def _resume(self, item: WorkItem) -> None:
        if item.state is WorkState.SCAN:
            await self._rescan(item)
        elif item.case_id is None:  # its case was deleted (a data-deletion request)
            await self.storage.work.finish(item.guild_id, item.message_id, WorkState.DONE)
        else:
            await self._redo(item, item.case_id)

    async def _rescan(self, item: WorkItem) -> None:
        if item.attempts > MAX_TRIES:
            why = f"not scanned after {item.attempts - 1} tries: {item.error or 'no detail'}"
            log.error("message %s: %s", item.message_id, why)
            await self.storage.work.finish(
                item.guild_id, item.message_id, WorkState.FAILED, error=why
            )
            return
        try:
            message = await asyncio.wait_for(self._fetch(item), FETCH_TIMEOUT_SECONDS)
        except discord.NotFound:
            message = None
        except discord.Forbidden:
            why = "Consentry can no longer read this channel (View Channel, Read Message History)"
            await self.storage.work.finish(
                item.guild_id, item.message_id, WorkState.FAILED, error=why
            )
            return
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._later(item, f"could not fetch the message again: {exc or 'timed out'}")
            return
        if message is None:
            # Deleted meanwhile (by its author, a moderator, or this bot before a crash).
            await self.storage.work.finish(item.guild_id, item.message_id, WorkState.GONE)
            return
        if not self.enqueue(message, True):
            await self._later(item, "the scan queue was full", backoff(1))

    async def _fetch(self, item: WorkItem) -> discord.Message | None:
        """The message as a gateway handed it over (first try only), else as Discord has it
        now; None if its channel is no longer one."""
        channel = self.client.get_channel(item.channel_id)
        first = item.handoff is not None and item.attempts == 1
        if first and isinstance(channel, discord.abc.Messageable):
            message = received(self.client, channel, item.handoff or "")
            if message is not None:
                return message
        if channel is None:
            channel = await self.client.fetch_channel(item.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return None
        return await channel.fetch_message(item.message_id)

    async def _redo(self, item: WorkItem, case_id: int) -> None:
        case = await self.storage.cases.get(case_id)
        if case is None:
            await self.storage.work.finish(item.guild_id, item.message_id, WorkState.DONE)
            return
        if item.delete_due:
            outcome = "Not deleted yet."
        elif case.action == "quarantine":
            outcome = "Removed (see the case's timeline)."
        else:
            outcome = "Alert only: nothing was removed."
        due = Due(
            case,
            item.channel_id,
            item.message_id,
            delete=item.delete_due,
            alert=item.alert_due,
            attempts=item.attempts,
            ladder=item.ladder_due,
            repost=item.repost_due,
        )
        await self.effects.run(due, case_incident(case, outcome))

    async def _later(self, item: WorkItem, why: str, wait: timedelta | None = None) -> None:
        log.info("message %s: %s; trying again later", item.message_id, why)
        until = self._clock() + (wait or backoff(item.attempts))
        await self.storage.work.postpone(item.guild_id, item.message_id, until=until, error=why)
