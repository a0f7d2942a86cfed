"""The processes sharing one database: heartbeats, and the ``[workers]`` section.

Every process (a gateway running some shards, or a scan worker) records a heartbeat every
``heartbeat_seconds``. A gateway that sees a live worker hands new scans to the workers through
the work record instead of scanning them itself; with none alive it scans as a single process
does. ``consentry status`` and ``/consentry status`` list the live processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata

from bot.storage import Storage, StorageError
from bot.storage.base_jobs import JobLeases, ProcessBeat

log = logging.getLogger(__name__)

MISSED_BEATS = 3
"""A process counts as gone once this many heartbeats in a row are missing."""


@dataclass(frozen=True, slots=True)
class WorkersConfig:
    """The ``[workers]`` section: scan workers (``consentry worker``) and heartbeats."""

    lease_seconds: float = 30.0
    """How long a worker holds a message it took to scan, renewed every third of it while the
    scan runs. A worker that dies mid-scan loses it after this, and another worker (or a
    gateway, when none is left) takes the message over."""
    heartbeat_seconds: float = 5.0
    """How often every process records that it is alive. A process is counted gone after three
    missed beats: a gateway then stops handing scans to a dead worker within 15 s."""

    def __post_init__(self) -> None:
        if self.heartbeat_seconds <= 0:
            raise ValueError("heartbeat_seconds must be > 0")
        if self.lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("lease_seconds must be at least twice heartbeat_seconds")


def version() -> str:
    """This installation's version, as its package metadata says."""
    try:
        return metadata.version("consentry")
    except metadata.PackageNotFoundError:
        return "unknown"


def process_name() -> str:
    """A name for this process that no other shares (host:pid:random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_here(holder: str) -> bool:
    """Whether ``holder`` names a process of this machine that no longer runs (killed before it
    could say it was gone). A process elsewhere cannot be told dead: its heartbeat runs out.
    Machines are told apart by host name, so each needs its own."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


class Heartbeat:
    """Records this process's heartbeat, and keeps count of the live scan workers."""

    def __init__(
        self, jobs: JobLeases, holder: str, role: str, detail: str, config: WorkersConfig
    ) -> None:
        self._jobs = jobs
        self._every = config.heartbeat_seconds
        self._started = datetime.now(UTC)
        self._holder, self._role, self._detail = holder, role, detail
        self._task: asyncio.Task[None] | None = None
        self.workers = 0
        """Live scan workers at the last beat (this process included, if it is one)."""
        self.peers = 0
        """Other live processes on the database at the last beat."""

    async def beat(self) -> None:
        """Record one heartbeat now, and count the live workers and other processes."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=self._every * MISSED_BEATS)
        await self._jobs.beat(
            ProcessBeat(
                self._holder, self._role, self._detail, version(), self._started, now, until
            )
        )
        alive = [p for p in await self._jobs.processes(now) if not dead_here(p.holder)]
        self.workers = sum(1 for p in alive if p.role == "worker")
        self.peers = sum(1 for p in alive if p.holder != self._holder)

    def start(self) -> None:
        """Beat every ``heartbeat_seconds`` in the background, from now until :meth:`stop`."""
        self._task = asyncio.create_task(self._run(), name="consentry-heartbeat")

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except StorageError as exc:  # missed beats make others count this process gone
                log.warning("heartbeat not recorded (%s); trying again", exc)
            await asyncio.sleep(self._every)

    async def others(self) -> list[ProcessBeat]:
        """The other live processes on the database. A process of this machine that died
        without saying so (kill -9) is forgotten here and now, not counted."""
        others = []
        for process in await self._jobs.processes(datetime.now(UTC)):
            if process.holder == self._holder:
                continue
            if dead_here(process.holder):
                await self._jobs.leave(process.holder)
                continue
            others.append(process)
        return others

    async def stop(self) -> None:
        """Stop beating and say this process is gone, so others stop counting on it at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(StorageError):
            await self._jobs.leave(self._holder)


class WorkSignal:
    """Tells the scan workers that scans are due: one notification at a time, and one more
    after it when more work was recorded meanwhile (workers also look every 2 s regardless)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def due(self) -> None:
        """Work was just recorded (committed): wake the workers."""
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send(), name="consentry-work-signal")

    async def _send(self) -> None:
        while self._again:
            self._again = False
            try:
                await self._storage.notify("work")
            except StorageError as exc:  # the workers' own polling finds the work
                log.warning("could not wake the scan workers (%s)", exc)
                return


def describe(processes: list[ProcessBeat], now: datetime) -> list[str]:
    """The live processes, a line each, for ``consentry status`` and ``/consentry status``."""
    gateways = sum(1 for p in processes if p.role == "gateway")
    workers = sum(1 for p in processes if p.role == "worker")
    lines = [f"Processes: {gateways} gateway, {workers} scan worker(s) beating"]
    for process in processes:
        runs = f", shards {process.detail}" if process.detail else ""
        up = _span(now - process.started_at)
        beat = (now - process.beat_at).total_seconds()
        lines.append(
            f"  {process.role} {process.holder}{runs}: version {process.version}, up {up}, "
            f"last heartbeat {max(beat, 0):.1f} s ago"
        )
    return lines


def _span(delta: timedelta) -> str:
    seconds = int(max(delta.total_seconds(), 0))
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
