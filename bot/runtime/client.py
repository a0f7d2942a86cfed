"""The discord.py client: intents, cogs, command sync and the background blocklist refresh."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.case_events import CaseDecided, CaseEvent
from bot.cluster import Heartbeat, WorkSignal, process_name
from bot.config import DiscordConfig
from bot.core.evidence import EvidenceKey
from bot.engine import Engine
from bot.features import ExtensionError
from bot.feeds.fetch import FeedFetcher
from bot.feeds.refresh import FeedRefresher
from bot.forwarding import WebhookForwarder
from bot.metrics import Metrics, MetricsServer
from bot.runtime import observe
from bot.runtime.backlog import Backlog
from bot.runtime.catchup import CursorBook, catch_up
from bot.runtime.global_limit import SharedGlobalLimit
from bot.runtime.hearing import ENROLMENTS_RELOAD_SECONDS, SETTINGS_RELOAD_SECONDS, Hearing
from bot.runtime.intake import MessageQueue
from bot.runtime.parts import build_parts
from bot.runtime.periodic import Periodic
from bot.runtime.retro import RetroSweeps
from bot.runtime.review import Reviewer
from bot.runtime.sweeps import Sweeper
from bot.runtime.watcher import Admission, Watcher

log = logging.getLogger(__name__)

CURSOR_FLUSH_SECONDS = 5.0
"""How often the newest message seen per channel is written down (and at shutdown)."""
QUEUE_FULL_RETRY_SECONDS = 5.0
"""How soon the backlog queues again a message the full scan queue turned away."""
WORK_KEPT_DAYS = 7
"""How long a finished message's work record is kept (longer than any catch-up window)."""
PURGE_SECONDS = 3600.0
"""How often expired evidence is purged (and once at every start, so a restart never skips it)."""
FEED_CHECK_SECONDS = 60.0
"""How often subscriptions are checked for a due refresh (each has its own interval)."""

# Permissions the bot needs, and why (the README lists the same).
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,  # see the channels it protects
    read_message_history=True,  # catch up and fetch reported messages
    manage_messages=True,  # delete matching media
    moderate_members=True,  # time out repeat posters
    manage_webhooks=True,  # restore wrongly removed posts under the author's name
    embed_links=True,  # alerts are embeds
    attach_files=True,  # evidence exports
    send_messages=True,  # alerts and notices
)


def intents(message_content: bool = True, members: bool = True) -> discord.Intents:
    """Guilds (channels, roles), guild messages, message content (to see attachments) and
    members (to notice protected members leaving)."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_messages = True
    chosen.message_content = message_content
    # Privileged, like message content: a member who leaves must stop being protected, and
    # Discord tells bots about departures (GUILD_MEMBER_REMOVE) only with this intent.
    chosen.members = members
    return chosen


def point_at(config: DiscordConfig) -> None:
    """Aim discord.py at ``api_base``, ``gateway_url`` and ``cdn_base`` (a proxy, or the sandbox).

    discord.py keeps both as class attributes, so this is process-wide: one bot per process.
    """
    discord.http.Route.BASE = config.api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)
    discord.asset.Asset.BASE = config.cdn_base.rstrip("/")


class ConsentryBot(commands.Bot):
    """The Consentry bot: owns the Discord-side resources, borrows the engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        evidence_key: EvidenceKey | None = None,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        # Consentry never joins voice: skip discord.py's start-up warnings about voice libraries.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        sharding = engine.config.discord
        global_limit = SharedGlobalLimit(engine.storage)
        shards: dict[str, Any] = {}
        if sharding.shard_count:
            shards["shard_count"] = sharding.shard_count
            shards["shard_ids"] = list(sharding.shard_ids) or None
        super().__init__(
            **shards,
            command_prefix=commands.when_mentioned,
            intents=intents(
                engine.config.discord.message_content_intent,
                engine.config.discord.members_intent,
            ),
            # Member lists are not needed up front; departures arrive as events.
            chunk_guilds_at_startup=False,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            # How long discord.py waits for more GUILD_CREATEs before on_ready (its default is 2 s).
            guild_ready_timeout=guild_ready_timeout,
            http_trace=global_limit.trace(),
        )
        self.global_limit = global_limit
        """Discord's global rate limit, met by this process or told by another."""
        global_limit.attach(self)
        self.engine = engine
        parts = build_parts(engine, self, evidence_key)
        self.guild_settings = parts.guild_settings
        self.actioner = parts.actioner
        self.cases = parts.cases
        self.protection = parts.protection
        self.effects = parts.effects
        self._parts = parts
        self.cursors = CursorBook(engine.storage.cursors)
        self.intake: MessageQueue | None = None
        self.review = Reviewer(self)
        self.holder = process_name()
        """This process, as background job leases and heartbeats name it."""
        self.periodic = Periodic(engine.storage.jobs, self.holder)
        runs = ",".join(map(str, sharding.shard_ids)) or ("all" if sharding.shard_count else "")
        self.heartbeat = Heartbeat(
            engine.storage.jobs, self.holder, "gateway", runs, engine.config.workers
        )
        self._work_signal = WorkSignal(engine.storage)
        self.backlog = Backlog(
            self,
            engine.storage,
            self.effects,
            self._queue,
            # With scan workers alive, they take the scans; this process only sees effects due.
            lambda: self.intake.room if self.intake is not None and not self.hand_off() else 0,
            # Sharded, a process knows only its own shards' servers: it takes up their work.
            shards=(sharding.shard_count, sharding.shard_ids or tuple(range(sharding.shard_count)))
            if sharding.shard_count
            else None,
        )
        self.caught_up = self.backlog.ready
        """Set once caught up after a (re)connect and every message seen so far is scanned."""
        self._media_session: aiohttp.ClientSession | None = None
        self._background: list[asyncio.Task[None]] = []
        self._backlog_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.watcher: Watcher | None = None
        self.sweeper: Sweeper | None = None
        self.feeds: FeedRefresher | None = None
        self.retro: RetroSweeps | None = None
        self.webhook: WebhookForwarder | None = None
        """Forwards case events to ``[bot] webhook_url``, when set (``cogs/webhook``)."""
        self.metrics: Metrics | None = None
        self.metrics_server: MetricsServer | None = None
        self.hearing = Hearing(
            global_limit=global_limit,
            settings=self.guild_settings,
            protection=self.protection,
            refresh_blocklist=self._refresh_blocklist,
            bursts=lambda: self.watcher.bursts if self.watcher is not None else None,
        )
        """What other processes' change notifications mean here."""

    def hand_off(self) -> bool:
        """Whether new scans go to the scan workers (one was alive at the last heartbeat)."""
        return self.heartbeat.workers > 0

    async def setup_hook(self) -> None:
        discord_config = self.engine.config.discord
        await self._check_evidence_key()
        loaded = await self.protection.load()
        if self.protection.unavailable_reason:
            log.warning("likeness protection: %s", self.protection.unavailable_reason)
        else:
            log.info("likeness protection on: %d enrolled members loaded", loaded)
        self._media_session = aiohttp.ClientSession()
        self.feeds = FeedRefresher(
            self.engine.storage,
            FeedFetcher(self._media_session, self.engine.config.feeds),
            self.engine.executor.run,
        )
        self.watcher = self._parts.watcher(self.engine, self._media_session, self.cursors)
        watcher = self.watcher
        self.sweeper = Sweeper(watcher, self.actioner, self.engine.storage, self)
        self.retro = RetroSweeps(self, self.sweeper, self.guild_settings)
        self.engine.entries_added.append(self.retro.entries_added)
        self.intake = MessageQueue(
            lambda message, force: watcher.handle(message, force=force),
            maxsize=discord_config.queue_size,
            workers=discord_config.queue_workers,
        )
        self.intake.start()
        # Every public module in cogs/ is one feature with a setup(bot) function ([bot] cogs
        # chooses them); modules named _like_this are shared helpers.
        self.metrics = observe.instrument(self)
        if self.engine.config.metrics.port:
            self.metrics_server = observe.server(
                self,
                self.metrics,
                lambda: self.is_ready() and not self.is_closed() and self.caught_up.is_set(),
            )
            await self.metrics_server.start()
        features = self.engine.config.bot
        for name in features.loaded():
            await importlib.import_module(f"cogs.{name}").setup(self)
        for name in features.extensions:
            try:
                await importlib.import_module(name).setup(self)
            except Exception as exc:  # the operator's code: say whose it is
                raise ExtensionError(
                    f"[bot] extensions: {name} could not be loaded: {exc}"
                ) from exc
        synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))
        self.cases.events.subscribe(self._case_event)
        if await self.engine.storage.listen(self.hearing):
            log.info("other processes' changes are heard at once (LISTEN/NOTIFY)")
        await self.heartbeat.beat()  # know of live workers before the first message
        self.heartbeat.start()
        if self.hand_off():
            log.info(
                "%d scan worker(s) alive: they scan, this process acts", self.heartbeat.workers
            )
        refresh = self.engine.config.discord.blocklist_refresh_seconds
        every = self.periodic.every
        self._background = [
            asyncio.create_task(every(refresh, self._refresh_blocklist)),
            asyncio.create_task(
                every(PURGE_SECONDS, self._purge_evidence, at_start=True, lease="purge")
            ),
            asyncio.create_task(every(CURSOR_FLUSH_SECONDS, self.cursors.flush)),
            asyncio.create_task(every(FEED_CHECK_SECONDS, self._refresh_feeds, lease="feeds")),
            asyncio.create_task(every(ENROLMENTS_RELOAD_SECONDS, self._reload_enrolments)),
            asyncio.create_task(every(SETTINGS_RELOAD_SECONDS, self._reload_settings)),
        ]

    async def take(self, message: discord.Message) -> None:
        """A message to watch (from the gateway or catch-up): recorded, then queued. If the
        queue is full the record stays unfinished and the backlog queues it again shortly."""
        if self.watcher is None:
            return
        admission = await self.watcher.admit(message, hand_off=self.hand_off())
        if admission is Admission.WORKERS:  # recorded as due now: a scan worker claims it
            self._work_signal.due()
            return
        if admission is not Admission.SCAN:
            return
        if not self._queue(message, False) and message.guild is not None:
            await self.engine.storage.work.postpone(
                message.guild.id,
                message.id,
                until=datetime.now(UTC) + timedelta(seconds=QUEUE_FULL_RETRY_SECONDS),
                error="the scan queue was full",
            )

    def _queue(self, message: discord.Message, force: bool) -> bool:
        return self.intake is not None and self.intake.put(message, force)

    async def _check_evidence_key(self) -> None:
        """Warn when stored evidence was sealed with a key other than this start's: Reveal and
        Restore cannot open it (a new CONSENTRY_EVIDENCE_KEY, or none, was given)."""
        current = self.cases.key.key_id if self.cases.key is not None else None
        foreign = {
            k: n for k, n in (await self.engine.storage.evidence.key_ids()).items() if k != current
        }
        for key_id, count in sorted(foreign.items()):
            log.warning(
                "%d stored evidence items are sealed with key %s, not %s: Reveal and Restore "
                "cannot open them. Start with the key they were sealed with to use them "
                "(they are purged as usual at the end of their retention).",
                count,
                key_id,
                f"this start's key {current}" if current else "any key (none is set)",
            )

    async def on_ready(self) -> None:
        """A new gateway session: scan what was missed; ready once all of it is scanned."""
        if self.watcher is not None and self.user is not None:
            self.watcher.own_user_id = self.user.id
        log.info("connected as %s to %d servers; catching up", self.user, len(self.guilds))
        started = discord.utils.time_snowflake(datetime.now(UTC))
        self.caught_up.clear()
        if self._backlog_task is None and not self._stopping:
            # Alone on the database, nothing from before this start is leased any more: resume
            # all of it now. Beside other live processes, a lease may be theirs (a worker
            # mid-scan): leases then run out on their own.
            others = await self.heartbeat.others()
            resumed = 0 if others else await self.engine.storage.work.release()
            if resumed:
                log.info("resuming %d unfinished messages from before the restart", resumed)
            self._backlog_task = asyncio.create_task(self.backlog.run(), name="consentry-backlog")
        config = self.engine.config.discord
        queued = 0
        for guild in self.guilds:
            queued += await catch_up(
                guild,
                self.cursors,
                self.engine.storage.work,
                self.take,
                per_channel=config.catch_up_messages,
                window=timedelta(hours=config.catch_up_hours),
            )
        self.backlog.caught_up_to(started)
        log.info("caught up: %d missed messages looked at; ready once scanned", queued)
        if self.sweeper is not None and not self._stopping:
            await self.sweeper.resume_all(self)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.check_permissions(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.check_permissions(guild)

    async def check_permissions(self, guild: discord.Guild) -> list[str]:
        """Log, and tell the alert channel, which required permissions the bot lacks."""
        have = guild.me.guild_permissions if guild.me else discord.Permissions.none()
        missing = [
            name for name, wanted in REQUIRED_PERMISSIONS if wanted and not getattr(have, name)
        ]
        if missing and not have.administrator:
            names = ", ".join(n.replace("_", " ").title() for n in missing)
            log.warning("guild %s (%s) is missing permissions: %s", guild.name, guild.id, names)
            settings = await self.guild_settings.get(guild.id)
            await self.actioner.tell_alert_channel(
                guild, settings, f"Consentry is missing permissions it needs here: {names}."
            )
            return missing
        return []

    async def _close_gateway_cleanly(self) -> None:
        """Send the gateway close frame with code 1000 first, so Discord ends the session and
        shows the bot offline at once. discord.py's own close(1000) wakes its reader, which
        closes with 4000 before the 1000 goes out (discord.py issues 6134, 6719); a session
        closed with 4000 stays resumable, shown online for minutes."""
        # A sharded client keeps one socket per shard (discord.py has no public accessor).
        shards = getattr(self, "_AutoShardedClient__shards", None)
        sockets = [shard.ws for shard in shards.values()] if shards else [self.ws]
        frame = struct.pack("!H", 1000)  # a close frame's payload: the status code
        for ws in sockets:
            if ws is None or not ws.open:
                continue
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.socket.send_frame(frame, aiohttp.WSMsgType.CLOSE), 5)

    async def _purge_evidence(self) -> None:
        purged = await self.cases.purge_expired()
        if purged:
            log.info("purged %d evidence items past their retention", purged)
        # Finished work records only stop a restart rescanning old messages; keep a while.
        before = datetime.now(UTC) - timedelta(days=WORK_KEPT_DAYS)
        forgotten = await self.engine.storage.work.forget_finished(before)
        if forgotten:
            log.info(
                "forgot %d finished work records older than %d days", forgotten, WORK_KEPT_DAYS
            )

    async def _case_event(self, event: CaseEvent) -> None:
        if isinstance(event, CaseDecided) and self.watcher is not None:
            self.watcher.bursts.decided(event.case.id)

    async def _reload_enrolments(self) -> None:
        # Only beside other processes can an enrolment change without this one knowing.
        if self.heartbeat.peers:
            await self.hearing.reload_enrolments()

    async def _reload_settings(self) -> None:
        if self.heartbeat.peers:
            await self.hearing.reload_settings()

    async def _refresh_feeds(self) -> None:
        if self.feeds is not None and any(o.changed for o in await self.feeds.refresh_due()):
            await self._refresh_blocklist()

    async def _refresh_blocklist(self) -> None:
        if await self.engine.refresh_blocklist():
            size = len(self.engine.matcher.snapshot)
            log.info("blocklist changed: index rebuilt (%d entries)", size)

    async def close(self) -> None:
        self._stopping = True  # no background work starts from here on
        # Let scans already queued or under way finish acting (and recording) before resources go.
        if self.intake is not None:
            await self.intake.stop(seconds=10.0)
        if self.retro is not None:
            await self.retro.stop()
        if self.sweeper is not None:
            await self.sweeper.stop_all()
        if self.watcher is not None:
            await self.watcher.drain(seconds=10.0)
        await self.cursors.flush()
        if self.webhook is not None:  # the last events are delivered before the session goes
            await self.cases.events.drain(5.0)
            await self.webhook.stop()
        tasks = [*self._background, *([self._backlog_task] if self._backlog_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.periodic.release()  # another process may take the jobs over at once
        await self.heartbeat.stop()
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        await self._close_gateway_cleanly()
        await super().close()
        if self._media_session is not None:
            await self._media_session.close()


class ShardedConsentryBot(ConsentryBot, commands.AutoShardedBot):
    """The bot running some of Discord's shards (``[discord] shard_count`` and ``shard_ids``):
    one of several gateway processes sharing one database."""


def make_bot(
    engine: Engine, *, evidence_key: EvidenceKey | None = None, guild_ready_timeout: float = 2.0
) -> ConsentryBot:
    """The bot for ``engine``'s config: sharded when ``[discord] shard_count`` is set."""
    kind = ShardedConsentryBot if engine.config.discord.shard_count else ConsentryBot
    return kind(engine, evidence_key=evidence_key, guild_ready_timeout=guild_ready_timeout)
