"""End to end: moderators review cases from the alert's buttons."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import discord
import pytest

from bot.cases import CaseError
from bot.core.blocklist import Algorithm
from bot.core.evidence import EvidenceKey
from bot.core.verdict import Action
from bot.runtime import actions
from bot.storage import CaseStatus
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_faults import eventually
from tests.e2e.test_watch import ASTRONAUT, COPY, ROCKET


async def _removed(harness: Harness) -> tuple[dict[str, object], dict[str, object]]:
    """A member posts a copy of a blocklisted image; returns (their message, the alert)."""
    await harness.blocklist(ASTRONAUT)
    world = harness.world
    message, incident = await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and incident.case_id is not None
    [alert] = harness.alerts()
    return message, alert


async def test_an_alert_offers_every_review_action_for_an_open_case(reviewing: Harness) -> None:
    _, alert = await _removed(reviewing)
    assert reviewing.buttons(int(alert["id"])) == ["confirm", "dismiss", "restore", "reveal"]
    [case] = await reviewing.engine.storage.cases.list(reviewing.world.guild_id)
    assert case.status is CaseStatus.OPEN and case.alert_message_id == int(alert["id"])
    assert case.media[0]["sha256"] == hashlib.sha256(COPY).hexdigest()


BAN = "/guilds/{guild_id}/bans/{user_id}"


async def test_confirm_blocks_the_media_in_the_server_and_applies_the_ladder(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    await reviewing.configure(action_ladder=("timeout:60", "ban"))
    _, alert = await _removed(reviewing)
    reply = await reviewing.click(alert, "confirm", world.moderator_id)
    assert "confirmed" in reply and "timed out for 60 minutes" in reply
    [case] = await reviewing.engine.storage.cases.list(world.guild_id)
    assert case.status is CaseStatus.CONFIRMED
    server_entries = await reviewing.engine.storage.blocklist.list(guild_id=world.guild_id)
    assert {e.algorithm for e in server_entries} == {
        Algorithm.SHA256,
        Algorithm.PDQ,
        Algorithm.PHASH,
    }
    [timeout] = sandbox.find_requests("PATCH", "/guilds/{guild_id}/members/{user_id}")
    assert timeout.json["communication_disabled_until"]
    assert reviewing.buttons(int(alert["id"])) == ["reveal"]
    edited = sandbox.message(world.mod_alerts_id, int(alert["id"]))
    assert edited is not None
    assert any(
        f["name"] == "Review" and "Confirmed by" in f["value"]
        for f in edited["embeds"][0]["fields"]
    )
    audit = [r.action for r in await reviewing.engine.storage.audit.list()]
    assert audit == ["case.opened", "message.deleted", "case.confirmed", "member.ladder"]
    assert (await reviewing.engine.storage.audit.verify()).ok


async def test_a_ban_on_the_ladder_waits_for_the_moderator_to_confirm_it(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    await reviewing.configure(action_ladder=("ban",))
    _, alert = await _removed(reviewing)
    reply = await reviewing.click(alert, "confirm", world.moderator_id)
    assert "ladder says **ban**" in reply and "Press **Ban the author**" in reply
    assert sandbox.find_requests("PUT", BAN) == []  # nothing yet
    [case] = await reviewing.engine.storage.cases.list(world.guild_id)
    assert case.status is CaseStatus.CONFIRMED
    [asking] = [m for m in sandbox.ephemeral_messages() if m.get("components")]
    custom_id = asking["components"][0]["components"][0]["custom_id"]
    assert custom_id == f"consentry:ban:{case.id}"
    since = len(sandbox.requests)
    await sandbox.click_button(
        int(asking["channel_id"]), int(asking["id"]), world.moderator_id, custom_id
    )
    await sandbox.wait_for_request("PUT", BAN, since=since, timeout=10)
    await sandbox.wait_for_request(  # the moderator's answer, sent after the ban is logged
        "POST", "/webhooks/{webhook_id}/{webhook_token}", since=since, timeout=10
    )
    assert case.author_id in sandbox.banned(world.guild_id)
    audit = [r.action for r in await reviewing.engine.storage.audit.list()]
    assert audit[-1] == "member.banned"
    notes = [e.note for e in await reviewing.engine.storage.cases.events(case.id)]
    assert "ban confirmed: Author banned." in notes


async def test_dismiss_allow_lists_the_media_so_it_never_triggers_again(reviewing: Harness) -> None:
    world = reviewing.world
    _, alert = await _removed(reviewing)
    reply = await reviewing.click(alert, "dismiss", world.moderator_id)
    assert "allow-listed" in reply
    _, again = await reviewing.post(world.art_id, world.member_ids[1], [("p.jpg", COPY)])
    assert again is not None and again.decision.action is Action.ALLOW
    assert again.media[0].verdict.reasons[0].signal == "allowlist"
    assert reviewing.buttons(int(alert["id"])) == ["restore", "reveal"]


async def test_restore_reposts_the_original_under_the_authors_name(reviewing: Harness) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    _, alert = await _removed(reviewing)
    reply = await reviewing.click(alert, "restore", world.moderator_id)
    assert "back in" in reply
    [restored] = [m for m in sandbox.messages(world.art_id) if m.get("webhook_id")]
    assert restored["author"]["username"] == "Alex"
    assert "Restored by the moderators" in restored["content"]
    posts = sandbox.find_requests("POST", "/webhooks/{webhook_id}/{webhook_token}")
    [execute] = [r for r in posts if r.files]  # the repost; the other is the reply to the click
    assert execute.files[0].data == COPY
    [case] = await reviewing.engine.storage.cases.list(world.guild_id)
    assert case.status is CaseStatus.RESTORED


async def test_reveal_shows_the_original_only_to_the_moderator_and_is_logged(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    _, alert = await _removed(reviewing)
    reply = await reviewing.click(alert, "reveal", world.moderator_id)
    assert "shown only to you" in reply
    [callback] = sandbox.find_requests(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback"
    )
    [original] = callback.files
    assert original.data == COPY and original.filename.startswith("SPOILER_")
    audit = await reviewing.engine.storage.audit.list()
    assert (
        audit[-1].action == "evidence.revealed" and audit[-1].actor == f"user:{world.moderator_id}"
    )


async def test_members_without_the_moderator_permission_are_refused_and_logged(
    reviewing: Harness,
) -> None:
    world = reviewing.world
    _, alert = await _removed(reviewing)
    reply = await reviewing.click(alert, "confirm", world.member_ids[2])
    assert reply == "Only moderators can review Consentry cases."
    [case] = await reviewing.engine.storage.cases.list(world.guild_id)
    assert case.status is CaseStatus.OPEN
    assert (await reviewing.engine.storage.audit.list())[-1].action == "review.refused"
    # A server may name a moderator role whose members can review without Manage Messages.
    helper_role = reviewing.sandbox.create_role(world.guild_id, "Helpers")
    reviewing.sandbox.set_member_roles(world.guild_id, world.member_ids[2], [helper_role])
    await reviewing.configure(moderator_role_id=helper_role)
    assert "confirmed" in await reviewing.click(alert, "confirm", world.member_ids[2])


async def test_evidence_is_encrypted_at_rest(
    reviewing: Harness, tmp_path: Path, evidence_key: EvidenceKey
) -> None:
    await _removed(reviewing)
    database = (tmp_path / "consentry.db").read_bytes()
    wal = tmp_path / "consentry.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert COPY[1000:1064] not in stored  # no run of the original's bytes, anywhere
    [case] = await reviewing.engine.storage.cases.list(reviewing.world.guild_id)
    [item] = await reviewing.engine.storage.evidence.for_case(case.id)
    assert item.key_id == evidence_key.key_id and item.size == len(COPY)


async def test_buttons_keep_working_after_a_restart(
    sandbox, world, tmp_path: Path, evidence_key: EvidenceKey
) -> None:
    config = sandbox_config(sandbox, tmp_path)
    async with running_bot(sandbox, world, config, evidence_key) as first:
        await first.configure(alert_channel_id=world.mod_alerts_id)
        _, alert = await _removed(first)
    async with running_bot(sandbox, world, config, evidence_key) as second:
        reply = await second.click(alert, "confirm", world.moderator_id)
        assert "confirmed" in reply
        assert sandbox.identify_count == 2


async def test_purged_evidence_cannot_be_revealed_unless_under_legal_hold(
    reviewing: Harness,
) -> None:
    world = reviewing.world
    await reviewing.configure(retention_days=0)
    _, alert = await _removed(reviewing)
    assert await reviewing.bot.cases.purge_expired() == 1
    assert "purged" in await reviewing.click(alert, "reveal", world.moderator_id)
    await reviewing.blocklist(ROCKET)  # other media: a case of its own
    await reviewing.post(world.art_id, world.member_ids[1], [("q.jpg", ROCKET)])
    [held, _] = await reviewing.engine.storage.cases.list(world.guild_id)
    await reviewing.engine.storage.cases.set_legal_hold(held.id, True, actor="test")
    assert await reviewing.bot.cases.purge_expired() == 0


async def test_without_an_evidence_key_cases_keep_hashes_only(consentry: Harness) -> None:
    _, alert = await _removed(consentry)
    assert consentry.buttons(int(alert["id"])) == ["confirm", "dismiss"]
    [case] = await consentry.engine.storage.cases.list(consentry.world.guild_id)
    assert await consentry.engine.storage.evidence.for_case(case.id) == []
    assert case.media[0]["pdq"]  # the hashes are there: Confirm and Dismiss still work


async def test_dry_run_alerts_what_would_have_happened_and_deletes_nothing(
    reviewing: Harness,
) -> None:
    await reviewing.configure(dry_run=True)
    message, alert = await _removed(reviewing)
    assert reviewing.sandbox.message(reviewing.world.art_id, int(message["id"])) is not None
    assert (
        reviewing.sandbox.find_requests("DELETE", "/channels/{channel_id}/messages/{message_id}")
        == []
    )
    outcome = next(f["value"] for f in alert["embeds"][0]["fields"] if f["name"] == "Outcome")
    assert outcome == "Dry run: this message would have been deleted."


async def test_a_button_with_a_case_id_past_what_the_database_holds_is_refused(
    reviewing: Harness,
) -> None:
    # A 23-digit id (a crafted custom_id) must be "no such case", not an OverflowError.
    for case_id in (10**22, 0, 2**63):
        with pytest.raises(CaseError, match=f"There is no case {case_id}"):
            await reviewing.bot.cases.get(case_id, reviewing.world.guild_id)


async def test_a_second_conflicting_decision_is_refused_and_changes_nothing(
    reviewing: Harness,
) -> None:
    world, storage = reviewing.world, reviewing.engine.storage
    await _removed(reviewing)
    counts = await storage.blocklist.count()
    # Confirm and Dismiss pressed at the same moment by two moderators: exactly one wins.
    [opened] = await storage.cases.list(world.guild_id)
    results = await asyncio.gather(
        reviewing.bot.cases.confirm(opened, actor="user:1"),
        reviewing.bot.cases.dismiss(opened, actor="user:2"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, CaseError)]
    assert len(refused) == 1 and "is already" in str(refused[0]), results
    [case] = await storage.cases.list(world.guild_id)
    after = await storage.blocklist.count()
    if case.status is CaseStatus.CONFIRMED:
        assert after["allow"] == counts["allow"]  # the refused Dismiss allow-listed nothing
    else:
        assert after["allow"] > counts["allow"] and after["pdq"] == counts["pdq"]
    actions = [r.action for r in await storage.audit.list()]
    assert actions.count("case.confirmed") + actions.count("case.dismissed") == 1
    assert (await storage.audit.verify()).ok


async def test_restoring_a_confirmed_case_reposts_nothing(reviewing: Harness) -> None:
    world = reviewing.world
    _, alert = await _removed(reviewing)
    assert "confirmed" in await reviewing.click(alert, "confirm", world.moderator_id)
    [case] = await reviewing.engine.storage.cases.list(world.guild_id)
    with pytest.raises(CaseError, match="already confirmed: nothing reposted"):
        await reviewing.bot.review.restore(case, _member(reviewing, world.moderator_id))
    assert all(m.get("webhook_id") is None for m in reviewing.sandbox.messages(world.art_id))
    actions = [r.action for r in await reviewing.engine.storage.audit.list()]
    assert "evidence.restored" not in actions  # nothing was even decrypted


def _member(harness: Harness, user_id: int) -> discord.Member:
    guild = harness.bot.get_guild(harness.world.guild_id)
    assert guild is not None
    member = guild.get_member(user_id)
    if member is None:  # not cached: build it from the sandbox's own record
        member = discord.Member(
            data={"user": {"id": user_id, "username": "m", "discriminator": "0"}, "roles": []},
            guild=guild,
            state=guild._state,
        )
    return member


async def test_an_alert_whose_edit_discord_refused_gets_the_current_buttons_at_the_next_press(
    reviewing: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    monkeypatch.setattr(actions, "EDIT_RETRY_SECONDS", 0.05)
    _, alert = await _removed(reviewing)
    alert_id = int(alert["id"])
    edit = "/channels/{channel_id}/messages/{message_id}"
    sandbox.fail_next("PATCH", edit, 503, times=actions.EDIT_TRIES)
    assert "confirmed" in await reviewing.click(alert, "confirm", world.moderator_id)
    assert [r.status for r in sandbox.find_requests("PATCH", edit)] == [503] * actions.EDIT_TRIES
    assert reviewing.buttons(alert_id) == ["confirm", "dismiss", "restore", "reveal"]  # stale
    stale = sandbox.message(world.mod_alerts_id, alert_id)
    assert stale is not None
    reply = await reviewing.click(stale, "dismiss", world.moderator_id)
    assert "already confirmed" in reply
    await eventually(lambda: reviewing.buttons(alert_id) == ["reveal"])
    [case] = await reviewing.engine.storage.cases.list(world.guild_id)
    assert case.status is CaseStatus.CONFIRMED
