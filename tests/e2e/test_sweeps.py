"""End to end: history sweeps run in the background, one per server, and outlive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import pytest

from bot.runtime import retro, sweeps
from bot.runtime.sweeps import PAUSED
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_blocklist_commands import slash
from tests.e2e.test_faults import eventually
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY

EDIT = "/channels/{channel_id}/messages/{message_id}"


async def test_a_sweep_finds_media_posted_before_its_hash_was_blocklisted(
    consentry: Harness,
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    old, _ = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    await consentry.post(world.art_id, world.member_ids[1], [("c.png", COFFEE)])
    await consentry.blocklist(ASTRONAUT)
    since = len(sandbox.requests)
    await sandbox.invoke_slash_command(
        world.guild_id, world.art_id, world.moderator_id, "sweep", {"channel": world.art_id}
    )
    started = await sandbox.wait_for_request(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback", since=since
    )
    assert "Sweep started" in str(started.json) and "shown in" in str(started.json)
    # The job runs on its own and edits its own message in #mod-alerts to a final state.
    done = await sandbox.wait_for_request(
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        since=since,
        timeout=15,
        predicate=lambda r: "Sweep done" in str(r.json),
    )
    assert done.path.startswith(f"/channels/{world.mod_alerts_id}/")
    assert "2 messages scanned in 1 channel(s), 1 cases opened" in done.json["content"]
    assert sandbox.message(world.art_id, int(old["id"])) is None
    records = await consentry.engine.storage.audit.list(guild_id=world.guild_id)
    [began] = [r for r in records if r.action == "sweep.started"]
    [ended] = [r for r in records if r.action == "sweep.finished"]
    assert began.actor == f"user:{world.moderator_id}" and began.details["channels"] == [
        world.art_id
    ]
    assert ended.details == {"state": "Sweep done.", "scanned": 2, "cases": 1}


async def test_only_one_sweep_runs_per_server(consentry: Harness) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    # Discord rate-limits the first history read for a second: the first sweep is still running
    # when the second is asked for.
    sandbox.fail_next("GET", "/channels/{channel_id}/messages", 429, retry_after=1.0)
    for _ in range(2):
        await sandbox.invoke_slash_command(
            world.guild_id, world.art_id, world.moderator_id, "sweep", {"channel": world.art_id}
        )
    route = "/interactions/{interaction_id}/{interaction_token}/callback"
    answers: list[str] = []
    for _ in range(100):
        answers = [str(r.json) for r in sandbox.find_requests("POST", route)[-2:]]
        if len(answers) == 2 and all("Sweep" in a for a in answers):
            break
        await asyncio.sleep(0.05)
    assert any("Sweep started" in a for a in answers), answers
    assert any("A sweep is already running here" in a for a in answers), answers


async def test_a_sweep_stopped_by_a_shutdown_carries_on_from_its_place_at_the_next_start(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config) as first:
        await first.configure(alert_channel_id=world.mod_alerts_id)
        art, _ = await first.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
        general, _ = await first.post(world.general_id, world.member_ids[1], [("p.jpg", COPY)])
        await first.blocklist(ASTRONAUT)
        # #art is swept; the read of #general is held by a long rate limit when the bot stops.
        sandbox.fail_next("GET", f"/channels/{world.general_id}/messages", 429, retry_after=30)
        guild = first.bot.get_guild(world.guild_id)
        assert guild is not None
        moderator = await guild.fetch_member(world.moderator_id)
        channels = [guild.get_channel(world.art_id), guild.get_channel(world.general_id)]
        alerts = guild.get_channel(world.mod_alerts_id)
        assert isinstance(alerts, discord.TextChannel)
        assert first.bot.sweeper is not None
        await first.bot.sweeper.start(moderator, [c for c in channels if c], 50, alerts)
        await eventually(lambda: sandbox.message(world.art_id, int(art["id"])) is None)
        await sandbox.wait_for_request("GET", f"/channels/{world.general_id}/messages")
    paused = sandbox.find_requests("PATCH", EDIT, predicate=lambda r: PAUSED in str(r.json))
    assert len(paused) == 1 and "1 messages scanned in 2 channel(s), 1 cases opened" in str(
        paused[0].json
    )
    sandbox.clear_failures()
    async with running_bot(sandbox, world, config) as second:
        done = await sandbox.wait_for_request(
            "PATCH", EDIT, timeout=15, predicate=lambda r: "Sweep done" in str(r.json)
        )
        # #art is not swept again: two messages in all, each once.
        assert "2 messages scanned in 2 channel(s), 2 cases opened" in done.json["content"]
        assert done.path == paused[0].path  # the same progress message, edited
        assert sandbox.message(world.general_id, int(general["id"])) is None
        storage = second.engine.storage
        assert await storage.sweeps.under_way() == []
        actions = [r.action for r in await storage.audit.list(guild_id=world.guild_id)]
        assert actions.count("sweep.started") == 1 and actions.count("sweep.finished") == 1
        assert (await storage.audit.verify()).ok


async def test_new_entries_sweep_recent_history_for_earlier_copies_on_their_own(
    consentry: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retro, "GATHER_SECONDS", 0.05)
    monkeypatch.setattr(sweeps, "AUTO_PER_SECOND", 1000.0)
    world, sandbox = consentry.world, consentry.sandbox
    early, _ = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    await consentry.post(world.general_id, world.member_ids[1], [("c.png", COFFEE)])
    since = len(sandbox.requests)
    # A moderator adds the original from Discord; no one runs /sweep.
    await slash(consentry, world.moderator_id, "blocklist", "add", file=("a.jpg", ASTRONAUT))
    done = await sandbox.wait_for_request(
        "PATCH", EDIT, since=since, timeout=15, predicate=lambda r: "Sweep done" in str(r.json)
    )
    assert "Automatic sweep (new blocklist entries)" in done.json["content"]
    assert "1 cases opened" in done.json["content"]
    assert sandbox.message(world.art_id, int(early["id"])) is None
    records = await consentry.engine.storage.audit.list(guild_id=world.guild_id)
    [began] = [r for r in records if r.action == "sweep.started"]
    assert began.actor == "consentry" and began.details["reason"] == "new blocklist entries"


async def test_an_automatic_sweep_asked_for_during_a_sweep_follows_it(
    consentry: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweeps, "AUTO_PER_SECOND", 1000.0)
    world, sandbox = consentry.world, consentry.sandbox
    sandbox.fail_next("GET", "/channels/{channel_id}/messages", 429, retry_after=0.5)
    guild = consentry.bot.get_guild(world.guild_id)
    assert guild is not None and consentry.bot.sweeper is not None
    moderator = await guild.fetch_member(world.moderator_id)
    art = guild.get_channel(world.art_id)
    assert isinstance(art, discord.TextChannel)
    await consentry.bot.sweeper.start(moderator, [art], 10, art)
    assert await consentry.bot.sweeper.start_automatic(guild, [art], "test", None) is None
    for _ in range(200):
        actions = [r.action for r in await consentry.engine.storage.audit.list()]
        if actions.count("sweep.finished") == 2:
            break
        await asyncio.sleep(0.05)
    assert actions.count("sweep.started") == 2 and actions.count("sweep.finished") == 2
