"""Writes that must not be lost to a passing fault: retried with backoff, within a bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.storage.base import StorageError

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_PATIENCE_SECONDS = 60.0
"""How long a write keeps retrying while another writer holds the database (a large blocklist
import, say), on top of each attempt's own 5 s busy timeout."""


async def retrying(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int = 3,
    first_delay: float = 0.5,
    busy_patience: float = BUSY_PATIENCE_SECONDS,
) -> T:
    """Run ``op``; on StorageError try again with doubling delays. A busy database is waited
    for up to ``busy_patience`` seconds in all; any other failure (a full disk) gets ``attempts``
    tries. The last error is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + busy_patience
    delay = first_delay
    tries = 0
    while True:
        tries += 1
        try:
            return await op()
        except StorageError as exc:
            more = loop.time() + delay < deadline if exc.busy else tries < attempts
            if not more:
                raise
            log.warning("%s failed (%s); trying again in %.1f s", what, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 8.0)
