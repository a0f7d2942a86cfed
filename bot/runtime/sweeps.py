"""History sweeps as background jobs: one per server, audited, reporting progress by editing
their own message.

A sweep outlives the interaction that started it (Discord's interaction token lasts 15 minutes;
a sweep of 5,000 messages may take longer), so its progress is a message of its own, in the
alert channel (or the channel it was started from), edited as it goes and left in a final
state: done, stopped at the limit, or failed with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import discord

from bot.runtime.actions import Actioner
from bot.runtime.watcher import Watcher
from bot.storage import Storage

log = logging.getLogger(__name__)

MAX_PER_CHANNEL = 1000
MAX_TOTAL = 5000
PROGRESS_SECONDS = 2.0
"""How often the progress message is edited, at most."""


class SweepRefused(Exception):
    """A sweep cannot start; the message says why (one is already running here)."""


@dataclass
class SweepJob:
    """One server's running sweep."""

    guild_id: int
    started_by: int
    channels: list[discord.TextChannel | discord.Thread]
    per_channel: int
    scanned: int = 0
    acted: int = 0
    progress: discord.Message | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def text(self, state: str) -> str:
        return (
            f"{state} Sweep started by <@{self.started_by}>: {self.scanned} messages scanned in "
            f"{len(self.channels)} channel(s), {self.acted} cases opened."
        )


class Sweeper:
    """Starts sweeps, at most one per server, and runs each as a background task."""

    def __init__(self, watcher: Watcher, actioner: Actioner, storage: Storage) -> None:
        self.watcher = watcher
        self.actioner = actioner
        self.storage = storage
        self._jobs: dict[int, SweepJob] = {}

    def running(self, guild_id: int) -> SweepJob | None:
        """The server's sweep under way, if any."""
        job = self._jobs.get(guild_id)
        # A job without a task yet is starting (its notice is being posted): it counts.
        return job if job is not None and (job.task is None or not job.task.done()) else None

    async def start(
        self,
        member: discord.Member,
        channels: list[discord.TextChannel | discord.Thread],
        per_channel: int,
        report_to: discord.abc.Messageable,
    ) -> SweepJob:
        """Start a sweep of ``channels`` (``per_channel`` newest messages each), posting its
        progress in ``report_to``; SweepRefused if one is running in this server already."""
        guild = member.guild
        current = self.running(guild.id)
        if current is not None:
            raise SweepRefused(
                f"A sweep is already running here (started by <@{current.started_by}>, "
                f"{current.scanned} messages scanned so far): wait for it to finish."
            )
        job = SweepJob(guild.id, member.id, channels, min(per_channel, MAX_PER_CHANNEL))
        self._jobs[guild.id] = job  # taken before the first await: two starts cannot race
        try:
            await self._begin(job, member, report_to)
        except BaseException:
            del self._jobs[guild.id]
            raise
        return job

    async def _begin(
        self, job: SweepJob, member: discord.Member, report_to: discord.abc.Messageable
    ) -> None:
        guild = member.guild
        await self.storage.audit.append(
            guild_id=guild.id,
            actor=f"user:{member.id}",
            action="sweep.started",
            subject=f"guild {guild.id}",
            details={"channels": [c.id for c in job.channels], "per_channel": job.per_channel},
        )
        job.progress = await self.actioner.post_notice(report_to, job.text("Sweeping…"))
        job.task = asyncio.create_task(self._run(job), name=f"consentry-sweep-{guild.id}")

    async def stop_all(self) -> None:
        """Cancel running sweeps (the bot is stopping); each says so in its message."""
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
            state = "Sweep stopped: the bot is shutting down."
            raise
        except Exception as exc:
            log.exception("sweep in guild %s failed", job.guild_id)
            state = f"Sweep failed: {exc}."
        finally:
            await self._finish(job, state)

    async def _sweep(self, job: SweepJob) -> None:
        last = time.monotonic()
        for channel in job.channels:
            try:
                async for message in channel.history(limit=job.per_channel):
                    if job.scanned >= MAX_TOTAL:
                        return
                    job.scanned += 1
                    incident = await self.watcher.handle(message, force=True)
                    if incident is not None and incident.case_id is not None:
                        job.acted += 1
                    if time.monotonic() - last >= PROGRESS_SECONDS:
                        last = time.monotonic()
                        await self.actioner.edit_notice(job.progress, job.text("Sweeping…"))
            except discord.HTTPException as exc:
                log.warning("sweep: cannot read channel %s: %s", channel.id, exc)

    async def _finish(self, job: SweepJob, state: str) -> None:
        await self.storage.audit.append(
            guild_id=job.guild_id,
            actor="consentry",
            action="sweep.finished",
            subject=f"guild {job.guild_id}",
            details={"state": state, "scanned": job.scanned, "cases": job.acted},
        )
        await self.actioner.edit_notice(job.progress, job.text(state))
