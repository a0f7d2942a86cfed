"""End to end: two gateway processes, each running one of Discord's two shards, share one
database. Each handles only its shard's servers, background jobs run in one of them, and a
hash confirmed in a server on shard 0 blocks the same image in a server on shard 1 (sharing on)
within 2 s."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.verdict import Action
from bot.runtime.client import ShardedConsentryBot
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e.harness import on_shard, running_bot, sandbox_config, shard_of, worlds_on_two_shards
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.postgres_support import ScratchDatabases


async def test_two_gateway_processes_split_the_shards_and_share_confirmations(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, url: str
) -> None:
    worlds = worlds_on_two_shards(sandbox, world)
    # Both processes share one database: SQLite's file, or PostgreSQL (each backend in turn).
    base = sandbox_config(sandbox, tmp_path, blocklist_refresh_seconds=0.5, storage_url=url)

    async with (
        running_bot(sandbox, worlds[0], on_shard(base, 0)) as first,
        running_bot(sandbox, worlds[1], on_shard(base, 1)) as second,
    ):
        assert isinstance(first.bot, ShardedConsentryBot)
        # Each process sees only the servers of its own shard.
        assert all(shard_of(g.id) == 0 for g in first.bot.guilds)
        assert all(shard_of(g.id) == 1 for g in second.bot.guilds)
        assert worlds[0].guild_id in {g.id for g in first.bot.guilds}
        assert worlds[1].guild_id in {g.id for g in second.bot.guilds}
        # The evidence purge runs in one of the two processes: its lease is held, by one.
        now = datetime.now(UTC)
        later = now + timedelta(minutes=1)
        jobs = first.engine.storage.jobs
        assert not await jobs.claim("purge", "a third process", until=later, now=now)
        assert first.bot.holder != second.bot.holder
        for harness, w in ((first, worlds[0]), (second, worlds[1])):
            await harness.bot.guild_settings.set(w.guild_id, "alert_channel_id", w.mod_alerts_id)
            await harness.bot.guild_settings.set(w.guild_id, "share_confirmed", True)
        # A moderator on shard 0 confirms the picture: its hashes become server 0's entries.
        config = first.engine.config
        hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
        confirmed = [
            NewEntry(a, v, worlds[0].guild_id, "case") for a, v in hashes if a is Algorithm.PDQ
        ]
        await first.engine.storage.blocklist.add(confirmed)
        await first.engine.refresh_blocklist()
        started = time.monotonic()
        while second.engine.blocklist_revision != await second.engine.storage.blocklist.revision():
            assert time.monotonic() - started < 2.0, "not live in the other process within 2 s"
            await asyncio.sleep(0.05)
        _, incident = await second.post(worlds[1].art_id, worlds[1].member_ids[0], [("p", COPY)])
        assert incident is not None and incident.decision.action is Action.QUARANTINE
        assert sandbox.message(worlds[1].art_id, int(incident.post.message_id)) is None


async def test_on_postgresql_a_change_reaches_the_other_process_at_once_without_polling(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path, scratch_databases: ScratchDatabases
) -> None:
    worlds = worlds_on_two_shards(sandbox, world)
    async with scratch_databases.shared() as dsn:
        # Polling every minute: anything sooner is LISTEN/NOTIFY's doing.
        base = sandbox_config(sandbox, tmp_path, blocklist_refresh_seconds=60, storage_url=dsn)

        async with (
            running_bot(sandbox, worlds[0], on_shard(base, 0)) as first,
            running_bot(sandbox, worlds[1], on_shard(base, 1)) as second,
        ):
            guild = worlds[1].guild_id
            assert not (await second.bot.guild_settings.get(guild)).dry_run  # cached here
            await first.bot.guild_settings.set(guild, "dry_run", True)  # set by the other
            await first.engine.storage.blocklist.add([NewEntry(Algorithm.PDQ, "ab" * 32)])
            started = time.monotonic()
            while not (
                second.engine.blocklist_revision == await second.engine.storage.blocklist.revision()
                and (await second.bot.guild_settings.get(guild)).dry_run
            ):
                assert time.monotonic() - started < 2.0, "not heard within 2 s"
                await asyncio.sleep(0.05)
