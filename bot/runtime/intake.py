"""The intake queue between gateway events and the watcher: bounded, with visible depth and drops.

discord.py would otherwise start one task per message, without limit; under a raid the queue
holds the backlog in a known bound and a fixed number of workers drain it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import discord

log = logging.getLogger(__name__)

Handler = Callable[[discord.Message, bool], Awaitable[object]]
"""Handles one message; the flag asks for all its media to be scanned again (a retry)."""


class MessageQueue:
    """Messages waiting to be scanned, handled by ``workers`` tasks in arrival order."""

    def __init__(self, handler: Handler, *, maxsize: int, workers: int) -> None:
        self._handler = handler
        self._queue: asyncio.Queue[tuple[discord.Message, bool]] = asyncio.Queue(maxsize=maxsize)
        self._workers_wanted = workers
        self._workers: list[asyncio.Task[None]] = []
        self.maxsize = maxsize
        self.drops = 0
        self.handled = 0
        self.busy = 0
        """Messages being handled now."""

    @property
    def depth(self) -> int:
        """Messages waiting now."""
        return self._queue.qsize()

    @property
    def room(self) -> int:
        """How many more messages fit now."""
        return self.maxsize - self._queue.qsize()

    @property
    def idle(self) -> int:
        """How many more messages would be handled at once: workers neither busy nor about to
        be (a scan worker takes only this many from the database)."""
        return max(0, self._workers_wanted - self.busy - self._queue.qsize())

    def put(self, message: discord.Message, force: bool = False) -> bool:
        """Queue ``message``; if the queue is full it is dropped, counted and logged (its work
        record stays unfinished, so the backlog queues it again later)."""
        try:
            self._queue.put_nowait((message, force))
        except asyncio.QueueFull:
            self.drops += 1
            log.warning(
                "scan queue full (%d waiting): message %s in channel %s deferred to the backlog"
                " (%d so far)",
                self.maxsize,
                message.id,
                message.channel.id,
                self.drops,
            )
            return False
        return True

    def start(self) -> None:
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._work(), name=f"consentry-intake-{i}")
                for i in range(self._workers_wanted)
            ]

    async def _work(self) -> None:
        while True:
            message, force = await self._queue.get()
            self.busy += 1
            try:
                await self._handler(message, force)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this worker is being stopped
                # A cancellation leaked from inside the handler: that message failed, the
                # worker lives on.
                log.error("handling message %s was cancelled from within", message.id)
            except Exception:
                log.exception("handling message %s failed", message.id)
            finally:
                self.busy -= 1
                self.handled += 1
                self._queue.task_done()

    async def stop(self, seconds: float) -> None:
        """Finish what is queued (up to ``seconds``), then stop the workers."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), seconds)
        if self.depth:
            log.warning("stopping with %d messages not scanned", self.depth)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
