"""End to end: a server before and after setup, the setup commands, and start-up problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.config import DetectorConfig
from bot.core.verdict import Action
from bot.runtime.run import StartupError, run_bot
from bot.runtime.worker import run_worker
from bot.sandbox import DemoWorld, Permissions, Sandbox
from bot.storage import NewFeed, open_storage
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY, ROCKET
from tests.imagery import encode
from tests.tiny_model import write_manifest

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


async def _slash(harness: Harness, user_id: int, subcommand: str, **options: object) -> str:
    sandbox, world = harness.sandbox, harness.world
    since = len(sandbox.requests)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id, world.general_id, user_id, "consentry", options, subcommand=subcommand
    )
    await sandbox.wait_for_request("POST", CALLBACK, since=since)
    [response] = sandbox.interaction_responses(int(interaction["id"]))
    data = response["json"]["data"]
    assert data["flags"] & 64  # ephemeral: only the caller sees it
    return str(data["content"])


async def test_before_setup_known_abuse_is_removed_and_the_owner_is_told(
    fresh_consentry: Harness,
) -> None:
    harness, world, sandbox = fresh_consentry, fresh_consentry.world, fresh_consentry.sandbox
    await harness.blocklist(ASTRONAUT)
    message, incident = await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and incident.outcome == "Message deleted."
    assert sandbox.message(world.art_id, int(message["id"])) is None
    dm_channel = sandbox.open_dm(world.owner_id)
    [dm] = sandbox.messages(dm_channel)
    assert "not fully set up" in dm["content"]
    assert dm["embeds"][0]["title"] == "Quarantined: known abusive media"
    notices = [m for m in sandbox.messages(world.general_id) if "not set up yet" in m["content"]]
    assert len(notices) == 1 and "/consentry setup" in notices[0]["content"]
    # A second incident (other media) alerts the owner again but does not repeat the notice.
    await harness.blocklist(ROCKET)
    await harness.post(world.art_id, world.member_ids[1], [("q.jpg", ROCKET)])
    assert len(sandbox.messages(dm_channel)) == 2
    assert len([m for m in sandbox.messages(world.general_id) if "not set up" in m["content"]]) == 1


async def test_model_scores_are_acted_on_only_after_setup(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path)
    config = sandbox_config(sandbox, tmp_path, detectors=(DetectorConfig(manifest=manifest),))
    red = encode(Image.new("RGB", (64, 64), (153, 77, 77)), "PNG")
    async with running_bot(sandbox, world, config) as harness:
        _, before = await harness.post(world.general_id, world.member_ids[0], [("r.png", red)])
        assert before is not None and before.decision.action is Action.ALLOW
        assert before.media[0].verdict.action is Action.FLAG  # scored, but not acted on yet
        assert "Setup complete" in await _slash(
            harness, world.owner_id, "setup", alert_channel=world.mod_alerts_id
        )
        _, after = await harness.post(world.general_id, world.member_ids[0], [("r.png", red)])
        assert after is not None and after.decision.action is Action.FLAG
        [alert] = harness.alerts()
        assert alert["embeds"][0]["title"] == "Flagged for review"
        assert "redness.red scored" in str(alert["embeds"][0]["fields"])


async def test_setup_and_status_are_for_server_managers(fresh_consentry: Harness) -> None:
    harness, world = fresh_consentry, fresh_consentry.world
    # Discord itself hides the commands from members without Manage Server (default permissions).
    with pytest.raises(PermissionError, match="cannot see /consentry"):
        await _slash(harness, world.member_ids[0], "setup", alert_channel=world.mod_alerts_id)
    status = await _slash(harness, world.owner_id, "status")
    assert "not set" in status and "blocklist matches only" in status
    done = await _slash(harness, world.owner_id, "setup", alert_channel=world.mod_alerts_id)
    assert f"<#{world.mod_alerts_id}>" in done
    assert "Evidence: **not kept** (hashes only)" in done  # this bot runs without a key
    assert (
        await harness.bot.guild_settings.get(world.guild_id)
    ).alert_channel_id == world.mod_alerts_id
    await harness.blocklist(COFFEE)
    await harness.engine.storage.feeds.subscribe(NewFeed(None, "https://lists.example/a", "a"))
    status = await _slash(harness, world.owner_id, "status")
    assert f"<#{world.mod_alerts_id}>" in status and "Blocklist entries loaded: 3" in status
    assert "this process: not sharded" in status and "Models loaded: provenance" in status
    assert "Blocklist index: 3 entries, generation" in status and ", mih" in status
    assert "Feed #1 a (instance): 0 entries, not fetched yet" in status
    # The processes sharing the database: this gateway, beating.
    assert "Processes: 1 gateway, 0 scan worker(s) beating" in status
    assert f"gateway {harness.bot.holder}: version" in status
    assert "Work held under a lease or waiting to retry (all servers): 0" in status


async def test_missing_permissions_are_reported_in_the_alert_channel_at_start(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    async with await open_storage(config.storage_url) as storage:
        await storage.settings.set_override(world.guild_id, "alert_channel_id", world.mod_alerts_id)
    sandbox.set_bot_permissions(
        world.guild_id,
        int(Permissions.VIEW_CHANNEL | Permissions.SEND_MESSAGES | Permissions.EMBED_LINKS),
    )
    async with running_bot(sandbox, world, config) as harness:
        await sandbox.wait_for_request("POST", "/channels/{channel_id}/messages")
        [notice] = harness.alerts()
        assert "missing permissions" in notice["content"]
        assert "Manage Messages" in notice["content"] and "Moderate Members" in notice["content"]


async def test_a_missing_token_is_explained(sandbox: Sandbox, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(StartupError, match="set the DISCORD_TOKEN environment variable"):
        await run_bot(sandbox_config(sandbox, tmp_path))


async def test_a_rejected_token_is_explained(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="rejected the bot token"):
        await run_bot(sandbox_config(sandbox, tmp_path), token="not-the-token")


async def test_a_scan_worker_with_a_rejected_or_missing_token_is_explained(
    sandbox: Sandbox, tmp_path: Path, monkeypatch
) -> None:
    with pytest.raises(StartupError, match="rejected the bot token"):
        await run_worker(sandbox_config(sandbox, tmp_path), token="not-the-token")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(StartupError, match="set the DISCORD_TOKEN environment variable"):
        await run_worker(sandbox_config(sandbox, tmp_path))


async def test_a_missing_message_content_intent_is_explained(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    sandbox.set_privileged_intents(message_content=False)
    with pytest.raises(StartupError, match="Message Content Intent"):
        await run_bot(sandbox_config(sandbox, tmp_path), token=sandbox.token)


async def test_explicit_only_scores_are_not_flagged_in_age_restricted_channels(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path, role="explicit")  # redness stands in for explicit
    config = sandbox_config(sandbox, tmp_path, detectors=(DetectorConfig(manifest=manifest),))
    red = encode(Image.new("RGB", (64, 64), (153, 77, 77)), "PNG")
    async with running_bot(sandbox, world, config) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        _, adult = await harness.post(world.nsfw_id, world.member_ids[0], [("r.png", red)])
        assert adult is not None and adult.decision.action is Action.ALLOW
        _, general = await harness.post(world.general_id, world.member_ids[0], [("r.png", red)])
        assert general is not None and general.decision.action is Action.FLAG


async def test_setup_refuses_an_alert_channel_where_alerts_cannot_be_posted_and_says_why(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    # Send Messages alone is not enough: alerts are embeds with an attached preview.
    sandbox.set_permission_overwrite(
        world.general_id,
        sandbox.bot_role_id(world.guild_id),
        deny=int(Permissions.EMBED_LINKS | Permissions.ATTACH_FILES),
    )
    async with running_bot(sandbox, world, sandbox_config(sandbox, tmp_path)) as harness:
        reply = await _slash(harness, world.owner_id, "setup", alert_channel=world.general_id)
        assert "give me Embed Links and Attach Files there" in reply
        assert not (await harness.bot.guild_settings.get(world.guild_id)).setup_complete
