"""Gateway sessions and the connections that carry them.

A session (created by IDENTIFY) numbers its dispatches and keeps the most recent ones, so a
client that lost its connection can RESUME on a new one and get what it missed, in order.
A connection has one writer task that sends control frames first, then every buffered dispatch
the client has not seen: the same code path serves live events and RESUME replays.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.sandbox.compression import Encoder

log = logging.getLogger(__name__)

_CONTROL_LIMIT = 256  # heartbeat ACKs and the like; a client that floods us gets dropped


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Session:
    """One identified gateway session."""

    def __init__(
        self, *, user_id: int, intents: int, shard: tuple[int, int], buffer_size: int
    ) -> None:
        self.id = secrets.token_hex(16)
        self.user_id = user_id
        self.intents = intents
        self.shard_id, self.shard_count = shard
        self.seq = 0
        # Serialised frames: later changes to the objects they describe cannot leak into them.
        self.frames: deque[tuple[int, str]] = deque(maxlen=buffer_size)
        self.connection: Connection | None = None
        self.invalid = False
        self.presence: Any = None

    def handles_guild(self, guild_id: int) -> bool:
        """Discord's shard formula: ``(guild_id >> 22) % shard_count``."""
        return (guild_id >> 22) % self.shard_count == self.shard_id

    def push(self, event: str, data: Any) -> int:
        """Number and buffer a dispatch, and wake the connection that will send it."""
        self.seq += 1
        frame = f'{{"op":0,"t":"{event}","s":{self.seq},"d":{_dumps(data)}}}'
        self.frames.append((self.seq, frame))
        if self.connection is not None:
            self.connection.wake()
        return self.seq

    def oldest_seq(self) -> int:
        return self.frames[0][0] if self.frames else self.seq + 1


class Connection:
    """One websocket: its encoder, control frames and the writer task."""

    def __init__(self, ws: web.WebSocketResponse, encoder: Encoder, path: str) -> None:
        self.ws = ws
        self.encoder = encoder
        self.path = path
        self.session: Session | None = None
        self.sent_seq = 0
        self.ready_seq = 0  # the connection counts as up once it sent this dispatch
        self.control: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self.task: asyncio.Task[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.client_close_code: int | None = None

    def wake(self) -> None:
        self._wake.set()

    def send_control(self, op: int, data: Any) -> None:
        if len(self.control) >= _CONTROL_LIMIT:
            self.close_with(4008, "Rate limited.")
            return
        self.control.append(_dumps({"op": op, "d": data, "s": None, "t": None}))
        self.wake()

    def close_with(self, code: int, reason: str) -> None:
        """Close after the frames already queued are sent (Discord sends the close last)."""
        if self._closing is None:
            self._closing = (code, reason)
        self.wake()

    @property
    def up(self) -> bool:
        return self.session is not None and self.sent_seq >= self.ready_seq > 0

    async def run_writer(self, on_sent: Callable[[], None]) -> None:
        """Send frames as they come; ``on_sent`` is called after each batch."""
        try:
            while not self.ws.closed:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=30.0)
                except TimeoutError:
                    continue
                self._wake.clear()
                while self.control:
                    await self._send(self.control.popleft())
                await self._send_dispatches()
                on_sent()
                if self._closing is not None:
                    code, reason = self._closing
                    await self.ws.close(code=code, message=reason.encode()[:123])
                    return
        except (ConnectionResetError, RuntimeError) as exc:
            log.debug("gateway writer stopped: %s", exc)

    async def _send_dispatches(self) -> None:
        session = self.session
        while session is not None and session.connection is self and self.sent_seq < session.seq:
            if session.oldest_seq() > self.sent_seq + 1:
                # What the client still needs was evicted: make it reconnect; its RESUME then
                # fails (op 9) and it identifies anew, as on Discord after a long outage.
                self.close_with(4000, "Session buffer overflow.")
                return
            pending = [text for seq, text in list(session.frames) if seq > self.sent_seq]
            for text in pending:
                await self._send(text)
                self.sent_seq += 1

    async def _send(self, text: str) -> None:
        if self.encoder.binary:
            await self.ws.send_bytes(self.encoder.encode(text))
        else:
            await self.ws.send_str(text)
