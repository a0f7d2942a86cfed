"""End to end: moderators work through cases with `/cases`, the real bot behind the sandbox."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import pytest

from bot.demo_images import encode, landscape
from bot.sandbox import Permissions
from bot.storage import Case, CaseStatus
from bot.storage.sqlite.storage import SQLiteStorage
from tests.e2e.harness import HANDLE_TIMEOUT, Harness

CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"
DEFERRED = 5  # "thinking…": the answer follows as a follow-up message
# Copies of one known picture within minutes join one case (a raid), so each case here needs a
# picture of its own: drawn landscapes, each blocklisted before it is posted.
VARIANTS = [encode(landscape(100 + n)) for n in range(13)]


async def _cases(harness: Harness, user_id: int, subcommand: str, **options: Any) -> dict[str, Any]:
    """Run `/cases <subcommand>` as ``user_id`` in #general; return the answer's message data."""
    sandbox, world = harness.sandbox, harness.world
    since = len(sandbox.requests)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id, world.general_id, user_id, "cases", options, subcommand=subcommand
    )
    token = str(interaction["token"])

    def answered(request: Any) -> bool:
        # Both the callback and the follow-up carry the token; a deferral is not the answer.
        if token not in request.path or not isinstance(request.json, dict):
            return False
        return not (request.route == CALLBACK and request.json.get("type") == DEFERRED)

    await sandbox.wait_for_request(
        "POST", None, since=since, predicate=answered, timeout=HANDLE_TIMEOUT
    )
    responses = sandbox.interaction_responses(int(interaction["id"]))
    assert responses[0]["json"]["data"]["flags"] & 64  # only the caller ever sees it
    last = responses[-1]
    return dict(last["json"]["data"] if last["kind"] == "callback" else last["json"])


async def _text(harness: Harness, user_id: int, subcommand: str, **options: Any) -> str:
    return str((await _cases(harness, user_id, subcommand, **options))["content"])


async def _open(harness: Harness, count: int, author: int | None = None) -> list[Case]:
    """``count`` posts of blocklisted media, each opening a case; the new cases, oldest first."""
    world, store = harness.world, harness.engine.storage.cases
    posted = await store.count(world.guild_id)
    for n in range(posted, posted + count):
        poster = author if author is not None else world.member_ids[n % 2]
        await harness.blocklist(VARIANTS[n])
        _, incident = await harness.post(world.art_id, poster, [(f"p{n}.jpg", VARIANTS[n])])
        assert incident is not None and incident.case_id is not None
    return list(reversed(await store.list(world.guild_id, limit=count)))


def _alert(harness: Harness, case: Case) -> dict[str, Any]:
    alert = harness.sandbox.message(harness.world.mod_alerts_id, int(case.alert_message_id or 0))
    assert alert is not None
    return alert


async def _status(harness: Harness, case: Case) -> CaseStatus:
    stored = await harness.engine.storage.cases.get(case.id)
    assert stored is not None
    return stored.status


async def test_list_pages_ten_cases_newest_first_and_says_how_to_see_the_next(
    consentry: Harness,
) -> None:
    cases = await _open(consentry, 12)
    mod = consentry.world.moderator_id
    first = (await _text(consentry, mod, "list")).splitlines()
    rows = [line for line in first if line.startswith("**#")]
    assert [r.split()[0] for r in rows] == [f"**#{c.id}**" for c in reversed(cases[2:])]
    assert f"<@{cases[-1].author_id}> in <#{consentry.world.art_id}>" in rows[0]
    assert " · quarantine · " in rows[0] and rows[0].endswith(" · open")
    assert "Page 1 of 2 (12 cases)." in first
    assert "Next page: `/cases list status:open page:2`." in first
    second = await _text(consentry, mod, "list", page=2)
    assert [line.split()[0] for line in second.splitlines() if line.startswith("**#")] == [
        f"**#{cases[1].id}**",
        f"**#{cases[0].id}**",
    ]
    assert "Page 2 of 2 (12 cases)." in second and "Next page" not in second
    assert "no page 3" in await _text(consentry, mod, "list", page=3)
    assert await _text(consentry, mod, "list", status="confirmed") == (
        "There are no confirmed cases in this server."
    )


async def test_show_describes_the_media_the_reasons_the_evidence_and_the_timeline(
    reviewing: Harness,
) -> None:
    world = reviewing.world
    [case] = await _open(reviewing, 1)
    [embed] = (await _cases(reviewing, world.moderator_id, "show", case_id=case.id))["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == f"Case #{case.id}: open"
    assert fields["Status"] == "open" and fields["Action"] == "quarantine"
    assert fields["Author"] == f"<@{world.member_ids[0]}> ({world.member_ids[0]})"
    assert fields["Channel"] == f"<#{world.art_id}>" and str(case.message_id) in fields["Message"]
    assert fields["Legal hold"] == "no"
    assert fields["Evidence"].startswith("stored: 1 item, encrypted, due for purging <t:")
    media = fields[case.media[0]["label"]]
    reason = case.verdict["media"][0]["reasons"][0]["message"]
    assert f"sha256 `{hashlib.sha256(VARIANTS[0]).hexdigest()[:16]}…` · quarantine" in media
    assert "evidence: stored" in media and f"• {reason}" in media
    assert fields["Timeline"].endswith("Consentry: opened")


async def test_confirm_by_command_does_what_the_confirm_button_does(reviewing: Harness) -> None:
    world, storage = reviewing.world, reviewing.engine.storage
    by_button, by_command = await _open(reviewing, 2)
    clicked = await reviewing.click(_alert(reviewing, by_button), "confirm", world.moderator_id)
    typed = await _text(reviewing, world.moderator_id, "confirm", case_id=by_command.id)
    assert typed == clicked.replace(f"Case {by_button.id}", f"Case {by_command.id}")
    assert "confirmed: its hashes now block this media here" in typed
    for case in (by_button, by_command):
        assert await _status(reviewing, case) is CaseStatus.CONFIRMED
        assert reviewing.buttons(int(case.alert_message_id or 0)) == ["reveal"]
        fields = _alert(reviewing, case)["embeds"][0]["fields"]
        assert any(f["name"] == "Review" and "Confirmed by" in f["value"] for f in fields)
    edits = reviewing.sandbox.find_requests("PATCH", "/channels/{channel_id}/messages/{message_id}")
    assert {int(e.params["message_id"]) for e in edits} == {
        by_button.alert_message_id,
        by_command.alert_message_id,
    }
    audit = await storage.audit.list()
    decided = [(r.action, r.subject, r.actor) for r in audit if r.action == "case.confirmed"]
    assert decided == [
        ("case.confirmed", f"case {by_button.id}", f"user:{world.moderator_id}"),
        ("case.confirmed", f"case {by_command.id}", f"user:{world.moderator_id}"),
    ]
    again = await _text(reviewing, world.moderator_id, "confirm", case_id=by_command.id)
    assert again == f"Case {by_command.id} is already confirmed."
    listed = await _text(reviewing, world.moderator_id, "list", status="confirmed")
    assert "Page 1 of 1 (2 cases)." in listed


async def test_dismiss_by_command_allow_lists_like_the_dismiss_button(reviewing: Harness) -> None:
    world, storage = reviewing.world, reviewing.engine.storage
    by_button, by_command = await _open(reviewing, 2)
    clicked = await reviewing.click(_alert(reviewing, by_button), "dismiss", world.moderator_id)
    typed = await _text(reviewing, world.moderator_id, "dismiss", case_id=by_command.id)
    assert typed == clicked.replace(f"Case {by_button.id}", f"Case {by_command.id}")
    for case in (by_button, by_command):
        assert await _status(reviewing, case) is CaseStatus.DISMISSED
        assert reviewing.buttons(int(case.alert_message_id or 0)) == ["restore", "reveal"]
    allowed = [e for e in await storage.blocklist.list(guild_id=world.guild_id) if e.allow]
    assert {e.reason for e in allowed} == {
        f"dismissed in case {by_button.id}",
        f"dismissed in case {by_command.id}",
    }


async def test_restore_by_command_reposts_the_original_under_the_authors_name(
    reviewing: Harness,
) -> None:
    world, sandbox = reviewing.world, reviewing.sandbox
    [case] = await _open(reviewing, 1)
    reply = await _text(reviewing, world.moderator_id, "restore", case_id=case.id)
    assert (
        reply == f"Case {case.id}: the post is back in <#{world.art_id}>, under its author's name."
    )
    # The interaction's follow-up goes to a webhook route too: the repost is the one with files.
    [execute] = [
        r
        for r in sandbox.find_requests("POST", "/webhooks/{webhook_id}/{webhook_token}")
        if r.files
    ]
    assert execute.files[0].data == VARIANTS[0]
    assert await _status(reviewing, case) is CaseStatus.RESTORED
    assert reviewing.buttons(int(case.alert_message_id or 0)) == ["reveal"]


async def test_case_errors_are_explained_and_without_a_key_nothing_can_be_restored(
    consentry: Harness,
) -> None:
    mod = consentry.world.moderator_id
    [case] = await _open(consentry, 1)
    assert await _text(consentry, mod, "show", case_id=9999) == (
        "There is no case 9999 in this server."
    )
    restored = await _text(consentry, mod, "restore", case_id=case.id)
    assert restored == "No evidence was kept: the bot runs without an evidence key."
    assert await _status(consentry, case) is CaseStatus.OPEN
    [embed] = (await _cases(consentry, mod, "show", case_id=case.id))["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Evidence"] == "not kept: this case holds hashes only"


async def test_notes_and_legal_holds_are_recorded_in_the_timeline_and_audit_log(
    reviewing: Harness,
) -> None:
    world, storage = reviewing.world, reviewing.engine.storage
    mod = world.moderator_id
    await reviewing.configure(retention_days=0)
    [case] = await _open(reviewing, 1)
    text = "Reported to the platform's trust & safety team"
    assert "Note added to case" in await _text(reviewing, mod, "note", case_id=case.id, text=text)
    held = await _text(reviewing, mod, "hold", case_id=case.id, on=True)
    assert "under legal hold" in held and "never purged" in held
    assert "already" in await _text(reviewing, mod, "hold", case_id=case.id, on=True)
    assert await reviewing.bot.cases.purge_expired() == 0  # expired, but held
    [embed] = (await _cases(reviewing, mod, "show", case_id=case.id))["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    timeline = fields["Timeline"].splitlines()
    assert timeline[1].endswith(f"<@{mod}>: {text}")
    assert timeline[2].endswith(f"<@{mod}>: legal hold placed")
    assert fields["Legal hold"].startswith("yes") and "kept under legal hold" in fields["Evidence"]
    assert "🔒 legal hold" in await _text(reviewing, mod, "list")
    lifted = await _text(reviewing, mod, "hold", case_id=case.id, on=False)
    assert lifted.startswith(f"Legal hold lifted from case #{case.id}")
    assert await reviewing.bot.cases.purge_expired() == 1
    note_event = (await storage.cases.events(case.id))[1]
    audit = [r for r in await storage.audit.list() if r.subject == f"case {case.id}"]
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert [(r.action, r.details) for r in audit if r.action.startswith("case.")][1:] == [
        ("case.note", {"event_id": note_event.id, "note_sha256": digest}),
        ("case.legal_hold", {"hold": True}),
        ("case.legal_hold", {"hold": False}),
    ]


async def test_forget_user_purges_their_unheld_evidence_and_keeps_cases_and_hashes(
    reviewing: Harness,
) -> None:
    world, storage = reviewing.world, reviewing.engine.storage
    alex, jordan = world.member_ids[0], world.member_ids[1]
    held, plain = await _open(reviewing, 2, author=alex)
    [other] = await _open(reviewing, 1, author=jordan)
    await _text(reviewing, world.moderator_id, "hold", case_id=held.id, on=True)
    reply = await _text(reviewing, world.moderator_id, "forget-user", user=alex)
    assert f"Data request for <@{alex}>: purged 1 evidence item from their 2 cases" in reply
    assert "Kept 1 item whose cases are under legal hold" in reply
    assert "hashes and timelines" in reply
    [kept] = await storage.evidence.for_case(held.id)
    [gone] = await storage.evidence.for_case(plain.id)
    [untouched] = await storage.evidence.for_case(other.id)
    assert kept.ciphertext is not None and untouched.ciphertext is not None
    assert gone.ciphertext is None and gone.purged_at is not None
    still = await storage.cases.get(plain.id)
    assert still is not None and still.sha256 == plain.sha256 and still.media == plain.media
    record = (await storage.audit.list())[-1]
    assert (record.action, record.subject, record.details) == (
        "privacy.forget_user",
        f"user {alex}",
        {"purged": 1, "kept_under_hold": 1, "cases": 2},
    )
    nothing = await _text(reviewing, world.moderator_id, "forget-user", user=world.member_ids[3])
    assert "has no cases in this server" in nothing


async def test_audit_verify_reports_an_intact_log_then_the_first_tampered_record(
    consentry: Harness,
) -> None:
    mod = consentry.world.moderator_id
    await _open(consentry, 2)
    intact = await _text(consentry, mod, "audit-verify")
    records = await consentry.engine.storage.audit.list()
    assert intact.startswith(f"Audit log intact: {len(records)} records checked")
    # What someone with access to the database file could do: drop the guard, rewrite a row.
    storage = consentry.engine.storage
    assert isinstance(storage, SQLiteStorage)
    with sqlite3.connect(storage.path) as raw:
        raw.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        raw.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = ?", (records[1].id,))
    broken = await _text(consentry, mod, "audit-verify")
    assert broken.startswith(f"Audit log BROKEN at record #{records[1].id} (2 records checked)")


async def test_members_without_manage_messages_do_not_even_see_cases(consentry: Harness) -> None:
    world = consentry.world
    with pytest.raises(PermissionError, match="cannot see /cases"):
        await _cases(consentry, world.member_ids[2], "list")
    # A configured moderator role does not change what Discord shows: the server has to open
    # the command to the role (Server Settings > Integrations), which the sandbox does not model.
    helpers = consentry.sandbox.create_role(world.guild_id, "Helpers")
    consentry.sandbox.set_member_roles(world.guild_id, world.member_ids[2], [helpers])
    await consentry.configure(moderator_role_id=helpers)
    with pytest.raises(PermissionError, match="cannot see /cases"):
        await _cases(consentry, world.member_ids[2], "list")


async def test_members_who_see_the_command_are_checked_again_and_the_moderator_role_counts(
    consentry: Harness,
) -> None:
    world, sandbox, storage = consentry.world, consentry.sandbox, consentry.engine.storage
    [case] = await _open(consentry, 1)
    riley = world.member_ids[2]
    # Manage Messages in #general only: Discord shows the command there, but it is not the
    # server-wide permission Consentry asks of moderators.
    helpers = sandbox.create_role(world.guild_id, "Helpers")
    sandbox.set_member_roles(world.guild_id, riley, [helpers])
    sandbox.set_permission_overwrite(
        world.general_id, helpers, allow=int(Permissions.MANAGE_MESSAGES)
    )
    refused = await _text(consentry, riley, "confirm", case_id=case.id)
    assert refused.startswith("Only moderators")
    assert await _status(consentry, case) is CaseStatus.OPEN
    record = (await storage.audit.list())[-1]
    assert (record.action, record.actor, record.subject) == (
        "command.refused",
        f"user:{riley}",
        "/cases confirm",
    )
    await consentry.configure(moderator_role_id=helpers)
    assert f"**#{case.id}**" in await _text(consentry, riley, "list")
