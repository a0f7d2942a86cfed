"""The gateway: websocket handshake, IDENTIFY/RESUME, heartbeats and dispatch fan-out.

Close codes and their meaning follow Discord's table; discord.py decides from them whether to
resume (4000, 4009...), give up (4004 bad token, 4014 privileged intents...) or identify anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox import gateway_payloads, payloads
from bot.sandbox import intents as gi
from bot.sandbox.compression import UnsupportedCompression, encoder_for
from bot.sandbox.config import Config, Urls
from bot.sandbox.gateway_session import Connection, Session
from bot.sandbox.state import World

log = logging.getLogger(__name__)

HELLO, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 10, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HEARTBEAT_ACK = 6, 7, 8, 9, 11
_IDENTIFY_TIMEOUT = 20.0
_MAX_SESSIONS = 64


@dataclass
class GatewayStats:
    """Counters tests assert on (a RESUME must not turn into a new IDENTIFY)."""

    connections: int = 0
    identifies: int = 0
    resumes: int = 0
    invalid_sessions: int = 0
    reconnects_requested: int = 0
    drops: int = 0
    # (path, opcode) of each handshake: shows whether RESUMEs used resume_gateway_url.
    handshakes: deque[tuple[str, int]] = field(default_factory=lambda: deque(maxlen=1000))
    # The code of each close frame a client sent: 1000 or 1001 ends the session (the bot shows
    # offline at once); any other code keeps it resumable, shown online until it times out.
    close_codes: deque[int] = field(default_factory=lambda: deque(maxlen=1000))


class Gateway:
    """Sessions, connections and fan-out of dispatches to them."""

    def __init__(self, world: World, config: Config, urls: Urls) -> None:
        self.world = world
        self.config = config
        self.urls = urls
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.stats = GatewayStats()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # --- fan-out -------------------------------------------------------------------------------

    def dispatch(self, event: str, data: dict[str, Any], *, guild_id: int | None = None) -> None:
        """Send an event to every session that would receive it on Discord."""
        bot_id = self.world.application.bot_user_id
        for session in list(self.sessions.values()):
            if session.invalid:
                continue
            if guild_id is not None and not session.handles_guild(guild_id):
                continue
            if guild_id is None and session.shard_id != 0:
                continue  # DMs and other guild-less events go to shard 0
            in_guild = guild_id is not None
            if not gi.delivers(
                event, data, in_guild=in_guild, intents=session.intents, self_id=bot_id
            ):
                continue
            session.push(event, self._tailor(session, event, data))

    def _tailor(self, session: Session, event: str, data: dict[str, Any]) -> dict[str, Any]:
        if event == "GUILD_CREATE" and not session.intents & gi.GUILD_MEMBERS:
            return payloads.tailor_member_list(data, session.user_id)
        return gi.tailor_message(
            event, data, intents=session.intents, self_id=self.world.application.bot_user_id
        )

    # --- failure injection and waiting ---------------------------------------------------------

    def online(self) -> bool:
        """Whether some connection has an identified session and sent its initial burst."""
        return any(c.up for c in self.connections)

    async def request_reconnect(self) -> int:
        """Send op 7 RECONNECT on every live connection; returns how many got it."""
        live = [c for c in self.connections if c.session is not None]
        for connection in live:
            connection.send_control(RECONNECT, None)
        self.stats.reconnects_requested += len(live)
        return len(live)

    async def drop(self, *, code: int = 4000, abrupt: bool = False, within: float = 5.0) -> int:
        """Close every live connection (``abrupt``: cut TCP without a close frame)."""
        live = [c for c in self.connections if c.session is not None]
        for connection in live:
            if abrupt:
                transport = connection.transport
                if transport is not None:
                    transport.abort()
            else:
                connection.close_with(code, "Unknown error.")
        self.stats.drops += len(live)
        await self.wait_until(lambda: not any(c in self.connections for c in live), within)
        return len(live)

    async def wait_until(self, predicate: Callable[[], bool], within: float) -> None:
        """Return once ``predicate()`` holds; it is re-checked whenever the gateway changes."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, within)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def _changed(self) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate():
                future.set_result(None)

    async def close_all(self) -> None:
        for connection in list(self.connections):
            connection.close_with(1001, "Going away.")
        for connection in list(self.connections):
            if connection.task is not None:
                await asyncio.wait({connection.task}, timeout=2.0)

    # --- the websocket -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for the gateway endpoint (and the resume endpoint)."""
        ws = web.WebSocketResponse(compress=False, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        try:
            encoder = encoder_for(request.query.get("compress"))
        except UnsupportedCompression as exc:
            log.error("sandbox gateway: %s", exc)
            # 4012 is a close discord.py does not retry, so the error surfaces instead of a loop.
            await ws.close(code=4012, message=str(exc).encode()[:123])
            return ws
        connection = Connection(ws, encoder, request.path)
        connection.transport = request.transport
        if request.query.get("v") != "10":
            await ws.close(code=4012, message=b"Invalid API version.")
            return ws
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Only encoding=json is supported.")
            return ws
        self.connections.add(connection)
        self.stats.connections += 1
        connection.task = asyncio.create_task(connection.run_writer(self._changed))
        interval = self.config.heartbeat_interval_ms
        connection.send_control(
            HELLO, {"heartbeat_interval": interval, "_trace": ['["gateway-sandbox",{}]']}
        )
        try:
            await self._read(connection, receive_timeout=interval / 1000 * 2 + 1)
        finally:
            self.connections.discard(connection)
            session = connection.session
            if session is not None and session.connection is connection:
                session.connection = None
                if connection.client_close_code in (1000, 1001):
                    session.invalid = True  # a clean client close ends the session
            await self._stop_writer(connection)
            self._changed()
        return ws

    async def _stop_writer(self, connection: Connection) -> None:
        """Let the writer flush (a close frame, say) briefly, then end it and collect errors."""
        task = connection.task
        if task is None:
            return
        connection.wake()
        await asyncio.wait({task}, timeout=2.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # surfaces (and so logs) a writer that failed instead of losing it

    async def _read(self, connection: Connection, *, receive_timeout: float) -> None:
        ws = connection.ws
        while not ws.closed:
            timeout = receive_timeout if connection.session else _IDENTIFY_TIMEOUT
            try:
                message = await ws.receive(timeout=timeout)
            except TimeoutError:
                # Missed heartbeats: Discord closes a zombie connection and the client resumes.
                connection.close_with(4009, "Session timed out.")
                return
            if message.type is WSMsgType.CLOSE:
                connection.client_close_code = int(message.data)
                self.stats.close_codes.append(connection.client_close_code)
                await ws.close()
                return
            if message.type is not WSMsgType.TEXT:
                if message.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                    return
                connection.close_with(4002, "Error while decoding payload.")
                return
            try:
                frame = json.loads(message.data)
                op = frame["op"]
            except (ValueError, KeyError, TypeError):
                connection.close_with(4002, "Error while decoding payload.")
                return
            self._on_frame(connection, op, frame.get("d"))

    def _on_frame(self, connection: Connection, op: int, data: Any) -> None:
        if op == HEARTBEAT:
            connection.send_control(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            if connection.session is not None:
                connection.close_with(4005, "Already authenticated.")
            else:
                self._identify(connection, data or {})
        elif op == RESUME:
            self._resume(connection, data or {})
        elif connection.session is None:
            connection.close_with(4003, "Not authenticated.")
        elif op == PRESENCE:
            connection.session.presence = data
        elif op == REQUEST_MEMBERS:
            self._request_members(connection.session, data or {})
        elif op != VOICE_STATE:
            connection.close_with(4001, "Unknown opcode.")

    def _token_ok(self, token: Any) -> bool:
        if not isinstance(token, str):
            return False
        return token.removeprefix("Bot ") == self.world.application.token

    def _identify(self, connection: Connection, data: dict[str, Any]) -> None:
        self.stats.handshakes.append((connection.path, IDENTIFY))
        app = self.world.application
        if not self._token_ok(data.get("token")):
            connection.close_with(4004, "Authentication failed.")
            return
        wanted = data.get("intents")
        if not isinstance(wanted, int) or wanted < 0 or wanted & ~gi.ALL_KNOWN:
            connection.close_with(4013, "Invalid intent(s).")
            return
        granted = (
            (gi.GUILD_MEMBERS if app.members else 0)
            | (gi.GUILD_PRESENCES if app.presences else 0)
            | (gi.MESSAGE_CONTENT if app.message_content else 0)
        )
        if wanted & gi.PRIVILEGED & ~granted:
            connection.close_with(4014, "Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        if not (isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]):
            connection.close_with(4010, "Invalid shard.")
            return
        session = Session(
            user_id=app.bot_user_id,
            intents=wanted,
            shard=(int(shard[0]), int(shard[1])),
            buffer_size=self.config.resume_buffer,
        )
        session.presence = data.get("presence")
        self._forget_old_sessions()
        self.sessions[session.id] = session
        self.stats.identifies += 1
        self._bind(connection, session, after_seq=0)
        bot_guilds = [
            g
            for g in self.world.guilds.values()
            if app.bot_user_id in g.members and session.handles_guild(g.id)
        ]
        ready = gateway_payloads.ready(self.world, session, self.urls, [g.id for g in bot_guilds])
        session.push("READY", ready)
        for guild in bot_guilds:
            full = payloads.guild_create(guild, self.world)
            session.push("GUILD_CREATE", self._tailor(session, "GUILD_CREATE", full))
        connection.ready_seq = session.seq

    def _resume(self, connection: Connection, data: dict[str, Any]) -> None:
        self.stats.handshakes.append((connection.path, RESUME))
        if not self._token_ok(data.get("token")):
            connection.close_with(4004, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if (
            session is None
            or session.invalid
            or not isinstance(seq, int)
            or seq > session.seq
            or session.oldest_seq() > seq + 1
        ):
            self.stats.invalid_sessions += 1
            connection.send_control(INVALID_SESSION, False)
            return
        previous = session.connection
        if previous is not None and previous is not connection:
            previous.close_with(4000, "Session resumed elsewhere.")
        self.stats.resumes += 1
        self._bind(connection, session, after_seq=seq)
        connection.ready_seq = session.push("RESUMED", {"_trace": ['["gateway-sandbox",{}]']})

    def _bind(self, connection: Connection, session: Session, *, after_seq: int) -> None:
        connection.session = session
        connection.sent_seq = after_seq
        session.connection = connection
        connection.wake()

    def _forget_old_sessions(self) -> None:
        for key in [k for k, s in self.sessions.items() if s.invalid]:
            del self.sessions[key]
        idle = [k for k, s in self.sessions.items() if s.connection is None]
        while len(self.sessions) >= _MAX_SESSIONS and idle:
            del self.sessions[idle.pop(0)]

    def _request_members(self, session: Session, data: dict[str, Any]) -> None:
        chunk = gateway_payloads.members_chunk(self.world, data)
        if chunk is not None:
            session.push("GUILD_MEMBERS_CHUNK", chunk)
