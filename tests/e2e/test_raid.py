"""End to end: raids, the bounded queue, and catching up after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.sandbox import DemoWorld, Sandbox, demo_world
from bot.storage import WorkState
from tests.e2e.harness import running_bot, sandbox_config
from tests.e2e.test_setup import _slash
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.imagery import encode, photo

DELETE = "/channels/{channel_id}/messages/{message_id}"


@pytest.fixture
async def roomy_sandbox() -> AsyncIterator[Sandbox]:
    """A sandbox whose rate limits do not slow a 300-message raid down."""
    async with Sandbox(heartbeat_interval_ms=1000, rate_limit=(10_000, 1.0)) as running:
        yield running


async def test_a_raid_of_one_image_is_scanned_once_deleted_everywhere_and_alerted_once(
    roomy_sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox = roomy_sandbox
    world = demo_world(sandbox)
    async with running_bot(sandbox, world, sandbox_config(sandbox, tmp_path)) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        posters = [*world.member_ids, world.moderator_id]
        posted = [
            await sandbox.post_message(
                (world.general_id, world.art_id)[i % 2],
                posters[i % len(posters)],
                attachments=[("raid.jpg", COPY)],
            )
            for i in range(300)
        ]
        incidents = await asyncio.gather(*(harness.handled(int(m["id"])) for m in posted))
        assert all(i is not None and i.outcome == "Message deleted." for i in incidents)
        deletes = sandbox.find_requests("DELETE", DELETE)
        assert len(deletes) == 300 and {r.status for r in deletes} == {204}
        fresh = [i for i in incidents if i is not None and not i.media[0].verdict.cached]
        assert len(fresh) == 1  # one examination; every other copy came from the cache
        assert len({i.case_id for i in incidents if i is not None}) == 1
        assert await harness.engine.storage.cases.count(world.guild_id) == 1
        [alert] = harness.alerts()
        await sandbox.wait_for_request(
            "PATCH",
            f"/channels/{world.mod_alerts_id}/messages/{alert['id']}",
            timeout=10,
            predicate=lambda r: "300 messages" in str(r.json),
        )
        copies = sandbox.message(world.mod_alerts_id, int(alert["id"]))
        assert copies is not None
        fields = {f["name"]: f["value"] for f in copies["embeds"][0]["fields"]}
        assert fields["Copies"] == f"300 messages with this media by {len(posters)} members"


async def test_a_full_queue_defers_messages_to_the_backlog_which_scans_them_all(
    roomy_sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = roomy_sandbox
    world = demo_world(sandbox)
    config = sandbox_config(sandbox, tmp_path)
    config = replace(config, discord=replace(config.discord, queue_size=2, queue_workers=1))
    async with running_bot(sandbox, world, config) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        posted = [
            await sandbox.post_message(
                world.general_id, world.member_ids[0], attachments=[("x.jpg", COPY)]
            )
            for _ in range(40)
        ]
        for _ in range(100):
            if harness.bot.intake is not None and harness.bot.intake.drops:
                break
            await asyncio.sleep(0.05)
        assert harness.bot.intake is not None and harness.bot.intake.drops > 0
        assert "scan queue full" in caplog.text
        status = await _slash(harness, world.owner_id, "status")
        assert f"{harness.bot.intake.drops} dropped" in status
        # Nothing is lost: the backlog queues each turned-away message again, shortly.
        storage = harness.engine.storage
        for _ in range(400):
            items = [await storage.work.get(world.guild_id, int(m["id"])) for m in posted]
            if all(i is not None and i.state is WorkState.DONE for i in items):
                break
            await asyncio.sleep(0.1)
        assert all(sandbox.message(world.general_id, int(m["id"])) is None for m in posted)
        assert await storage.cases.count(world.guild_id) == 1  # one raid, one case


async def test_messages_posted_while_the_bot_was_away_are_scanned_on_return(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config) as first:
        await first.configure(alert_channel_id=world.mod_alerts_id)
        await first.blocklist(ASTRONAUT)
        await first.post(world.general_id, world.member_ids[0], content="hello")  # seen: cursor
    missed = await sandbox.post_message(
        world.general_id, world.member_ids[1], attachments=[("away.jpg", COPY)]
    )
    async with running_bot(sandbox, world, config) as second:
        incident = await second.handled(int(missed["id"]))
        assert incident is not None and incident.outcome == "Message deleted."
        # Ready means caught up and scanned: the record of the missed message is finished.
        await asyncio.wait_for(second.bot.caught_up.wait(), 10)
        work = await second.engine.storage.work.get(world.guild_id, int(missed["id"]))
        assert work is not None and work.state is WorkState.DONE
    assert sandbox.message(world.general_id, int(missed["id"])) is None


async def test_altered_copies_of_one_known_picture_count_as_one_raid(
    roomy_sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox = roomy_sandbox
    world = demo_world(sandbox)
    variants = [
        encode(photo("astronaut").resize((300 + n, 300 + n)), quality=55) for n in range(20)
    ]
    async with running_bot(sandbox, world, sandbox_config(sandbox, tmp_path)) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        posted = [
            await sandbox.post_message(
                world.art_id, world.member_ids[0], attachments=[("v.jpg", v)]
            )
            for v in variants
        ]
        incidents = await asyncio.gather(*(harness.handled(int(m["id"])) for m in posted))
        assert all(i is not None and i.outcome == "Message deleted." for i in incidents)
        assert len({i.media[0].verdict.sha256 for i in incidents if i is not None}) == 20
        assert await harness.engine.storage.cases.count(world.guild_id) == 1
        assert len(harness.alerts()) == 1
