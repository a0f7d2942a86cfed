"""End to end: the safeguards of shared lists. A noisy list demands closer matches, a server's
allow-list overrides shared entries in that server only, moderators confirm or dispute entries,
opted-in servers share their confirmations, and the flood guard holds a poisoned entry."""

from __future__ import annotations

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.verdict import Action, Match, Reason, Verdict
from bot.guild_settings import GuildSettingsService
from bot.safeguards import FLOOD_AUTHORS, FLOOD_FILES, Safeguards
from bot.sandbox import DemoWorld
from bot.storage import NewFeed, Storage
from tests.e2e.harness import Harness
from tests.e2e.test_blocklist_commands import slash
from tests.e2e.test_watch import ASTRONAUT, COPY


def _pdq(harness: Harness) -> str:
    config = harness.engine.config
    hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
    return next(v for a, v in hashes if a is Algorithm.PDQ)


async def _feed_entry(harness: Harness, **limits: int) -> int:
    """An instance-wide PDQ entry of the astronaut from a subscribed list; its id."""
    storage = harness.engine.storage
    feed = await storage.feeds.subscribe(NewFeed(None, "https://lists.example/a", "a", **limits))
    assert feed is not None
    result = await storage.blocklist.add(
        [NewEntry(Algorithm.PDQ, _pdq(harness), None, feed.source)]
    )
    await harness.engine.refresh_blocklist()
    return result.added[0].id


async def _action(harness: Harness, channel: int, author: int, data: bytes) -> Action:
    _, incident = await harness.post(channel, author, [("p.jpg", data)])
    assert incident is not None
    return incident.decision.action


async def test_a_list_that_demands_closer_matches_counts_only_those(consentry: Harness) -> None:
    world = consentry.world
    await _feed_entry(consentry, max_pdq_distance=0)
    _, incident = await consentry.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and incident.decision.action is not Action.QUARANTINE
    # The same picture, unchanged: PDQ distance 0, within what the list demands.
    assert (
        await _action(consentry, world.art_id, world.member_ids[1], ASTRONAUT) is Action.QUARANTINE
    )


async def test_a_servers_allow_list_overrides_a_shared_entry_there_only(
    two_servers: tuple[Harness, DemoWorld],
) -> None:
    harness, other = two_servers
    world = harness.world
    await _feed_entry(harness)
    allow = NewEntry(Algorithm.PDQ, _pdq(harness), world.guild_id, "case", allow=True)
    await harness.engine.storage.blocklist.add([allow])
    await harness.engine.refresh_blocklist()
    assert await _action(harness, world.art_id, world.member_ids[0], COPY) is Action.ALLOW
    assert await _action(harness, other.art_id, other.member_ids[0], COPY) is Action.QUARANTINE


async def test_a_disputed_entry_only_flags_here_until_confirmed_and_the_feedback_is_kept(
    two_servers: tuple[Harness, DemoWorld],
) -> None:
    harness, other = two_servers
    world = harness.world
    entry = await _feed_entry(harness)
    reply = await slash(
        harness, world.moderator_id, "blocklist", "review", entry=entry, opinion="dispute",
        note="a meme, not abuse",
    )  # fmt: skip
    assert f"Entry #{entry} (pdq, source feed:1) disputed here" in reply.content
    _, incident = await harness.post(world.art_id, world.member_ids[0], [("p.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.FLAG
    messages = [r.message for v in incident.decision.verdicts for r in v.reasons]
    assert any("disputed by a moderator here (a meme, not abuse)" in m for m in messages)
    # The other server did not dispute it: there it still removes.
    assert await _action(harness, other.art_id, other.member_ids[0], COPY) is Action.QUARANTINE
    await slash(harness, world.moderator_id, "blocklist", "review", entry=entry, opinion="confirm")
    assert await _action(harness, world.art_id, world.member_ids[1], COPY) is Action.QUARANTINE
    feedback = await harness.engine.storage.reviews.feedback("feed:1")
    assert [(f.opinion, f.note) for f in feedback] == [
        ("disputed", "a meme, not abuse"),
        ("confirmed", ""),
    ]


async def test_servers_that_opt_in_share_their_confirmations_and_may_ignore_one(
    two_servers: tuple[Harness, DemoWorld],
) -> None:
    harness, other = two_servers
    world = harness.world
    confirmed = NewEntry(Algorithm.PDQ, _pdq(harness), world.guild_id, "case", "case 1")
    await harness.engine.storage.blocklist.add([confirmed])
    await harness.engine.refresh_blocklist()
    assert await _action(harness, other.art_id, other.member_ids[0], COPY) is Action.ALLOW
    await slash(harness, world.owner_id, "sharing", "join")
    assert await _action(harness, other.art_id, other.member_ids[1], COPY) is Action.ALLOW
    joined = await _slash_in(harness, other, "sharing", "join")
    assert "takes part in sharing" in joined
    _, incident = await harness.post(other.art_id, other.member_ids[2], [("p.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    messages = [r.message for v in incident.decision.verdicts for r in v.reasons]
    assert any(f"confirmed in server {world.guild_id} and shared" in m for m in messages)
    status = await _slash_in(harness, other, "sharing", "status")
    assert f"({world.guild_id}): trusted" in status
    await _slash_in(harness, other, "sharing", "ignore", server=str(world.guild_id))
    assert await _action(harness, other.art_id, other.member_ids[3], COPY) is Action.ALLOW


async def _slash_in(
    harness: Harness, world: DemoWorld, command: str, sub: str, **options: object
) -> str:
    """A slash command by ``world``'s owner in ``world``'s #general."""
    sandbox = harness.sandbox
    since = len(sandbox.requests)
    interaction = await sandbox.invoke_slash_command(
        world.guild_id, world.general_id, world.owner_id, command, options, subcommand=sub
    )
    await sandbox.wait_for_request(
        "POST", "/interactions/{interaction_id}/{interaction_token}/callback", since=since
    )
    first = sandbox.interaction_responses(int(interaction["id"]))[0]["json"]
    return str(first["data"]["content"])


async def test_the_flood_guard_holds_an_entry_matching_many_files_by_many_members(
    storage: Storage,
) -> None:
    [entry] = (
        await storage.blocklist.add([NewEntry(Algorithm.PDQ, "ab" * 32, None, "feed:1")])
    ).added
    guards = Safeguards(storage, GuildSettingsService(storage.settings), clock=lambda: 1000.0)
    reason = Reason("blocklist.pdq", Action.QUARANTINE, "matches", distance=3, entry_id=entry.id)

    def verdict(sha: str) -> Verdict:
        return Verdict(Action.QUARANTINE, (reason,), sha, "")

    # A raid: one file posted again and again by a few accounts never trips it.
    for n in range(50):
        assert await guards.observe(n % 3, verdict("f" * 64)) == []
    # Many different files by many different members: a mistaken or poisoned entry.
    notes: list[str] = []
    for n in range(max(FLOOD_FILES, FLOOD_AUTHORS)):
        notes += await guards.observe(100 + n, verdict(f"{n:064x}"))
    assert len(notes) == 1 and f"Entry {entry.id} from feed:1 is held" in notes[0]
    scope = await guards.scope_for(7, [_match(entry.id)])
    assert "held by the flood guard" in scope.held[entry.id]
    # A moderator of server 7 confirms it: it removes there again (held elsewhere).
    await storage.reviews.review(entry, 7, "confirmed", actor="user:1", note="")
    guards.forget(entry.id)  # as /blocklist review does
    assert (await guards.scope_for(7, [_match(entry.id)])).held == {}
    assert entry.id in (await guards.scope_for(8, [_match(entry.id)])).held
    actions = [r.action for r in await storage.audit.list()]
    assert actions == ["entry.held", "entry.confirmed"]


def _match(entry_id: int) -> Match:
    return Match(entry_id, "pdq", 3)
