"""End to end: server managers see and change Consentry's settings with `/settings`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.config import DetectorConfig
from bot.core.verdict import Action
from bot.sandbox import DemoWorld, Permissions, Sandbox
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_blocklist_commands import slash
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.imagery import encode
from tests.tiny_model import write_manifest

REMINDER = "Setup is still missing an alert channel: run `/settings alert-channel`."
RED = encode(Image.new("RGB", (64, 64), (153, 77, 77)), "PNG")  # redness.red scores about 0.72


async def _settings(harness: Harness, sub: str, **options: object) -> str:
    reply = await slash(harness, harness.world.owner_id, "settings", sub, **options)
    return reply.content


async def _changes(harness: Harness) -> list[tuple[str, Any]]:
    records = await harness.engine.storage.audit.list(guild_id=harness.world.guild_id)
    return [
        (r.details["key"], r.details["value"]) for r in records if r.action == "settings.changed"
    ]


async def test_show_lists_defaults_and_the_policy_and_guides_setup_until_it_is_done(
    fresh_consentry: Harness,
) -> None:
    harness, world = fresh_consentry, fresh_consentry.world
    shown = await _settings(harness, "show")
    for line in (
        "Alert channel: not set (default)",
        "Moderator role: none (default)",
        "Exempt channels: none (default)",
        "Exempt roles: none (default)",
        "Scan other bots' media: off (default)",
        "Scan webhook posts: on (default)",
        "Alert on unscannable media: off (default)",
        "Dry run (alert only, never delete or punish): off (default)",
        "Evidence retention: 30 days (default)",
        "Action ladder: none (no action against authors) (default)",
        "- blocklist match → quarantine",
        "Evidence: hashes only (no evidence key: the operator sets CONSENTRY_EVIDENCE_KEY).",
    ):
        assert line in shown.splitlines()
    assert "**Setup missing**" in shown and "Run `/settings alert-channel`" in shown
    done = await _settings(harness, "alert-channel", channel=world.mod_alerts_id)
    assert done == f"Alerts now go to <#{world.mod_alerts_id}>."  # no reminder any more
    shown = await _settings(harness, "show")
    assert f"Alert channel: <#{world.mod_alerts_id}> (set here)" in shown
    assert "Setup missing" not in shown
    assert await _changes(harness) == [("alert_channel_id", world.mod_alerts_id)]


async def test_every_other_reply_says_what_setup_is_missing(fresh_consentry: Harness) -> None:
    harness = fresh_consentry
    assert (await _settings(harness, "dry-run", on=True)).endswith(f"Dry run: on.\n{REMINDER}")
    assert (await _settings(harness, "ladder", steps="slap")).endswith(REMINDER)


async def test_an_alert_channel_the_bot_cannot_post_in_is_refused(consentry: Harness) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    sandbox.set_permission_overwrite(
        world.art_id, sandbox.bot_user_id, deny=int(Permissions.SEND_MESSAGES)
    )
    refused = await _settings(consentry, "alert-channel", channel=world.art_id)
    assert f"I cannot post alerts in <#{world.art_id}>" in refused
    assert (await consentry.bot.guild_settings.get(world.guild_id)).alert_channel_id == (
        world.mod_alerts_id
    )
    assert await _changes(consentry) == []


async def test_a_blocklisted_post_in_an_exempt_channel_is_left_alone(consentry: Harness) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    await consentry.blocklist(ASTRONAUT)
    added = await _settings(consentry, "exempt-channel add", channel=world.art_id)
    assert added == f"<#{world.art_id}> (and its threads) is no longer scanned."
    message, incident = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is None and sandbox.message(world.art_id, int(message["id"])) is not None
    again = await _settings(consentry, "exempt-channel add", channel=world.art_id)
    assert "already exempt: nothing changed" in again
    await _settings(consentry, "exempt-channel remove", channel=world.art_id)
    message, incident = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and sandbox.message(world.art_id, int(message["id"])) is None
    assert await _changes(consentry) == [
        ("exempt_channel_ids", [world.art_id]),
        ("exempt_channel_ids", []),
    ]


async def test_in_dry_run_nothing_is_deleted(consentry: Harness) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    await consentry.blocklist(ASTRONAUT)
    assert await _settings(consentry, "dry-run", on=True) == "Dry run: on."
    message, incident = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    assert sandbox.message(world.art_id, int(message["id"])) is not None
    assert "Dry run" in incident.outcome
    assert await _changes(consentry) == [("dry_run", True)]


async def test_the_ladder_is_validated_step_by_step(consentry: Harness) -> None:
    guild_id = consentry.world.guild_id
    done = await _settings(consentry, "ladder", steps="Timeout: 60, kick, ban")
    assert done.startswith("Ladder: timeout:60 → kick → ban.")
    assert (await consentry.bot.guild_settings.get(guild_id)).action_ladder == (
        "timeout:60",
        "kick",
        "ban",
    )
    for steps, reason in (
        ("timeout:60, slap", "step 2 (slap) is not one of: none, timeout:<minutes>, kick, ban"),
        ("timeout:0", "step 1 (timeout:0): a timeout lasts 1 to 40320 minutes"),
        ("timeout:40321, ban", "a timeout lasts 1 to 40320 minutes"),
        ("kick,,ban", "step 2 (empty) is not one of"),
    ):
        refused = await _settings(consentry, "ladder", steps=steps)
        assert refused.startswith("Ladder not changed:") and reason in refused
    assert len((await consentry.bot.guild_settings.get(guild_id)).action_ladder) == 3
    assert "Ladder cleared" in await _settings(consentry, "ladder", steps="none")
    assert (await consentry.bot.guild_settings.get(guild_id)).action_ladder == ()
    assert await _changes(consentry) == [
        ("action_ladder", ["timeout:60", "kick", "ban"]),
        ("action_ladder", []),
    ]


async def test_the_simple_settings_are_stored_and_audited(consentry: Harness) -> None:
    world = consentry.world
    assert "may now review cases" in await _settings(
        consentry, "moderator-role", role=world.moderator_role_id
    )
    await _settings(consentry, "exempt-role add", role=world.moderator_role_id)
    assert "kept for 90 days" in await _settings(consentry, "retention", days=90)
    await _settings(consentry, "scan-bots", on=True)
    await _settings(consentry, "scan-webhooks", on=False)
    await _settings(consentry, "alert-unscannable", on=True)
    assert "unset" in await _settings(consentry, "moderator-role")
    everyone = world.guild_id  # the @everyone role has the server's id
    assert "cannot be" in await _settings(consentry, "moderator-role", role=everyone)
    assert "would stop all scanning" in await _settings(consentry, "exempt-role add", role=everyone)
    settings = await consentry.bot.guild_settings.get(world.guild_id)
    assert settings.moderator_role_id is None
    assert settings.exempt_role_ids == {world.moderator_role_id}
    assert (settings.retention_days, settings.scan_bots) == (90, True)
    assert (settings.scan_webhooks, settings.alert_unscannable) == (False, True)
    assert await _changes(consentry) == [
        ("moderator_role_id", world.moderator_role_id),
        ("exempt_role_ids", [world.moderator_role_id]),
        ("retention_days", 90),
        ("scan_bots", True),
        ("scan_webhooks", False),
        ("alert_unscannable", True),
        ("moderator_role_id", None),
    ]
    shown = await _settings(consentry, "show")
    assert "Evidence retention: 90 days (set here)" in shown
    assert f"Exempt roles: <@&{world.moderator_role_id}> (set here)" in shown


async def test_a_threshold_for_an_unknown_signal_is_refused(consentry: Harness) -> None:
    refused = await _settings(consentry, "threshold", signal="nudity.explicit", quarantine=0.5)
    assert "Unknown signal `nudity.explicit`" in refused and "runs no models" in refused
    assert await _changes(consentry) == []


@pytest.fixture
async def with_redness(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The bot with the tiny redness model, set up by its settings command."""
    manifest = write_manifest(tmp_path)
    config = sandbox_config(sandbox, tmp_path, detectors=(DetectorConfig(manifest=manifest),))
    async with running_bot(sandbox, world, config) as harness:
        await _settings(harness, "alert-channel", channel=world.mod_alerts_id)
        yield harness


async def test_a_lower_quarantine_threshold_turns_a_flag_into_a_quarantine(
    with_redness: Harness,
) -> None:
    harness, world, sandbox = with_redness, with_redness.world, with_redness.sandbox
    _, flagged = await harness.post(world.general_id, world.member_ids[0], [("r.png", RED)])
    assert flagged is not None and flagged.decision.action is Action.FLAG
    unknown = await _settings(harness, "threshold", signal="redness.blue", flag=0.1)
    assert "Scores this instance has: redness.other, redness.red." in unknown
    inverted = await _settings(harness, "threshold", signal="redness.red", flag=0.97)
    assert "would flag at 0.97, above its quarantine level 0.95" in inverted
    moved = await _settings(harness, "threshold", signal="redness.red", quarantine=0.6)
    assert moved == (
        "redness.red in this server: flag at 0.50, quarantine at 0.60 "
        "(instance default: flag at 0.50, quarantine at 0.95)."
    )
    message, removed = await harness.post(world.general_id, world.member_ids[1], [("r.png", RED)])
    assert removed is not None and removed.decision.action is Action.QUARANTINE
    assert sandbox.message(world.general_id, int(message["id"])) is None
    assert "- redness.red ≥ 0.60 → quarantine (set here)" in await _settings(harness, "show")
    reset = await _settings(harness, "threshold", signal="redness.red")
    assert reset.startswith("redness.red in this server: flag at 0.50, quarantine at 0.95")
    assert (await harness.engine.policy_for(world.guild_id)) == harness.engine.policy
    assert await _changes(harness) == [
        ("alert_channel_id", world.mod_alerts_id),
        ("policy.thresholds", {"redness.red": {"quarantine": 0.6}}),
        ("policy.thresholds", {}),
    ]


async def test_a_server_can_ignore_one_models_scores(with_redness: Harness) -> None:
    harness, world = with_redness, with_redness.world
    unknown = await _settings(harness, "model", name="open-nsfw", on=False)
    assert unknown == "Unknown model `open-nsfw`. Models here: redness."
    off = await _settings(harness, "model", name="redness", on=False)
    assert off == (
        "redness scores in this server: ignored: no rule acts on them (the blocklist still does)."
    )
    assert "Models ignored here: redness (set here)" in await _settings(harness, "show")
    _, ignored = await harness.post(world.general_id, world.member_ids[0], [("r.png", RED)])
    assert ignored is not None and ignored.decision.action is Action.ALLOW
    assert ignored.media[0].verdict.scores["redness.red"] > 0.5  # scored, not acted on
    assert await _settings(harness, "model", name="redness", on=True) == (
        "redness scores in this server: used."
    )
    _, flagged = await harness.post(world.general_id, world.member_ids[1], [("r.png", RED)])
    assert flagged is not None and flagged.decision.action is Action.FLAG
    assert "Models ignored here: none (default)" in await _settings(harness, "show")
    assert await _changes(harness) == [
        ("alert_channel_id", world.mod_alerts_id),
        ("policy.models_off", ["redness"]),
        ("policy.models_off", []),
    ]


async def test_settings_are_for_server_managers(consentry: Harness) -> None:
    world = consentry.world
    # Discord hides /settings from members without Manage Server (default permissions).
    for user_id in (world.member_ids[0], world.moderator_id):
        with pytest.raises(PermissionError, match="cannot see /settings"):
            await slash(consentry, user_id, "settings", "show")
    # Server admins can open a command to anyone (Integrations settings); a channel overwrite
    # stands in for that here. The bot still checks Manage Server itself, and records the try.
    consentry.sandbox.set_permission_overwrite(
        world.general_id, world.member_ids[0], allow=int(Permissions.MANAGE_GUILD)
    )
    reply = await slash(consentry, world.member_ids[0], "settings", "dry-run", on=True)
    assert reply.content == "You need the Manage Server permission to change Consentry's settings."
    assert not (await consentry.bot.guild_settings.get(world.guild_id)).dry_run
    [refused] = await consentry.engine.storage.audit.list()
    assert (refused.action, refused.details) == ("command.refused", {"command": "settings dry-run"})
