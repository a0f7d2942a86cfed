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
        self._waiting: list[tuple[NewWork, bool, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def seen(self, new: NewWork, *, due_now: bool = False) -> bool:
        """Record ``new`` (see :meth:`WorkStore.seen`); StorageError if the database refused
        even after retrying. ``due_now``: a scan worker is to claim it, so it is not leased to
        this process."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((new, due_now, answer))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="consentry-work-recorder")
        return await answer

    async def _write(self) -> None:
        await asyncio.sleep(0)  # let the other messages of this moment join the batch
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            for due_now in (False, True):
                part = [(new, answer) for new, due, answer in batch if due is due_now]
                if part:
                    await self._write_part(part, due_now)

    async def _write_part(
        self, part: list[tuple[NewWork, asyncio.Future[bool]]], due_now: bool
    ) -> None:
        try:
            answers = await retrying(
                functools.partial(self._record, [new for new, _ in part], due_now),
                what=f"recording {len(part)} message(s)",
            )
        except StorageError as exc:
            for _, answer in part:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, answer), wanted in zip(part, answers, strict=True):
            if not answer.done():
                answer.set_result(wanted)

    async def _record(self, news: list[NewWork], due_now: bool) -> list[bool]:
        now = datetime.now(UTC)
        return await self._store.seen_many(news, lease_until=now if due_now else now + SCAN_LEASE)
