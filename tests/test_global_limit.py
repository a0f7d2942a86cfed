"""The global rate limit shared between processes: what a notification pauses, and for how long.
(Met through the sandbox, across two processes, in tests/e2e/test_workers.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord

from bot.runtime.global_limit import MAX_PAUSE_SECONDS, SharedGlobalLimit
from bot.storage import open_storage


async def _limit(tmp_path: Path) -> tuple[SharedGlobalLimit, asyncio.Event]:
    storage = await open_storage(f"sqlite:///{tmp_path / 'c.db'}")
    await storage.close()
    limit = SharedGlobalLimit(storage)
    client = discord.Client(intents=discord.Intents.none())
    gate = asyncio.Event()
    gate.set()
    client.http._global_over = gate  # what discord.py's login sets up
    limit.attach(client)
    return limit, gate


async def test_a_notification_holds_requests_back_for_its_seconds(tmp_path: Path) -> None:
    limit, gate = await _limit(tmp_path)
    limit.heard("ratelimit:0.200")
    assert not gate.is_set()
    await asyncio.wait_for(gate.wait(), 1.0)
    assert limit.pauses == 1


async def test_a_shorter_pause_never_cuts_a_longer_one_short(tmp_path: Path) -> None:
    limit, gate = await _limit(tmp_path)
    limit.heard("ratelimit:0.5")
    limit.heard("ratelimit:0.05")
    await asyncio.sleep(0.2)
    assert not gate.is_set() and limit.pauses == 1


async def test_malformed_or_hostile_notifications_are_ignored_or_capped(tmp_path: Path) -> None:
    limit, gate = await _limit(tmp_path)
    for what in ("ratelimit:soon", "ratelimit:-5", "blocklist", "ratelimit:"):
        limit.heard(what)
    assert gate.is_set() and limit.pauses == 0
    limit.heard("ratelimit:1e9")  # a year: capped to a minute
    assert not gate.is_set()
    assert limit._until - asyncio.get_running_loop().time() <= MAX_PAUSE_SECONDS + 1
