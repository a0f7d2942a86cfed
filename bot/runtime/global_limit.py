"""Discord's global rate limit, shared by every process of one bot.

Discord counts a bot's requests per second across all its connections (50 a second by default),
so a process told it hit the global limit (a 429 with ``X-RateLimit-Global``) is not the only
one that must wait: every other process of the cluster would hit it next. The process that meets
it says so to the others (PostgreSQL NOTIFY ``ratelimit:<seconds>``), and each holds its own
requests back for that long, as discord.py holds a single process's. Without notifications
(SQLite) each process only backs off on its own 429s; a rate-limit-sharing HTTP proxy in front
of Discord (``[discord] api_base``) shares the limit however the processes are spread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import discord

from bot.storage import Storage, StorageError

log = logging.getLogger(__name__)

MAX_PAUSE_SECONDS = 60.0
"""The longest pause a notification can ask for (a malformed or hostile value is capped)."""


class SharedGlobalLimit:
    """Says when this process meets the global limit, and pauses it when another one does."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._client: discord.Client | None = None
        self._until = 0.0  # time.monotonic() at which the current pause ends
        self._told: set[asyncio.Task[None]] = set()
        self.pauses = 0
        """Pauses ordered by another process's notification."""

    def trace(self) -> aiohttp.TraceConfig:
        """An aiohttp trace for discord.py's HTTP session that sees every global 429."""
        config = aiohttp.TraceConfig()
        config.on_request_end.append(self._ended)
        return config

    def attach(self, client: discord.Client) -> None:
        """The client whose requests a pause holds back."""
        self._client = client

    async def _ended(
        self, session: Any, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        response = params.response
        if response.status != 429 or response.headers.get("X-RateLimit-Global") != "true":
            return
        try:
            seconds = min(float(response.headers.get("Retry-After", "1")), MAX_PAUSE_SECONDS)
        except ValueError:
            seconds = 1.0
        task = asyncio.create_task(self._tell(seconds))
        self._told.add(task)
        task.add_done_callback(self._told.discard)

    async def _tell(self, seconds: float) -> None:
        try:
            await self._storage.notify(f"ratelimit:{seconds:.3f}")
        except StorageError as exc:
            log.warning("could not tell the other processes of the global rate limit: %s", exc)

    def heard(self, what: str) -> None:
        """A notification: ``ratelimit:<seconds>`` pauses this process's requests."""
        if not what.startswith("ratelimit:"):
            return
        try:
            seconds = min(max(float(what.partition(":")[2]), 0.0), MAX_PAUSE_SECONDS)
        except ValueError:
            return
        self.pause(seconds)

    def pause(self, seconds: float) -> None:
        """Hold every request of this process back for ``seconds`` (a longer pause under way
        is kept)."""
        client = self._client
        if client is None or seconds <= 0:
            return
        # discord.py waits on this event before each request; it has no public handle for it.
        gate: asyncio.Event | None = getattr(client.http, "_global_over", None)
        if not isinstance(gate, asyncio.Event):
            return  # not logged in yet: nothing is sent
        until = time.monotonic() + seconds
        if until <= self._until:
            return
        self._until = until
        self.pauses += 1
        log.warning("Discord's global rate limit was hit: requests wait %.1f s", seconds)
        gate.clear()
        asyncio.get_running_loop().call_later(seconds, self._reopen, gate, until)

    def _reopen(self, gate: asyncio.Event, until: float) -> None:
        if until >= self._until:  # the last pause ordered ends now
            gate.set()
