"""The load test: two gateway processes and two scan workers on PostgreSQL, through the sandbox.

Every process is a real ``consentry run`` or ``consentry worker``, as deployed. The sandbox, in
this process, hosts ``servers`` servers split over Discord's two shards, and members post
``per_minute`` image messages a minute, round the servers, for ``seconds``. The media mix:

- clean photos (70 %), every one a distinct file;
- altered copies of a blocklisted picture (10 %), distinct bytes each;
- explicit by the stand-in model (10 %): a photo beside a red panel three times its width, which
  the tiny ONNX "redness" model scores over 0.99 (no explicit imagery exists anywhere here);
- corrupt files named .jpg (10 %).

Measured: the time from each post to the bot's DELETE arriving at the sandbox (known and
explicit), the time from each post to its work record being finished (every message), the
resident memory of each process every 5 s, and afterwards that nothing is lost: every message's
record finished, every known or explicit message deleted, no clean one deleted. Drops beyond the
scan queue's bound are counted from the processes' logs (they wait in the work record and are
scanned later).

``make load`` runs the full 10 minutes and writes ``bench/load-results.json``; CI runs one
minute of it (tests/e2e/test_load.py), asserting only that nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import numpy as np
from PIL import Image

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.limits import MediaLimits
from bot.demo_images import encode, landscape
from bot.sandbox import Sandbox, demo_world
from bot.standin_model import write_manifest
from bot.storage import WorkState, open_storage

REPO = Path(__file__).resolve().parent.parent
SIZE = (512, 384)
MIX = (("clean", 70), ("known", 10), ("explicit", 10), ("corrupt", 10))
SAMPLE_SECONDS = 5.0
DRAIN_SECONDS = 120.0
"""After the last post, how long the processes get to finish every record."""
LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class Posted:
    guild_id: int
    channel_id: int
    message_id: int
    kind: str
    at: float
    """time.time() just before the post."""


def _kinds(count: int) -> list[str]:
    """``count`` kinds in the mix's proportions, interleaved (every 10 messages hold each)."""
    cycle = [kind for kind, share in MIX for _ in range(share // 10)]
    return [cycle[i % len(cycle)] for i in range(count)]


def _noisy(image: Image.Image, seed: int) -> bytes:
    pixels = np.asarray(image, dtype=np.int16)
    rng = np.random.default_rng(seed)
    noisy = np.clip(pixels + rng.integers(-3, 4, pixels.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def media(kinds: list[str], known: Image.Image) -> list[tuple[str, bytes]]:
    """One distinct file per message, for each kind."""
    out: list[tuple[str, bytes]] = []
    rng = np.random.default_rng(11)
    for index, kind in enumerate(kinds):
        if kind == "clean":
            out.append(("photo.jpg", encode(landscape(10_000 + index, SIZE))))
        elif kind == "known":
            out.append(("copy.jpg", _noisy(known, index)))
        elif kind == "explicit":
            # Three times the photo's width in red: the stand-in scores it over 0.99 whatever
            # the photo's colours, so each one is quarantined (removed).
            panel = Image.new("RGB", (SIZE[0] * 4, SIZE[1]), (255, 0, 0))
            panel.paste(landscape(50_000 + index, SIZE), (0, 0))
            out.append(("panel.jpg", encode(panel)))
        else:
            size = int(rng.integers(2_000, 20_000))
            out.append(("broken.jpg", rng.integers(0, 256, size, dtype=np.uint8).tobytes()))
    return out


def config_file(
    sandbox: Sandbox, folder: Path, dsn: str, *, cache_entries: int | None = None
) -> Path:
    """The config every process of the test shares: ``dsn``, the stand-in model, no likeness,
    heartbeats every second (and ``[scanner] cache_entries``, if given)."""
    manifest = write_manifest(folder, role="explicit")
    path = folder / "config.toml"
    scanner = "" if cache_entries is None else f"[scanner]\ncache_entries = {cache_entries}\n"
    path.write_text(
        scanner + f'[[detectors]]\nmanifest = "{manifest}"\n'
        f'[storage]\nurl = "{dsn}"\n'
        "[likeness]\nenabled = false\n"
        "[workers]\nlease_seconds = 20.0\nheartbeat_seconds = 1.0\n"
        + sandbox.discord_section(blocklist_refresh_seconds=5.0)
    )
    return path


async def fresh_database(dsn: str, name: str) -> str:
    """A new, empty database ``name`` on the server ``dsn`` names; its DSN."""
    admin = await asyncpg.connect(dsn, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stats(values: list[float]) -> dict[str, float | int]:
    """p50, p95, max and count of ``values``."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


async def start_process(
    role: str, config: Path, env: dict[str, str], log: Path, *extra: str
) -> Any:
    """``consentry ROLE --config CONFIG EXTRA...`` as a process, its stderr in ``log``."""
    with log.open("wb") as sink:  # the process writes to its own copy of the file
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            role,
            "--config",
            str(config),
            *extra,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )


async def run_load(
    dsn: str,
    folder: Path,
    *,
    seconds: float,
    per_minute: int = 1000,
    servers: int = 10,
    workers: int = 2,
    cache_entries: int | None = None,
) -> dict[str, Any]:
    """Run the load against a fresh database on the PostgreSQL server ``dsn`` names; the
    figures, and what was lost (nothing, when all is well). ``cache_entries`` shrinks the
    findings cache, so that a run shorter than its filling shows memory flat once it is full."""
    url = await fresh_database(dsn, "consentry_load")
    count = int(seconds * per_minute / 60)
    known = landscape(99_999, SIZE)
    kinds = _kinds(count)
    files = await asyncio.to_thread(media, kinds, known)
    async with Sandbox() as sandbox:
        worlds = [demo_world(sandbox) for _ in range(servers)]
        async with await open_storage(url) as storage:
            for world in worlds:
                await storage.settings.set_override(
                    world.guild_id, "alert_channel_id", world.mod_alerts_id
                )
            hashes = fingerprint(encode(known), MediaLimits(), 50).hashes
            await storage.blocklist.add(
                [NewEntry(a, v, None, "load", "known") for a, v in hashes if a is Algorithm.PDQ]
            )
        config = config_file(sandbox, folder, url, cache_entries=cache_entries)
        env = {**os.environ, "DISCORD_TOKEN": sandbox.token, "PYTHONPATH": str(REPO)}
        processes: dict[str, Any] = {}
        for shard in (0, 1):
            processes[f"gateway-{shard}"] = await start_process(
                "run",
                config,
                env,
                folder / f"gateway-{shard}.log",
                "--shard-count",
                "2",
                "--shard-ids",
                str(shard),
            )
        for number in range(workers):
            processes[f"worker-{number}"] = await start_process(
                "worker", config, env, folder / f"worker-{number}.log"
            )
        samples: dict[str, list[float]] = {name: [] for name in processes}
        try:
            await sandbox.wait_until_shards_connected(2, timeout=120)
            async with await open_storage(url) as storage:
                await until_beating(storage, workers)
                await asyncio.sleep(3.0)  # both gateways have seen the workers beat
                started = time.monotonic()
                sampler = asyncio.create_task(_sample(processes, samples))
                posted = await _post(sandbox, worlds, kinds, files, seconds)
                posting_s = time.monotonic() - started
                drained = await drain(storage)
                sampler.cancel()
                outcome = await _outcome(sandbox, storage, posted)
        finally:
            codes = await stop_processes(processes)
    drops = sum(
        (folder / f"{name}.log").read_text(errors="replace").count("scan queue full")
        for name in processes
    )
    return {
        "setup": {
            "servers": servers,
            "gateway_processes": 2,
            "scan_workers": workers,
            "storage": "PostgreSQL",
            "mix_percent": dict(MIX),
            "image": f"JPEG {SIZE[0]}x{SIZE[1]}, distinct bytes each",
            "models": "stand-in redness model (ONNX), hash lists",
            "findings_cache_entries": cache_entries or "default (10,000)",
        },
        "messages_posted": len(posted),
        "posting_seconds": round(posting_s, 1),
        "messages_per_minute": round(len(posted) / posting_s * 60, 1),
        "drained_seconds_after_last_post": round(drained, 1),
        "message_to_delete_ms": stats(outcome.pop("delete_ms")),
        "message_to_finished_ms": stats(outcome.pop("finished_ms")),
        **outcome,
        "scan_queue_drops": drops,
        "rss_mb": {
            name: {
                "first": values[0] if values else None,
                "last": values[-1] if values else None,
                "max": max(values) if values else None,
                "samples": values,
            }
            for name, values in samples.items()
        },
        "exit_codes": codes,
    }


async def until_beating(storage: Any, workers: int) -> None:
    """Wait (up to 2 minutes) until ``workers`` scan workers beat."""
    for _ in range(600):
        if len(await storage.jobs.processes(datetime.now(UTC), role="worker")) >= workers:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{workers} scan workers never beat")


async def _sample(processes: dict[str, Any], samples: dict[str, list[float]]) -> None:
    while True:
        for name, process in processes.items():
            rss = _rss_mb(process.pid)
            if rss is not None:
                samples[name].append(round(rss, 1))
        await asyncio.sleep(SAMPLE_SECONDS)


async def _post(
    sandbox: Sandbox,
    worlds: list[Any],
    kinds: list[str],
    files: list[tuple[str, bytes]],
    seconds: float,
) -> list[Posted]:
    posted: list[Posted] = []
    interval = seconds / max(len(kinds), 1)
    begin = time.monotonic()
    for index, (kind, (name, data)) in enumerate(zip(kinds, files, strict=True)):
        # Paced against the clock, so a slow post does not slow the rate.
        await asyncio.sleep(max(0.0, begin + index * interval - time.monotonic()))
        world = worlds[index % len(worlds)]
        author = world.member_ids[index % len(world.member_ids)]
        at = time.time()
        message = await sandbox.post_message(
            world.general_id, author, attachments=[(name, data, "image/jpeg")]
        )
        posted.append(Posted(world.guild_id, world.general_id, int(message["id"]), kind, at))
    return posted


async def drain(storage: Any) -> float:
    """Wait until no record waits for a scan or an effect; how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_SECONDS:
        counts = await storage.work.counts()
        if counts[WorkState.SCAN] == 0 and counts[WorkState.ACT] == 0:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def _outcome(sandbox: Sandbox, storage: Any, posted: list[Posted]) -> dict[str, Any]:
    deletes = {
        int(r.params["message_id"]): r.time
        for r in sandbox.requests
        if r.method == "DELETE" and r.route == "/channels/{channel_id}/messages/{message_id}"
    }
    delete_ms: list[float] = []
    finished_ms: list[float] = []
    unfinished: list[int] = []
    missed: list[int] = []
    missed_kinds: dict[str, int] = {}
    wrongly_deleted: list[int] = []
    states: dict[str, int] = {}
    for post in posted:
        item = await storage.work.get(post.guild_id, post.message_id)
        if item is None or not item.state.finished:
            unfinished.append(post.message_id)
        else:
            states[item.state.value] = states.get(item.state.value, 0) + 1
            finished_ms.append((item.updated_at.timestamp() - post.at) * 1000)
        if post.kind in ("known", "explicit"):
            if post.message_id in deletes:
                delete_ms.append((deletes[post.message_id] - post.at) * 1000)
            else:
                missed.append(post.message_id)
                missed_kinds[post.kind] = missed_kinds.get(post.kind, 0) + 1
        elif post.message_id in deletes and post.kind == "clean":
            wrongly_deleted.append(post.message_id)
    return {
        "delete_ms": delete_ms,
        "finished_ms": finished_ms,
        "records_by_state": states,
        "lost": {
            "unfinished_records": len(unfinished),
            "known_or_explicit_not_deleted": len(missed),
            "clean_deleted": len(wrongly_deleted),
        },
        "not_deleted_by_kind": missed_kinds,
    }


async def stop_processes(processes: dict[str, Any]) -> dict[str, int | None]:
    """SIGTERM every process; their exit codes (killed after 60 s)."""
    for process in processes.values():
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    codes: dict[str, int | None] = {}
    for name, process in processes.items():
        try:
            codes[name] = await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            codes[name] = await process.wait()
    return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--per-minute", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--cache-entries", type=int, help="[scanner] cache_entries for every process"
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("CONSENTRY_LOAD_POSTGRES", LOCAL_DSN),
        help="a PostgreSQL server to make the scratch database consentry_load on",
    )
    parser.add_argument("--output", default=str(REPO / "bench" / "load-results.json"))
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="consentry-load-") as folder:
        results = asyncio.run(
            run_load(
                args.dsn,
                Path(folder),
                seconds=args.minutes * 60,
                per_minute=args.per_minute,
                workers=args.workers,
                cache_entries=args.cache_entries,
            )
        )
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "rss_mb"}, indent=2))
    lost = results["lost"]
    return 0 if not any(lost.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
