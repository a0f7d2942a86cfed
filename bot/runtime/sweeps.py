"""History sweeps as background jobs: one per server, audited, stored as they go, reporting
progress by editing their own message.

A sweep outlives the interaction that started it (Discord's interaction token lasts 15 minutes;
a sweep of 5,000 messages may take longer), so its progress is a message of its own, in the
alert channel (or the channel it was started from), edited as it goes and left in a final
state: done, stopped at the limit, or failed with the reason. It also outlives the process: its
position is stored every few seconds (:class:`bot.storage.SweepStore`), and the next start
carries on from there, whether the bot was stopped or killed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

import discord

from bot.runtime.actions import Actioner
from bot.runtime.watcher import Watcher
from bot.storage import Storage, StorageError, SweepRecord
from bot.storage.retrying import retrying

log = logging.getLogger(__name__)

MAX_PER_CHANNEL = 1000
MAX_TOTAL = 5000
PROGRESS_SECONDS = 2.0
"""How often the progress message is edited and the position stored, at most."""
SWEEPING = "Sweeping…"
AUTO_PER_CHANNEL = 100
AUTO_HOURS = 24
AUTO_PER_SECOND = 20.0
"""An automatic sweep looks at most this many messages per channel, none older than this many
hours, and this many messages a second (it shares the bot with live scanning)."""
PAUSED = "Sweep paused: Consentry is stopping. It carries on from here when it is back."

Swept = discord.TextChannel | discord.Thread
Notice = discord.Message | discord.PartialMessage


class SweepRefused(Exception):
    """A sweep cannot start; the message says why (one is already running here)."""


@dataclass
class SweepJob:
    """One server's running sweep: its stored record and the channels it covers."""

    record: SweepRecord
    channels: list[Swept | None]
    """By the record's channel ids; None for a channel gone since the sweep started."""
    progress: Notice | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def scanned(self) -> int:
        return self.record.scanned

    def text(self, state: str) -> str:
        record = self.record
        who = (
            f"Automatic sweep ({record.reason})"
            if record.reason
            else f"Sweep started by <@{record.started_by}>"
        )
        return (
            f"{state} {who}: {record.scanned} messages scanned in {len(self.channels)} "
            f"channel(s), {record.acted} cases opened."
        )


class Sweeper:
    """Starts sweeps, at most one per server, runs each as a background task, and resumes
    stored ones at start."""

    def __init__(
        self,
        watcher: Watcher,
        actioner: Actioner,
        storage: Storage,
        client: discord.Client | None = None,
    ) -> None:
        self.watcher = watcher
        self.client = client
        self.actioner = actioner
        self.storage = storage
        self._jobs: dict[int, SweepJob] = {}
        # An automatic sweep asked for while one runs: it follows, once (the latest asked).
        self._again: dict[int, tuple[list[Swept], str, discord.abc.Messageable | None]] = {}

    def running(self, guild_id: int) -> SweepJob | None:
        """The server's sweep under way, if any."""
        job = self._jobs.get(guild_id)
        # A job without a task yet is starting (its notice is being posted): it counts.
        return job if job is not None and (job.task is None or not job.task.done()) else None

    async def start(
        self,
        member: discord.Member,
        channels: list[Swept],
        per_channel: int,
        report_to: discord.abc.Messageable,
    ) -> SweepJob:
        """Start a sweep of ``channels`` (``per_channel`` newest messages each), posting its
        progress in ``report_to``; SweepRefused if one is under way in this server already."""
        current = self.running(member.guild.id)
        if current is not None:
            raise SweepRefused(
                f"A sweep is already running here (started by <@{current.record.started_by}>, "
                f"{current.scanned} messages scanned so far): wait for it to finish."
            )
        record = SweepRecord(
            member.guild.id,
            member.id,
            tuple(c.id for c in channels),
            min(per_channel, MAX_PER_CHANNEL),
        )
        return await self._start(record, channels, report_to, actor=f"user:{member.id}")

    async def start_automatic(
        self,
        guild: discord.Guild,
        channels: list[Swept],
        reason: str,
        report_to: discord.abc.Messageable | None,
    ) -> SweepJob | None:
        """Sweep recent history for earlier copies of new blocklist entries: the last
        :data:`AUTO_PER_CHANNEL` messages of each channel, none older than :data:`AUTO_HOURS`,
        paced at :data:`AUTO_PER_SECOND`. If a sweep is running here, this one follows it (None
        now)."""
        if self.running(guild.id) is not None:
            self._again[guild.id] = (channels, reason, report_to)
            return None
        oldest = discord.utils.time_snowflake(discord.utils.utcnow() - timedelta(hours=AUTO_HOURS))
        record = SweepRecord(
            guild.id,
            0,
            tuple(c.id for c in channels),
            AUTO_PER_CHANNEL,
            reason=reason,
            oldest_id=oldest,
        )
        try:
            return await self._start(record, channels, report_to, actor="consentry")
        except SweepRefused:  # one stopped by a restart is about to carry on: follow it
            self._again[guild.id] = (channels, reason, report_to)
            return None

    async def _start(
        self,
        record: SweepRecord,
        channels: list[Swept],
        report_to: discord.abc.Messageable | None,
        *,
        actor: str,
    ) -> SweepJob:
        job = SweepJob(record, list(channels))
        guild_id = record.guild_id
        self._jobs[guild_id] = job  # taken before the first await: two starts cannot race
        try:
            if not await self.storage.sweeps.begin(record, actor=actor):
                raise SweepRefused(
                    "A sweep stopped by a restart is about to carry on here: wait for it to finish."
                )
            if report_to is not None:
                job.progress = await self.actioner.post_notice(report_to, job.text(SWEEPING))
            if job.progress is not None:
                job.record = replace(record, notice=(job.progress.channel.id, job.progress.id))
                await self.storage.sweeps.save(job.record)
        except BaseException:
            del self._jobs[guild_id]
            raise
        job.task = asyncio.create_task(self._run(job), name=f"consentry-sweep-{guild_id}")
        return job

    async def resume_all(self, client: discord.Client) -> int:
        """Carry on every stored sweep not running (the bot stopped during them); return how
        many. A sweep of a server Consentry has left ends there."""
        resumed = 0
        for record in await self.storage.sweeps.under_way():
            if self.running(record.guild_id) is not None:
                continue
            guild = client.get_guild(record.guild_id)
            if guild is None:
                await self.storage.sweeps.end(record, "Sweep ended: Consentry left this server.")
                continue
            channels = [_swept(guild.get_channel_or_thread(c)) for c in record.channel_ids]
            job = SweepJob(record, channels, progress=_notice(client, record))
            self._jobs[guild.id] = job
            await self.actioner.edit_notice(job.progress, job.text(f"{SWEEPING} (resumed)"))
            job.task = asyncio.create_task(self._run(job), name=f"consentry-sweep-{guild.id}")
            resumed += 1
        if resumed:
            log.info("resumed %d sweep(s) stopped by the last shutdown", resumed)
        return resumed

    async def stop_all(self) -> None:
        """Cancel running sweeps (the bot is stopping); each keeps its place for the next
        start and says so in its message."""
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: SweepJob) -> None:
        state = "Sweep done."
        try:
            await self._sweep(job)
            if job.scanned >= MAX_TOTAL:
                state = f"Sweep stopped at the {MAX_TOTAL}-message limit."
        except asyncio.CancelledError:
            try:
                await self.storage.sweeps.save(job.record)
            except StorageError as exc:  # the place saved last (seconds ago) stands
                log.warning("sweep in guild %s: place not saved: %s", job.record.guild_id, exc)
            await self.actioner.edit_notice(job.progress, job.text(PAUSED))
            raise
        except Exception as exc:
            log.exception("sweep in guild %s failed", job.record.guild_id)
            state = f"Sweep failed: {exc}."
        # If even this fails, the stored sweep is resumed, and ended, by the next start.
        await retrying(
            lambda: self.storage.sweeps.end(job.record, state),
            what=f"ending the sweep in guild {job.record.guild_id}",
        )
        await self.actioner.edit_notice(job.progress, job.text(state))
        await self._follow(job)

    async def _follow(self, job: SweepJob) -> None:
        """Start the automatic sweep asked for while ``job`` ran, if any."""
        guild_id = job.record.guild_id
        if self._jobs.get(guild_id) is job:
            del self._jobs[guild_id]  # over: the next one may start
        follow = self._again.pop(guild_id, None)
        guild = self.client.get_guild(guild_id) if self.client is not None else None
        if follow is not None and guild is not None:
            await self.start_automatic(guild, *follow)

    async def _sweep(self, job: SweepJob) -> None:
        last = time.monotonic()
        while job.record.channel_index < len(job.channels):
            record = job.record
            channel = job.channels[record.channel_index]
            left = record.per_channel - record.taken
            before = discord.Object(record.before_id) if record.before_id else None
            if channel is not None and left > 0:
                try:
                    async for message in channel.history(limit=left, before=before):
                        if job.record.scanned >= MAX_TOTAL:
                            return
                        if message.id < record.oldest_id:
                            break  # newest first: the rest of this channel is older still
                        if record.reason:
                            await asyncio.sleep(1 / AUTO_PER_SECOND)
                        incident = await self.watcher.handle(message, force=True)
                        acted = incident is not None and incident.case_id is not None
                        job.record = _advanced(job.record, message.id, acted)
                        if time.monotonic() - last >= PROGRESS_SECONDS:
                            last = time.monotonic()
                            await self.storage.sweeps.save(job.record)
                            await self.actioner.edit_notice(job.progress, job.text(SWEEPING))
                except discord.HTTPException as exc:
                    log.warning("sweep: cannot read channel %s: %s", channel.id, exc)
            job.record = replace(
                job.record, channel_index=job.record.channel_index + 1, before_id=0, taken=0
            )


def readable_channels(guild: discord.Guild) -> list[Swept]:
    """The server's text channels whose history the bot may read."""
    me = guild.me
    return [
        c
        for c in guild.text_channels
        if me is not None
        and c.permissions_for(me).view_channel
        and c.permissions_for(me).read_message_history
    ]


def _advanced(record: SweepRecord, message_id: int, acted: bool) -> SweepRecord:
    return replace(
        record,
        before_id=message_id,
        taken=record.taken + 1,
        scanned=record.scanned + 1,
        acted=record.acted + int(acted),
    )


def _swept(channel: object) -> Swept | None:
    return channel if isinstance(channel, discord.TextChannel | discord.Thread) else None


def _notice(client: discord.Client, record: SweepRecord) -> Notice | None:
    if record.notice is None:
        return None
    channel = client.get_channel(record.notice[0])
    if not isinstance(channel, discord.TextChannel | discord.Thread | discord.VoiceChannel):
        return None
    return channel.get_partial_message(record.notice[1])
