"""``consentry worker``: a scan-only process, with no gateway connection.

Gateway processes record each message with media in the work record. While a worker is alive
(its heartbeat), they record new messages as due at once and wake the workers (PostgreSQL
NOTIFY; every worker also looks every 2 s). A worker claims due records under a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never take the same record), reads each
message from what the gateway handed over in the record (:mod:`bot.runtime.handoff`; a retry
fetches it over Discord's REST API), downloads its media from the CDN, scans it, stores the
verdict and case, and deletes and alerts through REST. A worker that dies loses its leases once
they run out (``[workers] lease_seconds``), and another worker, or a gateway when none is left,
takes the message over.

Moderators' buttons and commands stay with the gateway processes, which receive interactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import discord

from bot.cluster import Heartbeat, process_name
from bot.config import Config
from bot.core.evidence import EvidenceKey
from bot.engine import Engine, open_engine
from bot.metrics import MetricsServer
from bot.runtime import observe
from bot.runtime.backlog import Backlog
from bot.runtime.catchup import CursorBook
from bot.runtime.client import point_at
from bot.runtime.global_limit import SharedGlobalLimit
from bot.runtime.hearing import ENROLMENTS_RELOAD_SECONDS, SETTINGS_RELOAD_SECONDS, Hearing
from bot.runtime.intake import MessageQueue
from bot.runtime.parts import build_parts
from bot.runtime.periodic import Periodic
from bot.runtime.rest_guilds import RestGuilds
from bot.runtime.run import explain, startup, until_stopped
from bot.runtime.watcher import Watcher
from bot.storage import StorageError

log = logging.getLogger(__name__)

STOP_SECONDS = 10.0
"""At a stop, how long scans under way are given to finish (the rest go back by lease)."""


class ScanWorker:
    """One scan worker: the engine, a REST-only Discord client, and the backlog loop."""

    def __init__(
        self,
        engine: Engine,
        *,
        evidence_key: EvidenceKey | None = None,
        metrics_port: int | None = None,
    ) -> None:
        config = engine.config
        self.engine = engine
        # A worker never joins voice: skip discord.py's start-up warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        self.global_limit = SharedGlobalLimit(engine.storage)
        # No gateway connection is made; the guilds intent only tells discord.py's cache to
        # keep the servers this worker fetches over REST.
        self.client = discord.Client(
            intents=discord.Intents(guilds=True), http_trace=self.global_limit.trace()
        )
        self.global_limit.attach(self.client)
        self.guilds = RestGuilds(self.client)
        parts = build_parts(engine, self.client, evidence_key)
        self.guild_settings = parts.guild_settings
        self.actioner = parts.actioner
        self.cases = parts.cases
        self.protection = parts.protection
        self.effects = parts.effects
        self._parts = parts
        self.holder = process_name()
        self.heartbeat = Heartbeat(engine.storage.jobs, self.holder, "worker", "", config.workers)
        self.watcher: Watcher | None = None
        self.intake: MessageQueue | None = None
        self.backlog: Backlog | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._held: set[tuple[int, int]] = set()
        """(server, message) of the scans this worker has queued or runs: their leases are
        renewed while it lives."""
        self._metrics_config = (
            config.metrics if metrics_port is None else replace(config.metrics, port=metrics_port)
        )
        self.metrics_server: MetricsServer | None = None
        self.ready = False
        """Set once the worker takes up work (its /readyz)."""

    async def start(self, token: str) -> None:
        """Log in over REST (no gateway), then take up due scans until :meth:`close`."""
        config = self.engine.config
        await self.client.login(token)
        assert self.client.user is not None
        loaded = await self.protection.load()
        log.info("likeness protection: %d enrolled members loaded", loaded)
        self._session = aiohttp.ClientSession()
        self.watcher = watcher = self._parts.watcher(
            self.engine,
            self._session,
            CursorBook(self.engine.storage.cursors),
            own_user_id=self.client.user.id,
        )
        watcher.observers.append(self._handled)
        workers = config.discord.queue_workers
        # Claimed only as far as a scan slot is idle, so a record waits in the database
        # (claimable by another worker) rather than in this process's memory.
        self.intake = intake = MessageQueue(
            lambda message, force: watcher.handle(message, force=force),
            maxsize=workers,
            workers=workers,
        )
        intake.start()
        self.backlog = Backlog(
            self.client,
            self.engine.storage,
            self.effects,
            self._take,
            lambda: intake.idle,
            lease=timedelta(seconds=config.workers.lease_seconds),
            prepare=self.guilds.ensure,
        )
        hearing = Hearing(
            global_limit=self.global_limit,
            settings=self.guild_settings,
            protection=self.protection,
            refresh_blocklist=self._refresh_blocklist,
            bursts=lambda: watcher.bursts,
            on_work=self.backlog.wake.set,
            on_settings=self.guilds.forget,
        )
        metrics = observe.instrument(self)
        if self._metrics_config.port:
            self.metrics_server = observe.server(
                self, metrics, lambda: self.ready, self._metrics_config
            )
            await self.metrics_server.start()
        listening = await self.engine.storage.listen(hearing)
        await self.heartbeat.beat()
        self.heartbeat.start()
        every = Periodic(self.engine.storage.jobs, self.holder).every
        lease = config.workers.lease_seconds
        self._tasks = [
            asyncio.create_task(self.backlog.run(), name="consentry-worker-backlog"),
            asyncio.create_task(
                every(config.discord.blocklist_refresh_seconds, self._refresh_blocklist)
            ),
            # Enrolments and settings are changed in the gateways: all read again now and
            # then, in case a notification was missed (or, on SQLite, never sent).
            asyncio.create_task(every(ENROLMENTS_RELOAD_SECONDS, hearing.reload_enrolments)),
            asyncio.create_task(every(SETTINGS_RELOAD_SECONDS, hearing.reload_settings)),
            # A slow scan (a long video, a stalled CDN) keeps its message: renewed at a third
            # of the lease, so only a worker that died (or lost the database) lets go of it.
            asyncio.create_task(every(lease / 3, self._renew)),
        ]
        self.ready = True
        log.info(
            "scan worker %s ready as %s: %s",
            self.holder,
            self.client.user,
            "woken at once by the gateways (LISTEN/NOTIFY)"
            if listening
            else "looking for due scans every 2 s",
        )

    def _take(self, message: discord.Message, force: bool) -> bool:
        if self.intake is None or message.guild is None or not self.intake.put(message, force):
            return False
        self._held.add((message.guild.id, message.id))
        return True

    def _handled(self, message: discord.Message, _: object, error: BaseException | None) -> None:
        if message.guild is not None:
            self._held.discard((message.guild.id, message.id))
        if self.backlog is not None:  # a slot is free: take the next due message now
            self.backlog.wake.set()

    async def _renew(self) -> None:
        until = datetime.now(UTC) + timedelta(seconds=self.engine.config.workers.lease_seconds)
        await self.engine.storage.work.extend(sorted(self._held), until=until)

    async def _refresh_blocklist(self) -> None:
        try:
            if await self.engine.refresh_blocklist():
                size = len(self.engine.matcher.snapshot)
                log.info("blocklist changed: index rebuilt (%d entries)", size)
        except StorageError as exc:
            log.warning("blocklist not refreshed (%s); trying again later", exc)

    async def close(self) -> None:
        """Stop taking work, let scans under way finish, say this worker is gone."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.intake is not None:
            await self.intake.stop(seconds=STOP_SECONDS)
        if self.watcher is not None:
            await self.watcher.drain(seconds=STOP_SECONDS)
        await self.heartbeat.stop()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        await self.client.close()
        if self._session is not None:
            await self._session.close()


async def _forever() -> None:
    await asyncio.Event().wait()


async def run_worker(
    config: Config, token: str | None = None, *, metrics_port: int | None = None
) -> int:
    """Run a scan worker until SIGINT or SIGTERM; StartupError for what an admin must fix.
    ``metrics_port`` replaces ``[metrics] port`` (several workers on one machine)."""
    token, key = await startup(config, token)
    point_at(config.discord)
    async with open_engine(config) as engine:
        worker = ScanWorker(engine, evidence_key=key, metrics_port=metrics_port)
        try:
            await worker.start(token)
        except (discord.HTTPException, discord.LoginFailure, OSError) as exc:
            await worker.close()
            raise explain(exc) from exc
        # Runs until a signal; the worker's own loops never end by themselves.
        forever = asyncio.create_task(_forever())
        try:
            await until_stopped(forever)
        finally:
            forever.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forever
            await worker.close()
    log.info("scan worker stopped")
    return 0
