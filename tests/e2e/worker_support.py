"""Running scan workers (``consentry worker``) against the sandbox: in this process, or as a
real process that a test can kill."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import discord

from bot.cluster import WorkersConfig
from bot.config import Config
from bot.engine import open_engine
from bot.runtime.alerts import Incident
from bot.runtime.worker import ScanWorker
from bot.sandbox import Sandbox
from bot.storage import Storage
from tests.e2e.process_support import start_command

QUICK = WorkersConfig(lease_seconds=2.0, heartbeat_seconds=0.5)
"""Leases and heartbeats short enough for a test to watch a worker die and be replaced."""


def with_workers(config: Config) -> Config:
    """``config`` with :data:`QUICK` leases and heartbeats."""
    return replace(config, workers=QUICK)


@dataclass
class RunningWorker:
    """A scan worker in this process, and the messages it has handled."""

    worker: ScanWorker
    handled: dict[int, Incident | None] = field(default_factory=dict)

    def _record(
        self, message: discord.Message, result: Incident | None, error: BaseException | None
    ) -> None:
        self.handled[message.id] = result


@asynccontextmanager
async def running_worker(
    sandbox: Sandbox, config: Config, *, metrics_port: int | None = None
) -> AsyncIterator[RunningWorker]:
    """A scan worker with its own engine, logged in to ``sandbox`` over REST only (the test
    has pointed discord.py at the sandbox, as ``running_bot`` does)."""
    async with open_engine(config) as engine:
        worker = ScanWorker(engine, metrics_port=metrics_port)
        await worker.start(sandbox.token)
        running = RunningWorker(worker)
        assert worker.watcher is not None
        worker.watcher.observers.append(running._record)
        try:
            yield running
        finally:
            await worker.close()


async def live_workers(storage: Storage, count: int, timeout: float = 10.0) -> None:
    """Wait until ``count`` scan workers beat."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(await storage.jobs.processes(datetime.now(UTC), role="worker")) != count:
        assert loop.time() < deadline, f"not {count} live workers within {timeout} s"
        await asyncio.sleep(0.1)


def worker_config_file(sandbox: Sandbox, path: Path, storage_url: str) -> Path:
    """A config file for a worker process: ``storage_url``, no models, quick leases, and one
    scan at a time (so that of two workers each takes one of two messages)."""
    path.write_text(
        "detectors = []\n"
        f'[storage]\nurl = "{storage_url}"\n'
        "[likeness]\nenabled = false\n"
        f"[workers]\nlease_seconds = {QUICK.lease_seconds}\n"
        f"heartbeat_seconds = {QUICK.heartbeat_seconds}\n"
        + sandbox.discord_section(blocklist_refresh_seconds=0.5, queue_workers=1)
    )
    return path


async def start_worker_process(
    config: Path, env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    """`consentry worker --config CONFIG`, its stderr written to ``log``."""
    with log.open("wb") as sink:  # the process writes to its own copy of the file
        return await start_command("worker", config, env, stderr=sink)
