"""Benchmark through the sandbox: message-to-delete latency and sustained clearance rate.

The bot runs as its own process (``consentry run``), exactly as deployed, against the sandbox in
this process, with ``extra_entries`` random PDQ hashes in the index besides the known pictures.
Every posted image is a distinct file (its own SHA-256: nothing comes from the findings cache).

- Latency: each post is a different known picture, so each opens its own case (written before
  the delete), posts an alert with a blurred preview, and is deleted; measured from the post
  (MESSAGE_CREATE dispatched) to the bot's DELETE arriving at the sandbox.
- Clearance rate: a raid of altered copies (distinct bytes) of one known picture, posted at once;
  every copy is deleted and counted on one case and alert. Measured from the first post to the
  last DELETE.

Only hash checks run: no models are configured.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.pipeline import make_jpeg
from bot.core.blocklist import Algorithm, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.limits import MediaLimits
from bot.demo_images import encode, landscape
from bot.sandbox import Sandbox, demo_world
from bot.storage import open_storage

REPO = Path(__file__).resolve().parent.parent
SIZE = (1024, 768)


async def _seed_database(
    url: str, guild_id: int, alerts: int, known: list[bytes], extra_entries: int
) -> None:
    async with await open_storage(url) as storage:
        await storage.settings.set_override(guild_id, "alert_channel_id", alerts)
        entries = [
            NewEntry(a, v, None, "bench", "known")
            for data in known
            for a, v in fingerprint(data, MediaLimits(), 50).hashes
            if a is Algorithm.PDQ
        ]
        rng = np.random.default_rng(7)
        codes = rng.integers(0, 256, (extra_entries, 32), dtype=np.uint8)
        entries += [NewEntry(Algorithm.PDQ, bytes(c).hex(), None, "bench") for c in codes]
        for start in range(0, len(entries), 20_000):
            await storage.blocklist.add(entries[start : start + 20_000])


def _config(sandbox: Sandbox, folder: Path) -> Path:
    path = folder / "config.toml"
    # Hash checks only, as the targets were set: the shipped models are on by default.
    models = "detectors = []\n[likeness]\nenabled = false\n"
    path.write_text(models + '[storage]\nurl = "bench.db"\n' + sandbox.discord_section())
    return path


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
        "max": round(ordered[-1], 2),
        "n": len(ordered),
    }


async def _measure(latency_samples: int, burst: int, extra_entries: int) -> dict[str, Any]:
    # Distinct known pictures for the latency runs (plus one to warm up); the raid's copies all
    # come from the mosaic of make_jpeg, whose noise seed changes the bytes, not the picture.
    known = [encode(landscape(1000 + i, SIZE)) for i in range(latency_samples + 1)]
    raid = [make_jpeg(SIZE, seed=1 + i) for i in range(burst)]
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as folder:
        async with Sandbox(rate_limit=(10_000, 1.0)) as sandbox:
            world = demo_world(sandbox)
            config = _config(sandbox, Path(folder))
            await _seed_database(
                f"sqlite:///{Path(folder) / 'bench.db'}",
                world.guild_id,
                world.mod_alerts_id,
                [*known, raid[0]],
                extra_entries,
            )
            env = {**os.environ, "DISCORD_TOKEN": sandbox.token, "PYTHONPATH": str(REPO)}
            bot = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(config),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                await sandbox.wait_until_connected(timeout=60)
                latencies = []
                # The first message warms up the bot (imports, first decode): not counted.
                for data in known:
                    since = len(sandbox.requests)
                    started = time.perf_counter()
                    message = await sandbox.post_message(
                        world.general_id, world.member_ids[0], attachments=[("p.jpg", data)]
                    )
                    route = f"/channels/{world.general_id}/messages/{message['id']}"
                    await sandbox.wait_for_request("DELETE", route, timeout=30, since=since)
                    latencies.append((time.perf_counter() - started) * 1000)
                latencies = latencies[1:]
                since = len(sandbox.requests)
                started = time.perf_counter()
                for data in raid:
                    await sandbox.post_message(
                        world.general_id, world.member_ids[1], attachments=[("b.jpg", data)]
                    )
                posted = time.perf_counter() - started
                cursor = since
                for _ in range(burst):
                    found = await sandbox.wait_for_request(
                        "DELETE",
                        "/channels/{channel_id}/messages/{message_id}",
                        timeout=60,
                        since=cursor,
                    )
                    cursor = sandbox.requests.index(found, cursor) + 1
                cleared = time.perf_counter() - started
            finally:
                bot.terminate()
                await asyncio.wait_for(bot.wait(), 60)
    return {
        "image": f"JPEG {SIZE[0]}x{SIZE[1]}, distinct bytes each, PDQ match",
        "blocklist_entries": extra_entries + len(known) + 1,
        "message_to_delete_ms": _stats(latencies),
        "burst_messages": burst,
        "burst_post_seconds": round(posted, 2),
        "burst_clear_seconds": round(cleared, 2),
        "messages_per_second": round(burst / cleared, 1),
    }


def run(
    latency_samples: int = 60, burst: int = 300, extra_entries: int = 100_000
) -> dict[str, Any]:
    """Run the sandbox benchmark and return its figures."""
    return asyncio.run(_measure(latency_samples, burst, extra_entries))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
