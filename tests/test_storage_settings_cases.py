"""Storage, every backend: per-guild setting overrides, and moderation cases with their timeline."""

from __future__ import annotations

import pytest

from bot.storage import CaseStatus, Storage
from tests.storage_support import AUTHOR, GUILD, OTHER_GUILD, assert_recent_utc, new_case

# --- settings ---------------------------------------------------------------------------------


async def test_settings_start_without_overrides(storage: Storage) -> None:
    assert await storage.settings.get_overrides(GUILD) == {}


async def test_settings_overrides_round_trip_json_values(storage: Storage) -> None:
    values = {"dry_run": True, "threshold": 0.82, "channel": 42, "name": "mods ✓", "off": None}
    values |= {"roles": [1, 2], "nested": {"a": [1.5, "x"]}}
    for key, value in values.items():
        await storage.settings.set_override(GUILD, key, value)
    assert await storage.settings.get_overrides(GUILD) == values


async def test_settings_override_replaces_previous_value(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "threshold", 0.5)
    await storage.settings.set_override(GUILD, "threshold", 0.9)
    assert await storage.settings.get_overrides(GUILD) == {"threshold": 0.9}


async def test_settings_overrides_are_per_guild(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "dry_run", True)
    assert await storage.settings.get_overrides(OTHER_GUILD) == {}


async def test_clear_override_says_whether_there_was_one(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "dry_run", True)
    assert await storage.settings.clear_override(GUILD, "dry_run") is True
    assert await storage.settings.clear_override(GUILD, "dry_run") is False
    assert await storage.settings.get_overrides(GUILD) == {}


async def test_clear_all_removes_one_guilds_overrides_only(storage: Storage) -> None:
    await storage.settings.set_override(GUILD, "a", 1)
    await storage.settings.set_override(GUILD, "b", 2)
    await storage.settings.set_override(OTHER_GUILD, "a", 3)
    assert await storage.settings.clear_all(GUILD) == 2
    assert await storage.settings.get_overrides(GUILD) == {}
    assert await storage.settings.get_overrides(OTHER_GUILD) == {"a": 3}


async def test_set_override_refuses_values_that_are_not_json(storage: Storage) -> None:
    with pytest.raises(TypeError):
        await storage.settings.set_override(GUILD, "bad", object())
    with pytest.raises(ValueError):
        await storage.settings.set_override(GUILD, "bad", float("nan"))
    assert await storage.settings.get_overrides(GUILD) == {}


# --- cases ------------------------------------------------------------------------------------


async def test_open_case_starts_open_with_an_opened_event(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    assert case.status is CaseStatus.OPEN
    assert (case.guild_id, case.channel_id, case.message_id, case.author_id) == (GUILD, 42, 1, 7)
    assert case.verdict == new_case().verdict and case.action == "quarantine"
    assert case.created_at == case.updated_at
    assert_recent_utc(case.created_at)
    assert await storage.cases.get(case.id) == case
    [opened] = await storage.cases.events(case.id)
    assert (opened.status, opened.previous, opened.actor) == (CaseStatus.OPEN, None, "consentry")


async def test_case_opened_by_a_reporter_names_them(storage: Storage) -> None:
    case = await storage.cases.open(new_case(), actor="user:55")
    assert [e.actor for e in await storage.cases.events(case.id)] == ["user:55"]


async def test_set_status_updates_the_case_and_its_timeline(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    confirmed = await storage.cases.set_status(
        case.id, CaseStatus.CONFIRMED, actor="mod:9", note="clear match"
    )
    assert confirmed is not None and confirmed.status is CaseStatus.CONFIRMED
    assert confirmed.updated_at >= case.updated_at and confirmed.created_at == case.created_at
    await storage.cases.set_status(case.id, CaseStatus.RESTORED, actor="mod:10")
    events = await storage.cases.events(case.id)
    assert [(e.previous, e.status, e.actor, e.note) for e in events] == [
        (None, CaseStatus.OPEN, "consentry", ""),
        (CaseStatus.OPEN, CaseStatus.CONFIRMED, "mod:9", "clear match"),
        (CaseStatus.CONFIRMED, CaseStatus.RESTORED, "mod:10", ""),
    ]
    assert all(e.case_id == case.id for e in events)
    assert_recent_utc(events[-1].at)


async def test_unknown_case_is_none_everywhere(storage: Storage) -> None:
    assert await storage.cases.get(999) is None
    assert await storage.cases.set_status(999, CaseStatus.DISMISSED, actor="mod") is None
    assert await storage.cases.set_legal_hold(999, True, actor="mod") is None
    assert await storage.cases.add_note(999, actor="mod", note="?") is None
    await storage.cases.attach_alert(999, 1, 2)  # nothing to attach to: a no-op
    assert await storage.cases.events(999) == []


async def test_case_list_is_newest_first_filtered_and_paged(storage: Storage) -> None:
    ids = [(await storage.cases.open(new_case(n))).id for n in range(5)]
    await storage.cases.open(new_case(99, guild_id=OTHER_GUILD))
    await storage.cases.set_status(ids[1], CaseStatus.DISMISSED, actor="mod")
    assert [c.id for c in await storage.cases.list(GUILD)] == ids[::-1]
    assert [c.id for c in await storage.cases.list(GUILD, limit=2, offset=1)] == [ids[3], ids[2]]
    dismissed = await storage.cases.list(GUILD, status=CaseStatus.DISMISSED)
    assert [c.id for c in dismissed] == [ids[1]]
    assert len(await storage.cases.list(GUILD, status=CaseStatus.OPEN)) == 4


async def test_case_without_media_starts_with_empty_media_no_hold_and_no_alert(
    storage: Storage,
) -> None:
    case = await storage.cases.open(new_case())
    assert case.media == [] and case.legal_hold is False
    assert (case.alert_channel_id, case.alert_message_id) == (None, None)


async def test_case_media_round_trips_beside_the_primary_sha256(storage: Storage) -> None:
    media: list[dict[str, str | None]] = [
        {"label": "attachment:0", "sha256": "ab" * 32, "md5": "cd" * 16, "action": "quarantine"},
        {"label": "embed:1", "sha256": "ef" * 32, "md5": None, "action": "allow"},
    ]
    case = await storage.cases.open(new_case(media=media))
    assert case.media == media and case.sha256 == "ab" * 32
    assert await storage.cases.get(case.id) == case


async def test_open_refuses_media_that_is_not_json_and_stores_nothing(storage: Storage) -> None:
    with pytest.raises(TypeError):
        await storage.cases.open(new_case(media=[{"label": object()}]))
    assert await storage.cases.count(GUILD) == 0


async def test_legal_hold_is_a_timeline_event_that_keeps_the_status(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    await storage.cases.set_status(case.id, CaseStatus.CONFIRMED, actor="mod:9")
    held = await storage.cases.set_legal_hold(case.id, True, actor="mod:10")
    assert held is not None and held.legal_hold is True
    assert held.status is CaseStatus.CONFIRMED and held.updated_at >= case.updated_at
    lifted = await storage.cases.set_legal_hold(case.id, False, actor="mod:11")
    assert lifted is not None and lifted.legal_hold is False
    assert await storage.cases.get(case.id) == lifted
    events = (await storage.cases.events(case.id))[2:]
    confirmed = CaseStatus.CONFIRMED
    assert [(e.previous, e.status, e.actor, e.note) for e in events] == [
        (confirmed, confirmed, "mod:10", "legal hold placed"),
        (confirmed, confirmed, "mod:11", "legal hold lifted"),
    ]


async def test_a_note_joins_the_timeline_with_the_current_status(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    note = await storage.cases.add_note(case.id, actor="mod:9", note="asked the poster")
    assert note is not None
    assert (note.case_id, note.actor, note.note) == (case.id, "mod:9", "asked the poster")
    assert note.status is CaseStatus.OPEN and note.previous is CaseStatus.OPEN
    assert_recent_utc(note.at)
    assert (await storage.cases.events(case.id))[-1] == note
    after = await storage.cases.get(case.id)
    assert after is not None and after.status is CaseStatus.OPEN
    assert after.updated_at == note.at


async def test_attach_alert_remembers_the_latest_alert_without_an_event(storage: Storage) -> None:
    case = await storage.cases.open(new_case())
    await storage.cases.attach_alert(case.id, 500, 600)
    await storage.cases.attach_alert(case.id, 501, 601)
    stored = await storage.cases.get(case.id)
    assert stored is not None
    assert (stored.alert_channel_id, stored.alert_message_id) == (501, 601)
    assert stored.updated_at == case.updated_at
    assert len(await storage.cases.events(case.id)) == 1


async def test_case_count_matches_the_list_filters(storage: Storage) -> None:
    ids = [(await storage.cases.open(new_case(n))).id for n in range(3)]
    await storage.cases.open(new_case(99, guild_id=OTHER_GUILD))
    await storage.cases.set_status(ids[0], CaseStatus.DISMISSED, actor="mod")
    assert await storage.cases.count(GUILD) == 3
    assert await storage.cases.count(GUILD, status=CaseStatus.OPEN) == 2
    assert await storage.cases.count(GUILD, status=CaseStatus.CONFIRMED) == 0
    assert await storage.cases.count(OTHER_GUILD) == 1


async def test_cases_by_author_are_counted_and_listed_per_guild_newest_first(
    storage: Storage,
) -> None:
    mine = [(await storage.cases.open(new_case(n))).id for n in range(3)]
    await storage.cases.open(new_case(10, author_id=AUTHOR + 1))
    await storage.cases.open(new_case(11, guild_id=OTHER_GUILD))
    await storage.cases.set_status(mine[1], CaseStatus.CONFIRMED, actor="mod")
    assert await storage.cases.count_by_author(GUILD, AUTHOR) == 3
    assert await storage.cases.count_by_author(GUILD, AUTHOR, status=CaseStatus.CONFIRMED) == 1
    assert await storage.cases.count_by_author(GUILD, 12345) == 0
    assert [c.id for c in await storage.cases.list_by_author(GUILD, AUTHOR)] == mine[::-1]
    assert [c.id for c in await storage.cases.list_by_author(GUILD, AUTHOR, limit=2)] == [
        mine[2],
        mine[1],
    ]
    assert await storage.cases.list_by_author(OTHER_GUILD, AUTHOR + 1) == []


async def test_case_listings_refuse_an_empty_page(storage: Storage) -> None:
    with pytest.raises(ValueError):
        await storage.cases.list(GUILD, limit=0)
    with pytest.raises(ValueError):
        await storage.cases.list_by_author(GUILD, AUTHOR, limit=0)
