"""Storage, every backend: what members keep here: enrolments (sealed face descriptors) and the
registrations of their own media."""

from __future__ import annotations

from bot.core.blocklist import Algorithm
from bot.storage import Storage
from bot.storage.base_own_media import OWN_MEDIA_SOURCE
from tests.storage_support import (
    GUILD,
    MEMBER,
    OTHER_GUILD,
    OTHER_MEMBER,
    assert_recent_utc,
    md5,
    new_enrolment,
)

# --- enrolments ---------------------------------------------------------------------------------


async def test_an_enrolment_is_stored_and_audited_with_counts_only(storage: Storage) -> None:
    stored = await storage.enrolments.put(new_enrolment(), actor=f"user:{MEMBER}")
    assert (stored.guild_id, stored.member_id, stored.faces, stored.notify) == (
        GUILD,
        MEMBER,
        2,
        True,
    )
    assert (stored.nonce, stored.ciphertext, stored.source) == (
        b"n" * 12,
        bytes(range(64)),
        "photos",
    )
    assert_recent_utc(stored.created_at)
    assert stored.updated_at == stored.created_at
    assert await storage.enrolments.get(GUILD, MEMBER) == stored
    [record] = await storage.audit.list()
    assert (record.action, record.subject) == ("enrolment.created", f"member {MEMBER}")
    assert record.details == {
        "faces": 2,
        "model": "dlib-face@abc123",
        "source": "photos",
        "notify": True,
    }


async def test_a_re_enrolment_replaces_the_data_and_keeps_the_first_date(storage: Storage) -> None:
    first = await storage.enrolments.put(new_enrolment(), actor=f"user:{MEMBER}")
    again = await storage.enrolments.put(new_enrolment(faces=5), actor=f"user:{MEMBER}")
    assert again.faces == 5 and again.created_at == first.created_at
    assert again.updated_at >= first.updated_at
    assert [r.action for r in await storage.audit.list()] == [
        "enrolment.created",
        "enrolment.replaced",
    ]


async def test_enrolments_are_listed_per_server_and_iterated_across_servers(
    storage: Storage,
) -> None:
    for member, guild in ((MEMBER, GUILD), (OTHER_MEMBER, GUILD), (MEMBER, OTHER_GUILD)):
        await storage.enrolments.put(new_enrolment(member, guild), actor="user")
    assert [e.member_id for e in await storage.enrolments.list(GUILD)] == [MEMBER, OTHER_MEMBER]
    everyone = [(e.guild_id, e.member_id) async for e in storage.enrolments.iter_all()]
    assert sorted(everyone) == everyone
    assert set(everyone) == {(GUILD, MEMBER), (GUILD, OTHER_MEMBER), (OTHER_GUILD, MEMBER)}


async def test_a_withdrawal_deletes_the_enrolment_and_is_audited_once(storage: Storage) -> None:
    await storage.enrolments.put(new_enrolment(), actor="user")
    assert await storage.enrolments.remove(
        GUILD, MEMBER, actor="mod:1", why="removed", reason="asked"
    )
    assert await storage.enrolments.get(GUILD, MEMBER) is None
    assert not await storage.enrolments.remove(GUILD, MEMBER, actor="mod:1", why="removed")
    records = await storage.audit.list()
    assert [r.action for r in records] == ["enrolment.created", "enrolment.removed"]
    assert records[-1].details == {"reason": "asked"}


# --- own media ----------------------------------------------------------------------------------


async def test_registered_media_become_server_entries_that_name_no_one(storage: Storage) -> None:
    hashes = [(Algorithm.MD5, md5(1)), (Algorithm.MD5, md5(2))]
    assert await storage.own_media.register(GUILD, MEMBER, hashes) == (2, 0)
    assert await storage.own_media.register(GUILD, MEMBER, hashes[:1]) == (0, 1)
    entries = await storage.own_media.listing(GUILD, MEMBER)
    assert [e.value for e in entries] == [md5(1), md5(2)]
    assert {(e.guild_id, e.source, e.added_by) for e in entries} == {
        (GUILD, OWN_MEDIA_SOURCE, OWN_MEDIA_SOURCE)
    }
    assert await storage.blocklist.list(guild_id=GUILD) == entries
    assert await storage.own_media.counts(GUILD) == (1, 2)
    records = await storage.audit.list()
    assert [(r.actor, r.details) for r in records] == [
        (f"user:{MEMBER}", {"hashes": 2, "new": 2}),
        (f"user:{MEMBER}", {"hashes": 1, "new": 0}),
    ]


async def test_a_shared_entry_goes_with_its_last_registration(storage: Storage) -> None:
    await storage.own_media.register(
        GUILD, MEMBER, [(Algorithm.MD5, md5(1)), (Algorithm.MD5, md5(2))]
    )
    await storage.own_media.register(GUILD, OTHER_MEMBER, [(Algorithm.MD5, md5(1))])
    assert await storage.own_media.counts(GUILD) == (2, 2)
    assert await storage.own_media.withdraw(GUILD, MEMBER, actor=f"user:{MEMBER}") == 2
    assert await storage.own_media.listing(GUILD, MEMBER) == []
    assert [e.value for e in await storage.blocklist.list()] == [md5(1)]  # still registered
    assert await storage.own_media.withdraw(GUILD, OTHER_MEMBER, actor="mod:1") == 1
    assert await storage.blocklist.list() == []
    assert await storage.own_media.withdraw(GUILD, OTHER_MEMBER, actor="mod:1") == 0
    withdrawn = [r for r in await storage.audit.list() if r.action == "member.media_withdrawn"]
    assert [r.details for r in withdrawn] == [{"registrations": 2}, {"registrations": 1}]


async def test_registrations_are_per_server(storage: Storage) -> None:
    await storage.own_media.register(GUILD, MEMBER, [(Algorithm.MD5, md5(1))])
    await storage.own_media.register(OTHER_GUILD, MEMBER, [(Algorithm.MD5, md5(1))])
    assert len(await storage.blocklist.list()) == 2
    await storage.own_media.withdraw(GUILD, MEMBER, actor="user")
    assert [e.guild_id for e in await storage.own_media.listing(OTHER_GUILD, MEMBER)] == [
        OTHER_GUILD
    ]
