"""End to end: a member registers hashes of their own media, made on their own machine, with
`/protect media`; copies are removed, moderators see only counts, and withdrawal is immediate."""

from __future__ import annotations

import asyncio
import json

from bot.core.own_hashes import dumps, hash_file
from bot.core.verdict import Action
from tests.e2e.harness import Harness
from tests.e2e.test_blocklist_commands import slash
from tests.e2e.test_watch import ASTRONAUT, COFFEE, COPY


def _hashes_file(harness: Harness, *media: bytes) -> bytes:
    """What `consentry hash` writes on the member's machine."""
    config = harness.engine.config
    items = [hash_file(m, config.limits, config.matching.pdq_min_quality) for m in media]
    return dumps(items).encode()


async def test_a_members_own_media_is_removed_here_and_withdrawn_at_once(
    consentry: Harness,
) -> None:
    world = consentry.world
    victim, poster = world.member_ids[0], world.member_ids[1]
    upload = _hashes_file(consentry, ASTRONAUT, COFFEE)
    assert b"astronaut" not in upload and len(upload) < 4096  # only hashes travel
    done = await slash(
        consentry, victim, "protect", "media add", file=("consentry-hashes.json", upload)
    )
    assert "Registered" in done.content and "hashes of 2 files" in done.content
    _, incident = await consentry.post(world.art_id, poster, [("p.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    # Moderators see counts and hashes, never whose they are.
    moderators = await slash(consentry, world.moderator_id, "protected", "list")
    assert "1 member(s) registered" in moderators.content and str(victim) not in moderators.content
    listing = await slash(consentry, world.moderator_id, "blocklist", "list")
    assert str(victim) not in listing.content
    audit = await consentry.engine.storage.audit.list()
    [registered] = [r for r in audit if r.action == "member.media_registered"]
    assert set(registered.details) == {"hashes", "new"}  # counts only, no hash
    # Only the member sees their own list; another member has none.
    mine = await slash(consentry, victim, "protect", "media list")
    assert "You registered" in mine.content and "md5" in mine.content
    theirs = await slash(consentry, poster, "protect", "media list")
    assert "You registered no media here" in theirs.content
    again = await slash(consentry, victim, "protect", "media add", file=("h.json", upload))
    assert "Registered 0 hashes" in again.content and "you had registered already" in again.content
    gone = await slash(consentry, victim, "protect", "media withdraw")
    assert "no longer match here" in gone.content
    assert await consentry.engine.storage.blocklist.list() == []
    _, incident = await consentry.post(world.art_id, world.member_ids[2], [("p.jpg", COPY)])
    assert incident is not None and incident.decision.action is not Action.QUARANTINE


async def test_a_file_that_is_not_a_hashes_file_registers_nothing_and_says_how(
    consentry: Harness,
) -> None:
    member = consentry.world.member_ids[0]
    for name, data in (
        ("photo.jpg", ASTRONAUT),
        ("x.json", json.dumps({"format": "consentry-own-hashes", "version": 1, "items": [{}]})),
    ):
        body = data if isinstance(data, bytes) else data.encode()
        reply = await slash(consentry, member, "protect", "media add", file=(name, body))
        assert reply.content.startswith("Nothing registered:")
        assert "consentry hash" in reply.content
    assert await consentry.engine.storage.blocklist.list() == []


async def test_a_member_who_leaves_withdraws_their_media(consentry: Harness) -> None:
    world = consentry.world
    victim = world.member_ids[0]
    upload = _hashes_file(consentry, ASTRONAUT)
    await slash(consentry, victim, "protect", "media add", file=("h.json", upload))
    assert await consentry.engine.storage.blocklist.list() != []
    consentry.sandbox.remove_member(world.guild_id, victim)
    for _ in range(250):  # the gateway event reaches the bot asynchronously
        if not await consentry.engine.storage.blocklist.list():
            break
        await asyncio.sleep(0.02)
    assert await consentry.engine.storage.blocklist.list() == []
