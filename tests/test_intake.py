"""The intake queue: bounded, and its workers survive whatever one message does."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from bot.runtime.intake import MessageQueue


def _message(i: int) -> Any:
    return SimpleNamespace(id=i, channel=SimpleNamespace(id=1))


async def test_a_cancellation_leaking_from_one_message_does_not_end_a_worker() -> None:
    handled: list[int] = []

    async def handler(message: Any, force: bool) -> None:
        if message.id == 1:
            raise asyncio.CancelledError  # e.g. an awaited task someone else cancelled
        if message.id == 2:
            raise RuntimeError("boom")
        handled.append(message.id)

    queue = MessageQueue(handler, maxsize=10, workers=1)
    queue.start()
    for i in (1, 2, 3):
        assert queue.put(_message(i))
    await queue.stop(seconds=5)
    assert handled == [3] and queue.handled == 3 and queue.depth == 0


async def test_a_full_queue_drops_and_counts() -> None:
    queue = MessageQueue(lambda m, f: asyncio.sleep(0), maxsize=1, workers=1)
    assert queue.put(_message(1)) and not queue.put(_message(2))
    assert queue.drops == 1
