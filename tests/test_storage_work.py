"""Storage, every backend: the durable record of work per message, and the case transaction
that moves it from "scan" to "act" together with the case, its evidence and its audit record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage import CopyWork, Effects, NewWork, Storage, StorageError, WorkState
from tests.storage_support import GUILD, OTHER_GUILD, new_case, new_evidence


def seen(message_id: int, *media: str, channel_id: int = 42) -> NewWork:
    return NewWork(GUILD, channel_id, message_id, media or (f"https://cdn/{message_id}.png",))


def later(seconds: float = 3600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def soon() -> datetime:
    """A scan's lease: two minutes from now."""
    return later(120)


async def test_a_seen_message_waits_for_its_scan_under_a_lease(storage: Storage) -> None:
    lease = soon()
    assert await storage.work.seen(seen(1), lease_until=lease)
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.SCAN and item.attempts == 0
    assert item.media == ("https://cdn/1.png",) and item.case_id is None
    # Leased: not due until the lease ends; then claimed, with one more attempt counted.
    assert await storage.work.claim(datetime.now(UTC), limit=10, lease_until=later()) == []
    after = lease + timedelta(seconds=1)
    [claimed] = await storage.work.claim(after, limit=10, lease_until=later())
    assert claimed.message_id == 1 and claimed.attempts == 1
    assert (
        await storage.work.claim(lease + timedelta(seconds=1), limit=10, lease_until=later()) == []
    )


async def test_one_record_per_server_and_message(storage: Storage) -> None:
    assert await storage.work.seen(seen(1), lease_until=soon())
    assert await storage.work.seen(seen(1), lease_until=soon())  # still waiting: scan it
    await storage.work.finish(GUILD, 1, WorkState.DONE)
    # Seen again (catch-up, a restart) with the same media: nothing to do, no second record.
    assert not await storage.work.seen(seen(1), lease_until=soon())
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.DONE
    assert (await storage.work.counts())[WorkState.DONE] == 1


async def test_an_edit_that_adds_media_reopens_a_finished_record(storage: Storage) -> None:
    await storage.work.seen(seen(1, "a"), lease_until=soon())
    await storage.work.finish(GUILD, 1, WorkState.DONE)
    assert await storage.work.seen(seen(1, "a", "b"), lease_until=soon())
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.SCAN and item.media == ("a", "b")


async def test_claims_take_the_oldest_due_messages_first_up_to_the_limit(storage: Storage) -> None:
    for message_id in (30, 10, 20):
        await storage.work.seen(seen(message_id), lease_until=datetime.now(UTC))
    first = await storage.work.claim(later(1), limit=2, lease_until=later())
    assert [w.message_id for w in first] == [10, 20]
    with pytest.raises(ValueError, match="limit"):
        await storage.work.claim(later(1), limit=0, lease_until=later())


async def test_a_gateway_claims_only_the_servers_of_its_shards(storage: Storage) -> None:
    # Discord puts a server on shard (id >> 22) % count: these are on shards 0, 1 and 2 of 3.
    guilds = {shard: (1000 * 3 + shard) << 22 for shard in range(3)}
    for shard, guild_id in guilds.items():
        await storage.work.seen(
            NewWork(guild_id, 42, 100 + shard, ("https://cdn/a.png",)),
            lease_until=datetime.now(UTC),
        )
    mine = await storage.work.claim(later(1), limit=10, lease_until=later(), shards=(3, (0, 2)))
    assert sorted(w.guild_id for w in mine) == [guilds[0], guilds[2]]
    rest = await storage.work.claim(later(1), limit=10, lease_until=later())  # a scan worker
    assert [w.guild_id for w in rest] == [guilds[1]]


async def test_held_counts_the_unfinished_records_not_due_yet(storage: Storage) -> None:
    await storage.work.seen(seen(1), lease_until=datetime.now(UTC))  # due: a worker may claim
    await storage.work.seen(seen(2), lease_until=soon())  # leased to the process that saw it
    await storage.work.seen(seen(3), lease_until=soon())
    await storage.work.finish(GUILD, 3, WorkState.DONE)  # finished: never counted
    assert await storage.work.held(datetime.now(UTC)) == 1
    assert await storage.work.held(later(121)) == 0  # the lease ran out: due again


async def test_a_scanning_process_renews_its_leases_and_finished_records_stay_finished(
    storage: Storage,
) -> None:
    for message_id in (1, 2, 3):
        await storage.work.seen(seen(message_id), lease_until=datetime.now(UTC))
    await storage.work.claim(later(1), limit=3, lease_until=later(30))
    await storage.work.finish(GUILD, 3, WorkState.DONE)
    await storage.work.extend([(GUILD, 1), (GUILD, 3)], until=later(600))
    # Renewed: not due when the first lease runs out; 2 was not renewed, and is.
    due = await storage.work.claim(later(60), limit=10, lease_until=later(90))
    assert [w.message_id for w in due] == [2]
    done = await storage.work.get(GUILD, 3)
    assert done is not None and done.state is WorkState.DONE
    await storage.work.extend([], until=later(600))  # nothing held: nothing to do


async def test_postpone_records_why_and_when(storage: Storage) -> None:
    await storage.work.seen(seen(1), lease_until=datetime.now(UTC))
    await storage.work.postpone(GUILD, 1, until=later(), error="Discord answered 503")
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.error == "Discord answered 503"
    assert await storage.work.claim(later(10), limit=5, lease_until=later()) == []
    assert [w.message_id for w in await storage.work.stuck(GUILD)] == [1]


async def test_opening_a_case_stores_case_evidence_audit_and_due_effects_together(
    storage: Storage,
) -> None:
    await storage.work.seen(seen(1), lease_until=soon())
    case = await storage.cases.open(
        new_case(1),
        seal=lambda case_id: [new_evidence(case_id)],
        audit=("case.opened", {"evidence_items": 1}),
        work=Effects(delete=True, alert=True),
    )
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.ACT and item.case_id == case.id
    assert item.delete_due and item.alert_due
    [evidence] = await storage.evidence.for_case(case.id)
    assert evidence.sha256 == f"{case.id:064x}"  # sealed for the case's own id
    [record] = await storage.audit.list(guild_id=GUILD)
    assert record.action == "case.opened" and record.subject == f"case {case.id}"


async def test_a_failing_case_transaction_leaves_nothing_behind(storage: Storage) -> None:
    await storage.work.seen(seen(1), lease_until=soon())

    def broken(case_id: int) -> list[object]:
        raise StorageError("disk full")

    with pytest.raises(StorageError, match="disk full"):
        await storage.cases.open(new_case(1), seal=broken, work=Effects(True, True))  # type: ignore[arg-type]
    assert await storage.cases.count(GUILD) == 0
    assert await storage.audit.list(guild_id=GUILD) == []
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.SCAN  # resumed later, no orphan case


async def test_effects_clear_one_by_one_with_their_audit_records(storage: Storage) -> None:
    case = await storage.cases.open(new_case(1), work=Effects(delete=True, alert=True))
    item = await storage.work.effect_done(
        GUILD, 1, "delete", audit=("message.deleted", {"detail": "ok"})
    )
    assert item is not None and item.state is WorkState.ACT and not item.delete_due
    item = await storage.work.effect_done(GUILD, 1, "alert", alert=(77, 88))
    assert item is not None and item.state is WorkState.DONE
    stored = await storage.cases.get(case.id)
    assert stored is not None and (stored.alert_channel_id, stored.alert_message_id) == (77, 88)
    assert [r.action for r in await storage.audit.list(guild_id=GUILD)] == ["message.deleted"]
    with pytest.raises(ValueError, match="unknown effect"):
        await storage.work.effect_done(GUILD, 1, "ban")


async def test_a_copy_joins_a_case_with_its_own_record(storage: Storage) -> None:
    case = await storage.cases.open(new_case(1), work=Effects(delete=True, alert=True))
    copy = CopyWork(43, 2, Effects(delete=True, alert=False))
    await storage.cases.add_note(case.id, actor="consentry", note="copy", work=copy)
    item = await storage.work.get(GUILD, 2)
    assert item is not None and item.case_id == case.id and item.channel_id == 43
    assert item.delete_due and not item.alert_due


async def test_a_case_with_no_effects_due_finishes_its_record(storage: Storage) -> None:
    await storage.cases.open(new_case(1), work=Effects(delete=False, alert=False))
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.DONE


async def test_release_makes_every_unfinished_record_due_now(storage: Storage) -> None:
    await storage.work.seen(seen(1), lease_until=later())
    await storage.work.seen(seen(2), lease_until=later())
    await storage.work.finish(GUILD, 2, WorkState.GONE)
    assert await storage.work.release() == 1
    [item] = await storage.work.claim(later(1), limit=5, lease_until=later())
    assert item.message_id == 1


async def test_finish_is_final_and_refuses_unfinished_states(storage: Storage) -> None:
    await storage.work.seen(seen(1), lease_until=soon())
    await storage.work.finish(GUILD, 1, WorkState.FAILED, error="no access")
    await storage.work.finish(GUILD, 1, WorkState.DONE)  # finished records stay as they are
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.FAILED and item.error == "no access"
    with pytest.raises(ValueError, match="not a finished state"):
        await storage.work.finish(GUILD, 1, WorkState.SCAN)


async def test_oldest_unfinished_and_unscanned_counts(storage: Storage) -> None:
    await storage.work.seen(seen(5, channel_id=1), lease_until=soon())
    await storage.work.seen(seen(3, channel_id=1), lease_until=soon())
    await storage.work.seen(seen(9, channel_id=2), lease_until=soon())
    await storage.work.finish(GUILD, 3, WorkState.DONE)
    await storage.work.seen(NewWork(OTHER_GUILD, 1, 4, ("x",)), lease_until=soon())
    assert await storage.work.oldest_unfinished(GUILD) == {1: 5, 2: 9}
    assert await storage.work.unscanned(up_to_message=5) == 2  # 5 here, 4 in the other server
    assert (await storage.work.counts(GUILD))[WorkState.SCAN] == 2


async def test_finished_records_are_forgotten_after_a_while(storage: Storage) -> None:
    await storage.work.seen(seen(1), lease_until=soon())
    await storage.work.seen(seen(2), lease_until=soon())
    await storage.work.finish(GUILD, 1, WorkState.DONE)
    assert await storage.work.forget_finished(later()) == 1
    assert await storage.work.get(GUILD, 1) is None
    assert await storage.work.get(GUILD, 2) is not None


async def test_evidence_key_ids_count_unpurged_items_per_key(storage: Storage) -> None:
    case = await storage.cases.open(new_case(1), seal=lambda c: [new_evidence(1), new_evidence(2)])
    assert await storage.evidence.key_ids() == {"key-2030": 2}
    [first, _] = await storage.evidence.for_case(case.id)
    await storage.evidence.purge([first.id], now=datetime.now(UTC))
    assert await storage.evidence.key_ids() == {"key-2030": 1}


async def test_a_clean_scan_finishes_a_waiting_record_but_never_drops_due_effects(
    storage: Storage,
) -> None:
    await storage.work.seen(seen(1), lease_until=soon())
    await storage.work.scanned(GUILD, 1)
    first = await storage.work.get(GUILD, 1)
    assert first is not None and first.state is WorkState.DONE
    await storage.cases.open(new_case(2), work=Effects(delete=True, alert=True))
    await storage.work.scanned(GUILD, 2)  # a sweep found message 2 clean after all
    second = await storage.work.get(GUILD, 2)
    assert second is not None and second.state is WorkState.ACT and second.delete_due


def handed(message_id: int, *media: str, handoff: str = '{"id": "1"}') -> NewWork:
    return NewWork(GUILD, 42, message_id, media or ("a",), handoff=handoff)


async def test_a_message_handed_to_workers_carries_what_a_worker_needs_until_scanned(
    storage: Storage,
) -> None:
    now = datetime.now(UTC)
    await storage.work.seen_many([handed(1), handed(2), seen(3)], lease_until=now)
    claimed = await storage.work.claim(now, limit=10, lease_until=later())
    assert [(c.message_id, c.handoff) for c in claimed] == [
        (1, '{"id": "1"}'),
        (2, '{"id": "1"}'),
        (3, None),  # scanned where it was seen: fetched again if ever retried
    ]
    # Whatever ends the wait drops what it carried: a clean scan, a case, giving up.
    await storage.work.scanned(GUILD, 1)
    await storage.cases.open(new_case(2), work=Effects(delete=True, alert=True))
    for message_id in (1, 2):
        item = await storage.work.get(GUILD, message_id)
        assert item is not None and item.handoff is None
    await storage.work.seen(handed(4), lease_until=now)
    await storage.work.finish(GUILD, 4, WorkState.FAILED, error="no access")
    item = await storage.work.get(GUILD, 4)
    assert item is not None and item.handoff is None


async def test_an_edit_while_waiting_replaces_what_it_carries_and_adds_the_media(
    storage: Storage,
) -> None:
    now = datetime.now(UTC)
    await storage.work.seen(handed(1, "a", handoff="first"), lease_until=now)
    assert await storage.work.seen(handed(1, "a", "b", handoff="edited"), lease_until=now)
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.media == ("a", "b") and item.handoff == "edited"
    # Seen again unchanged (catch-up): what it carries stays as it was.
    assert await storage.work.seen(handed(1, "a", "b", handoff="other"), lease_until=now)
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.handoff == "edited"
    # A finished message edited to add media waits again, with the message as edited.
    await storage.work.scanned(GUILD, 1)
    assert await storage.work.seen(handed(1, "a", "b", "c", handoff="third"), lease_until=now)
    item = await storage.work.get(GUILD, 1)
    assert item is not None and item.state is WorkState.SCAN and item.handoff == "third"
