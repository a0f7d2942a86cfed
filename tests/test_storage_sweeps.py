"""Storage, every backend: history sweeps under way, one per server, kept until they end."""

from __future__ import annotations

from dataclasses import replace

from bot.storage import Storage, SweepRecord
from tests.storage_support import GUILD, OTHER_GUILD


def sweep(guild_id: int = GUILD) -> SweepRecord:
    return SweepRecord(guild_id, started_by=7, channel_ids=(10, 11, 12), per_channel=100)


async def test_a_sweep_is_stored_with_its_start_in_the_audit_log(storage: Storage) -> None:
    assert await storage.sweeps.begin(sweep(), actor="user:7")
    assert await storage.sweeps.under_way() == [sweep()]
    [started] = await storage.audit.list(guild_id=GUILD)
    assert started.action == "sweep.started" and started.actor == "user:7"
    assert started.details == {"channels": [10, 11, 12], "per_channel": 100}


async def test_a_server_has_one_sweep_under_way_at_most(storage: Storage) -> None:
    assert await storage.sweeps.begin(sweep(), actor="user:7")
    assert not await storage.sweeps.begin(replace(sweep(), started_by=8), actor="user:8")
    assert await storage.sweeps.begin(sweep(OTHER_GUILD), actor="user:7")
    assert [s.started_by for s in await storage.sweeps.under_way()] == [7, 7]
    assert len(await storage.audit.list(guild_id=GUILD)) == 1  # the refused start wrote nothing


async def test_a_sweeps_place_and_progress_message_are_kept_as_it_goes(storage: Storage) -> None:
    await storage.sweeps.begin(sweep(), actor="user:7")
    moved = replace(
        sweep(), notice=(5, 6), channel_index=1, before_id=999, taken=40, scanned=140, acted=3
    )
    await storage.sweeps.save(moved)
    assert await storage.sweeps.under_way() == [moved]


async def test_an_ended_sweep_is_gone_with_its_end_in_the_audit_log(storage: Storage) -> None:
    await storage.sweeps.begin(sweep(), actor="user:7")
    await storage.sweeps.end(replace(sweep(), scanned=300, acted=2), "Sweep done.")
    assert await storage.sweeps.under_way() == []
    records = await storage.audit.list(guild_id=GUILD)
    assert [r.action for r in records] == ["sweep.started", "sweep.finished"]
    assert records[-1].details == {"state": "Sweep done.", "scanned": 300, "cases": 2}
    assert (await storage.audit.verify()).ok
    assert await storage.sweeps.begin(sweep(), actor="user:7")  # a new one may start
