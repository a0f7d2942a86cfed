"""Recording seen messages in the work record, many per transaction.

Under a raid hundreds of messages arrive at once; each must be recorded before it is queued.
One transaction per message would make the database the bottleneck, so the messages seen while
one batch is being written are written together in the next (group commit). A message waits for
its own batch only: nothing is queued before it is recorded.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta

from bot.storage import NewWork, StorageError, WorkStore
from bot.storage.retrying import retrying

SCAN_LEASE = timedelta(minutes=2)
"""How long a message being scanned is left alone by the backlog: past it (the bot crashed, or
the scan failed) the backlog takes the message up again."""
MAX_BATCH = 500
"""Messages recorded in one transaction at most."""


class WorkRecorder:
    """Writes :class:`NewWork` records in batches; each caller learns its own answer."""

    def __init__(self, store: WorkStore) -> None:
        self._store = store
        self._waiting: list[tuple[NewWork, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def seen(self, new: NewWork) -> bool:
        """Record ``new`` (see :meth:`WorkStore.seen`); StorageError if the database refused
        even after retrying."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((new, answer))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="consentry-work-recorder")
        return await answer

    async def _write(self) -> None:
        await asyncio.sleep(0)  # let the other messages of this moment join the batch
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                answers = await retrying(
                    functools.partial(self._record, [new for new, _ in batch]),
                    what=f"recording {len(batch)} message(s)",
                )
            except StorageError as exc:
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, answer), wanted in zip(batch, answers, strict=True):
                if not answer.done():
                    answer.set_result(wanted)

    async def _record(self, news: list[NewWork]) -> list[bool]:
        return await self._store.seen_many(news, lease_until=datetime.now(UTC) + SCAN_LEASE)
