"""End to end: "Report as NCII" from any member."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.core.verdict import Action
from bot.sandbox import DemoWorld, Sandbox
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY

FOLLOWUP = "/webhooks/{webhook_id}/{webhook_token}"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


async def _report(harness: Harness, channel_id: int, message_id: int, reporter: int) -> str:
    """A member reports a message; returns the ephemeral answer they got."""
    sandbox = harness.sandbox
    since = len(sandbox.requests)
    await sandbox.invoke_message_command(
        harness.world.guild_id, channel_id, reporter, "Report as NCII", message_id
    )
    followup = await sandbox.wait_for_request("POST", FOLLOWUP, since=since, timeout=10)
    assert followup.json["flags"] & 64
    return str(followup.json["content"])


async def test_any_member_can_report_a_message_and_moderators_get_a_case(
    consentry: Harness,
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    message, incident = await consentry.post(
        world.general_id, world.member_ids[0], [("c.png", COFFEE)]
    )
    assert incident is not None and incident.decision.action is Action.ALLOW
    answer = await _report(consentry, world.general_id, int(message["id"]), world.member_ids[1])
    assert answer.startswith("Thank you for reporting this.") and "removed" not in answer
    [case] = await consentry.engine.storage.cases.list(world.guild_id)
    assert case.action == "flag" and case.message_id == int(message["id"])
    [event] = await consentry.engine.storage.cases.events(case.id)
    assert event.actor == f"user:{world.member_ids[1]}"
    [alert] = consentry.alerts()
    embed = alert["embeds"][0]
    assert embed["title"].startswith("Reported as NCII")
    assert {"name": "Reported by", "value": f"<@{world.member_ids[1]}>", "inline": False} in embed[
        "fields"
    ]
    assert sandbox.message(world.general_id, int(message["id"])) is not None  # review, not removal


async def test_a_reported_known_image_is_removed_at_once(consentry: Harness) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    message = await sandbox.post_message(
        world.art_id, world.member_ids[0], attachments=[("p.jpg", COPY)]
    )
    await consentry.handled(int(message["id"]))  # allowed: not blocklisted yet
    await consentry.blocklist(ASTRONAUT)
    answer = await _report(consentry, world.art_id, int(message["id"]), world.member_ids[2])
    assert "removed while they review it" in answer
    assert sandbox.message(world.art_id, int(message["id"])) is None


async def test_a_report_of_a_message_without_media_still_opens_a_case(consentry: Harness) -> None:
    world = consentry.world
    message, _ = await consentry.post(
        world.general_id, world.member_ids[0], content="dm me for pics of her"
    )
    await _report(consentry, world.general_id, int(message["id"]), world.member_ids[1])
    [case] = await consentry.engine.storage.cases.list(world.guild_id)
    assert case.media == [] and case.action == "flag"


async def test_reports_work_without_the_message_content_intent(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> None:
    sandbox.set_privileged_intents(message_content=False)
    config = sandbox_config(sandbox, tmp_path)
    config = replace(config, discord=replace(config.discord, message_content_intent=False))
    async with running_bot(sandbox, world, config) as harness:
        await harness.configure(alert_channel_id=world.mod_alerts_id)
        await harness.blocklist(ASTRONAUT)
        message, watched = await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
        assert watched is None  # Discord hid the attachment from the bot: nothing to watch
        answer = await _report(harness, world.art_id, int(message["id"]), world.member_ids[1])
        assert "removed" in answer
        assert sandbox.message(world.art_id, int(message["id"])) is None


async def test_confirming_a_flagged_report_removes_the_message(reviewing: Harness) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    message, _ = await reviewing.post(world.general_id, world.member_ids[0], [("c.png", COFFEE)])
    await _report(reviewing, world.general_id, int(message["id"]), world.member_ids[1])
    assert sandbox.message(world.general_id, int(message["id"])) is not None  # flagged only
    [alert] = reviewing.alerts()
    assert "confirmed" in await reviewing.click(alert, "confirm", world.moderator_id)
    assert sandbox.message(world.general_id, int(message["id"])) is None
    [delete] = sandbox.find_requests("DELETE", "/channels/{channel_id}/messages/{message_id}")
    assert delete.reason is not None and "confirmed" in delete.reason


async def test_reports_of_the_same_message_join_one_case_and_each_member_waits_between(
    consentry: Harness,
) -> None:
    world, sandbox = consentry.world, consentry.sandbox
    message, _ = await consentry.post(world.general_id, world.member_ids[0], [("c.png", COFFEE)])
    message_id = int(message["id"])
    first = await _report(consentry, world.general_id, message_id, world.member_ids[1])
    assert first.startswith("Thank you")
    again = await _report(consentry, world.general_id, message_id, world.member_ids[2])
    [case] = await consentry.engine.storage.cases.list(world.guild_id)
    assert f"Already with the moderators as case {case.id}" in again
    events = await consentry.engine.storage.cases.events(case.id)
    assert [e.actor for e in events] == [
        f"user:{world.member_ids[1]}",
        f"user:{world.member_ids[2]}",
    ]
    assert len(consentry.alerts()) == 1  # one alert, not one per report
    # The first reporter reports another message at once: asked to wait, nothing opened.
    other, _ = await consentry.post(world.art_id, world.member_ids[0], [("d.png", COFFEE)])
    since = len(sandbox.requests)
    await sandbox.invoke_message_command(
        world.guild_id, world.art_id, world.member_ids[1], "Report as NCII", int(other["id"])
    )
    await sandbox.wait_for_request("POST", CALLBACK, since=since, timeout=10)
    [interaction] = sandbox.find_requests("POST", CALLBACK)[-1:]
    assert "you can report again in 30 seconds" in interaction.json["data"]["content"]
    assert len(await consentry.engine.storage.cases.list(world.guild_id)) == 1
