"""End to end: the same known media posted by several accounts in two servers is one campaign;
its alerts say so, and moderators can slow the channels it hit and time out repeat posters."""

from __future__ import annotations

from bot.core.blocklist import NewEntry
from bot.core.fingerprint import fingerprint
from bot.sandbox import DemoWorld
from bot.sandbox.permissions import DEFAULT_BOT, P
from tests.e2e.harness import Harness
from tests.e2e.test_blocklist_commands import slash
from tests.e2e.test_watch import ASTRONAUT, COPY


async def test_a_campaign_links_posts_across_servers_and_offers_responses(
    two_servers: tuple[Harness, DemoWorld],
) -> None:
    harness, other = two_servers
    world, sandbox = harness.world, harness.sandbox
    config = harness.engine.config
    hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
    await harness.engine.storage.blocklist.add([NewEntry(a, v, None, "feed:1") for a, v in hashes])
    await harness.engine.refresh_blocklist()
    repeat = world.member_ids[0]
    _, first = await harness.post(world.art_id, repeat, [("a.jpg", COPY)])
    assert first is not None and first.campaign is not None and not first.campaign.spread
    _, second = await harness.post(other.art_id, other.member_ids[0], [("b.jpg", COPY)])
    assert second is not None and second.campaign is not None
    assert (second.campaign.id, second.campaign.servers) == (first.campaign.id, 2)
    alert = sandbox.messages(other.mod_alerts_id)[-1]
    [field] = [f for f in alert["embeds"][0]["fields"] if f["name"] == "Campaign"]
    number = first.campaign.id
    assert f"Campaign #{number}: 2 posts by 2 accounts in 2 servers" in field["value"]
    assert f"/campaign timeout campaign:{number}" in field["value"]
    await harness.post(world.general_id, repeat, [("c.jpg", COPY)])  # the same member again
    shown = await slash(harness, world.moderator_id, "campaign", "show", campaign=number)
    assert "3 posts by 2 accounts in 2 servers" in shown.content
    assert f"Here: 2 posts in <#{world.art_id}> (1), <#{world.general_id}> (1)" in shown.content
    timed = await slash(harness, world.moderator_id, "campaign", "timeout", campaign=number)
    assert f"<@{repeat}>: Author timed out for 60 minutes." in timed.content
    refused = await slash(harness, world.moderator_id, "campaign", "slowmode", campaign=number)
    assert "lacks Manage Channels" in refused.content
    sandbox.set_bot_permissions(world.guild_id, DEFAULT_BOT | int(P.MANAGE_CHANNELS))
    slowed = await slash(harness, world.moderator_id, "campaign", "slowmode", campaign=number)
    assert f"<#{world.art_id}>: slow mode 30 s." in slowed.content
    elsewhere = await slash(harness, world.moderator_id, "campaign", "show", campaign=number + 1)
    assert f"No campaign #{number + 1} reached this server" in elsewhere.content
    actions = [r.action for r in await harness.engine.storage.audit.list(guild_id=world.guild_id)]
    assert "campaign.timeout" in actions and "campaign.slowmode" in actions
