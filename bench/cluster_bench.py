"""The cluster on PostgreSQL: how fast a change reaches another process, and how scanning
scales with scan workers.

- Notification delay: one process adds a blocklist entry (or changes a setting); the time until
  another process, listening, hears of it (LISTEN/NOTIFY), 50 times each.
- Throughput: one gateway process and 0, 1 or 2 ``consentry worker`` processes; a burst of
  distinct clean photos posted at once through the sandbox, scanned with the stand-in model and
  the hash lists; measured from the first post until every work record is finished.
- The load test (``bench/load.py``) with two gateways and two workers.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import (
    LOCAL_DSN,
    REPO,
    config_file,
    fresh_database,
    media,
    run_load,
    start_process,
    stats,
    stop_processes,
    until_beating,
)
from bot.core.blocklist import Algorithm, NewEntry
from bot.demo_images import landscape
from bot.sandbox import Sandbox, demo_world
from bot.storage import Storage, WorkState, open_storage


async def notification_delay(dsn: str, samples: int = 50) -> dict[str, Any]:
    """Milliseconds from a committed change in one process to another process hearing it."""
    url = await fresh_database(dsn, "consentry_bench_notify")
    async with await open_storage(url) as mine, await open_storage(url) as theirs:
        heard: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        await theirs.listen(lambda what: heard.put_nowait((what, time.perf_counter())))
        blocklist, settings = [], []
        for index in range(samples):
            started = time.perf_counter()
            await mine.blocklist.add([NewEntry(Algorithm.PDQ, f"{index:064x}", None, "bench")])
            blocklist.append((await _heard(heard, "blocklist") - started) * 1000)
            started = time.perf_counter()
            await mine.settings.set_override(1, "dry_run", index % 2 == 0)
            settings.append((await _heard(heard, "settings:1") - started) * 1000)
    return {"blocklist_ms": stats(blocklist), "settings_ms": stats(settings)}


async def _heard(queue: asyncio.Queue[tuple[str, float]], what: str) -> float:
    while True:
        said, at = await asyncio.wait_for(queue.get(), 5.0)
        if said == what:
            return at


async def throughput(dsn: str, workers: int, burst: int) -> dict[str, Any]:
    """Messages cleared per second by one gateway and ``workers`` scan workers."""
    url = await fresh_database(dsn, f"consentry_bench_workers_{workers}")
    files = await asyncio.to_thread(media, ["clean"] * burst, landscape(1, (64, 64)))
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as name:
        folder = Path(name)
        async with Sandbox() as sandbox:
            world = demo_world(sandbox)
            config = config_file(sandbox, folder, url)
            env = {**os.environ, "DISCORD_TOKEN": sandbox.token, "PYTHONPATH": str(REPO)}
            processes = {"gateway": await start_process("run", config, env, folder / "g.log")}
            for number in range(workers):
                processes[f"worker-{number}"] = await start_process(
                    "worker", config, env, folder / f"w{number}.log"
                )
            try:
                await sandbox.wait_until_connected(timeout=120)
                async with await open_storage(url) as storage:
                    await until_beating(storage, workers)
                    await asyncio.sleep(3.0)  # the gateway has seen the workers beat
                    started = time.monotonic()
                    for index, (filename, data) in enumerate(files):
                        author = world.member_ids[index % len(world.member_ids)]
                        await sandbox.post_message(
                            world.general_id, author, attachments=[(filename, data)]
                        )
                    await _finished(storage, burst)
                    seconds = time.monotonic() - started
            finally:
                await stop_processes(processes)
    return {
        "scan_workers": workers,
        "messages": burst,
        "seconds": round(seconds, 2),
        "messages_per_second": round(burst / seconds, 1),
    }


async def _finished(storage: Storage, count: int, timeout: float = 600.0) -> None:
    """Wait until ``count`` work records are finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = await storage.work.counts()
        if counts[WorkState.DONE] + counts[WorkState.GONE] >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{count} messages not finished within {timeout} s")


async def _measure(dsn: str, burst: int, load_seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {"notification": await notification_delay(dsn)}
    runs = [await throughput(dsn, workers, burst) for workers in (0, 1, 2)]
    results["throughput"] = runs
    base = runs[0]["messages_per_second"] or 1.0
    results["throughput_ratio_to_gateway_alone"] = {
        str(r["scan_workers"]): round(r["messages_per_second"] / base, 2) for r in runs
    }
    with tempfile.TemporaryDirectory(prefix="consentry-load-") as folder:
        load = await run_load(dsn, Path(folder), seconds=load_seconds)
    results["load"] = load
    return results


def run(burst: int = 300, load_seconds: float = 600.0) -> dict[str, Any]:
    """The cluster figures, on ``$CONSENTRY_LOAD_POSTGRES`` or the local PostgreSQL server."""
    dsn = os.environ.get("CONSENTRY_LOAD_POSTGRES", LOCAL_DSN)
    return asyncio.run(_measure(dsn, burst, load_seconds))
