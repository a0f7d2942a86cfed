"""Forwarding case events to an HTTPS webhook (a moderation team's ticket system, say).

Each event is POSTed as JSON: what happened, the case's ids, action, status and file hash, and
for effects what came of them. Never media bytes, evidence or tokens. The URL's host must be on
``[feeds] allowed_hosts`` (the same allow-list as hash lists). Deliveries wait in a bounded queue
(:data:`QUEUE_SIZE`; beyond it they are dropped, counted and logged) and are tried
:data:`TRIES` times, after 1 s, 2 s, 4 s... on a 5xx, a 429 or a network error; a 4xx is final.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.case_events import CaseDecided, CaseEvent, EffectDone, EffectFailed
from bot.feeds.fetch import FeedFetcher

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
TRIES = 5
TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 1.0


def payload(event: CaseEvent) -> dict[str, Any]:
    """The JSON body for ``event`` (no media, no evidence)."""
    case = event.case
    body: dict[str, Any] = {
        "event": event.name,
        "at": datetime.now(UTC).isoformat(),
        "case": {
            "id": case.id,
            "guild_id": str(case.guild_id),
            "channel_id": str(case.channel_id),
            "message_id": str(case.message_id),
            "author_id": str(case.author_id),
            "action": case.action,
            "status": case.status.value,
            "sha256": case.sha256,
            "opened_at": case.created_at.isoformat(),
        },
    }
    if isinstance(event, CaseDecided):
        body["actor"] = event.actor
    if isinstance(event, EffectDone):
        body["effect"], body["detail"] = event.effect, event.detail
    if isinstance(event, EffectFailed):
        body["detail"] = event.detail
    return body


class WebhookForwarder:
    """Posts case events to one URL, in order, with retries."""

    def __init__(self, fetcher: FeedFetcher, url: str) -> None:
        refused = fetcher.limits.refuses(url)
        if refused is not None:
            raise ValueError(f"[bot] webhook_url: {refused}")
        self._fetcher = fetcher
        self.url = url
        self._queue: asyncio.Queue[CaseEvent] = asyncio.Queue(QUEUE_SIZE)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        """Start delivering."""
        self._task = asyncio.create_task(self._run(), name="consentry-webhook")

    async def stop(self) -> None:
        """Stop delivering (what is still queued is dropped, and counted)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.dropped += self._queue.qsize()

    async def hear(self, event: CaseEvent) -> None:
        """A case event subscriber: queue ``event`` for delivery."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("webhook: queue full, %s of case %s dropped", event.name, event.case.id)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            if await self._deliver(payload(event)):
                self.sent += 1
            else:
                self.failed += 1

    async def _deliver(self, body: dict[str, Any]) -> bool:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Consentry"}
        delay = FIRST_RETRY_SECONDS
        for attempt in range(1, TRIES + 1):
            try:
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    async with self._fetcher.session.post(
                        self.url,
                        data=data,
                        headers=headers,
                        ssl=self._fetcher.ssl_context,
                        allow_redirects=False,
                    ) as response:
                        status = response.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                status, why = 0, f"not reached ({exc or type(exc).__name__})"
            else:
                why = f"HTTP {status}"
                if 200 <= status < 300:
                    return True
            if 400 <= status < 500 and status != 429:
                break  # refused for good: retrying will not help
            if attempt < TRIES:
                await asyncio.sleep(delay)
                delay *= 2
        log.error(
            "webhook: %s of case %s not delivered: %s", body["event"], body["case"]["id"], why
        )
        return False
