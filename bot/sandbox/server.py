"""The :class:`Sandbox`: a local imitation of Discord's REST API v10, gateway v10 and CDN.

The real, unmodified discord.py connects to it once pointed there::

    discord.http.Route.BASE = sandbox.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sandbox.gateway_url)
    discord.asset.Asset.BASE = sandbox.cdn_base  # sticker and avatar URLs

It is a faithful imitation rather than a mock: payload shapes, status codes, JSON error bodies,
rate-limit headers, close codes and event ordering follow Discord's documentation.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.sandbox import (
    cdn,
    demo,
    rest,
    routes_core,
    routes_guilds,
    routes_interactions,
    routes_messages,
    routes_moderation,
    routes_threads,
    routes_webhooks,
)
from bot.sandbox.actions import UserActions
from bot.sandbox.builder import WorldBuilder
from bot.sandbox.config import Config, Urls
from bot.sandbox.context import Context
from bot.sandbox.demo import DemoWorld
from bot.sandbox.gateway import Gateway
from bot.sandbox.inspection import Inspection
from bot.sandbox.interaction_actions import InteractionActions
from bot.sandbox.media import Signer
from bot.sandbox.objects import Application, User
from bot.sandbox.recorder import Failure, FailurePlan, RequestLog, RouteMatcher
from bot.sandbox.snowflake import SnowflakeGenerator
from bot.sandbox.state import World


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Sandbox(WorldBuilder, UserActions, InteractionActions, Inspection):
    """A fake Discord on 127.0.0.1 (random free ports) that real clients can talk to.

    World building and inspection are synchronous; user actions and lifecycle are async.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        app_name: str = "Consentry",
        heartbeat_interval_ms: int = 41250,
        message_content_intent: bool = True,
        members_intent: bool = True,
        presences_intent: bool = False,
        interaction_deadline: float = 3.0,
        upload_limit: int = 10 * 1024 * 1024,
        rate_limit: tuple[int, float] = (50, 1.0),
    ) -> None:
        ids = SnowflakeGenerator()
        bot_id = ids.next()
        owner = User(id=ids.next(), username=f"{app_name.lower()}-developer")
        if token is None:
            # Bot tokens are base64(user id).timestamp.hmac: keep the shape clients may check.
            head = base64.urlsafe_b64encode(str(bot_id).encode()).decode().rstrip("=")
            token = f"{head}.{secrets.token_urlsafe(5)}.{secrets.token_urlsafe(27)}"
        application = Application(
            id=bot_id,  # modern applications share their id with their bot user
            name=app_name,
            bot_user_id=bot_id,
            owner_id=owner.id,
            token=token,
            message_content=message_content_intent,
            members=members_intent,
            presences=presences_intent,
        )
        world = World(application, ids)
        world.users[bot_id] = User(id=bot_id, username=app_name, bot=True)
        world.users[owner.id] = owner
        config = Config(
            heartbeat_interval_ms=heartbeat_interval_ms,
            interaction_deadline=interaction_deadline,
            upload_limit=upload_limit,
        )
        urls = Urls()
        self._ctx = Context(
            world=world,
            gateway=Gateway(world, config, urls),
            urls=urls,
            config=config,
            signer=Signer(secrets.token_bytes(32)),
            log=RequestLog(),
            failures=FailurePlan(),
        )
        self._buckets = rest.Buckets(*rate_limit)
        self._runners: list[web.AppRunner] = []

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the API/gateway, CDN and media-proxy ports and start serving."""
        if self._runners:
            raise RuntimeError("sandbox already started")
        specs = [
            *routes_core.routes.specs,
            *routes_messages.routes.specs,
            *routes_guilds.routes.specs,
            *routes_moderation.routes.specs,
            *routes_threads.routes.specs,
            *routes_webhooks.routes.specs,
            *routes_interactions.routes.specs,
        ]
        api = rest.build_app(self._ctx, specs, self._buckets)
        api.router.add_get("/", self._ctx.gateway.handle)
        api.router.add_get("/resume", self._ctx.gateway.handle)
        content = cdn.build_app(self._ctx)
        ports: list[int] = []
        for app in (api, content, content):
            # A short shutdown: a client left connected must not hold stop() for aiohttp's 60 s.
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
            await runner.setup()
            sock = _listen()
            await web.SockSite(runner, sock).start()
            self._runners.append(runner)
            ports.append(sock.getsockname()[1])
        api_port, cdn_port, media_port = ports
        urls = self._ctx.urls
        urls.api_base = f"http://127.0.0.1:{api_port}/api/v10"
        urls.gateway_url = f"ws://127.0.0.1:{api_port}/"
        urls.resume_gateway_url = f"ws://127.0.0.1:{api_port}/resume"
        urls.cdn_base = f"http://127.0.0.1:{cdn_port}"
        urls.media_base = f"http://127.0.0.1:{media_port}"

    async def stop(self) -> None:
        """Close gateway connections and stop serving (close discord.py clients first)."""
        await self._ctx.gateway.close_all()
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- identity and addresses ----------------------------------------------------------------

    @property
    def token(self) -> str:
        """The one valid bot token."""
        return self._ctx.world.application.token

    @property
    def bot_user_id(self) -> int:
        return self._ctx.world.application.bot_user_id

    @property
    def application_id(self) -> int:
        return self._ctx.world.application.id

    @property
    def api_base(self) -> str:
        """For ``discord.http.Route.BASE``, e.g. ``http://127.0.0.1:PORT/api/v10``."""
        return self._ctx.urls.api_base

    @property
    def gateway_url(self) -> str:
        """For ``DiscordWebSocket.DEFAULT_GATEWAY``, e.g. ``ws://127.0.0.1:PORT/``."""
        return self._ctx.urls.gateway_url

    @property
    def cdn_base(self) -> str:
        """Where attachment ``url``s point (cdn.discordapp.com's stand-in)."""
        return self._ctx.urls.cdn_base

    @property
    def media_base(self) -> str:
        """Where attachment ``proxy_url``s point (media.discordapp.net's stand-in)."""
        return self._ctx.urls.media_base

    @property
    def cdn_host(self) -> str:
        """``127.0.0.1:PORT`` of the CDN, for a download allow-list."""
        return self.cdn_base.removeprefix("http://")

    @property
    def media_host(self) -> str:
        return self.media_base.removeprefix("http://")

    def discord_section(self, **extra: float) -> str:
        """The ``[discord]`` config section that points a Consentry bot at this sandbox.

        ``extra`` adds settings, e.g. ``blocklist_refresh_seconds=0.2``.
        """
        lines = [
            "[discord]",
            f'api_base = "{self.api_base}"',
            f'gateway_url = "{self.gateway_url}"',
            f'cdn_base = "{self.cdn_base}"',
            f'media_hosts = ["{self.cdn_host}", "{self.media_host}"]',
            *(f"{key} = {value}" for key, value in extra.items()),
        ]
        return "\n".join(lines) + "\n"

    def demo_world(self) -> DemoWorld:
        """Build the "Consentry Demo" server (see :func:`bot.sandbox.demo.demo_world`)."""
        return demo.demo_world(self)

    @property
    def config(self) -> Config:
        """Behaviour knobs, adjustable while running (e.g. ``interaction_deadline``)."""
        return self._ctx.config

    def system_channel_id(self, guild_id: int) -> int | None:
        """The guild's system channel (``#general`` for guilds made by :meth:`create_guild`)."""
        return self._ctx.world.guild(guild_id).system_channel_id

    def set_privileged_intents(
        self,
        *,
        message_content: bool | None = None,
        members: bool | None = None,
        presences: bool | None = None,
    ) -> None:
        """Grant or revoke privileged intents (takes effect at the next IDENTIFY)."""
        app = self._ctx.world.application
        if message_content is not None:
            app.message_content = message_content
        if members is not None:
            app.members = members
        if presences is not None:
            app.presences = presences

    # --- failure injection ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        route: RouteMatcher,
        status: int,
        times: int = 1,
        retry_after: float = 0.3,
        code: int | None = None,
        global_: bool = False,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them.

        429s carry ``retry_after``/``global`` in the body and ``Retry-After``, ``X-RateLimit-*``
        and ``Via`` headers, so discord.py waits and retries; 500/502/504 it retries by itself.
        """
        if isinstance(route, str) and route.startswith("^"):
            route = re.compile(route)
        failure = Failure(method, route, status, times, retry_after, code, global_, message)
        self._ctx.failures.add(failure)

    def hold_downloads(self) -> None:
        """Stall the CDN: every download waits, unanswered, until :meth:`release_downloads`."""
        if self._ctx.cdn_gate is None:
            self._ctx.cdn_gate = asyncio.Event()

    def release_downloads(self) -> None:
        """Answer the downloads held by :meth:`hold_downloads`, and every later one at once."""
        gate, self._ctx.cdn_gate = self._ctx.cdn_gate, None
        if gate is not None:
            gate.set()

    def clear_failures(self) -> None:
        """Drop every failure still queued by :meth:`fail_next` (Discord is back)."""
        self._ctx.failures.clear()

    async def request_reconnect(self, *, wait: bool = True, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT; with ``wait``, return once the client is back (resumed)."""
        await self._reconnect_and_wait(self._ctx.gateway.request_reconnect, wait, timeout)

    async def drop_connection(
        self,
        *,
        code: int = 4000,
        abrupt: bool = False,
        wait: bool = True,
        timeout: float = 5.0,
    ) -> None:
        """Close the gateway connection (``abrupt``: no close frame); with ``wait``, return
        once the client has come back. Events dispatched meanwhile are replayed on RESUME."""

        async def drop() -> int:
            return await self._ctx.gateway.drop(code=code, abrupt=abrupt, within=timeout)

        await self._reconnect_and_wait(drop, wait, timeout)

    async def _reconnect_and_wait(
        self, action: Callable[[], Any], wait: bool, within: float
    ) -> None:
        stats = self._ctx.gateway.stats
        before = stats.identifies + stats.resumes
        await action()
        if wait:
            gateway = self._ctx.gateway
            await gateway.wait_until(
                lambda: stats.identifies + stats.resumes > before and gateway.online(), within
            )
