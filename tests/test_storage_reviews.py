"""Storage, every backend: reviews of shared entries (holds, disputes, confirmations) and
campaigns (the same media posted by several accounts or servers)."""

from __future__ import annotations

from datetime import timedelta

from bot.core.blocklist import Algorithm, BlocklistEntry, NewEntry
from bot.storage import CampaignPost, Storage
from tests.storage_support import GUILD, OTHER_GUILD, assert_recent_utc, md5

WINDOW = timedelta(hours=1)


async def shared_entry(storage: Storage) -> BlocklistEntry:
    [entry] = (await storage.blocklist.add([NewEntry(Algorithm.MD5, md5(1), None, "feed:1")])).added
    return entry


def post(message_id: int, guild_id: int = GUILD, author_id: int = 7) -> CampaignPost:
    return CampaignPost(guild_id, 42, message_id, author_id, case_id=None)


# --- reviews ------------------------------------------------------------------------------------


async def test_a_hold_is_instance_wide_once_and_audited(storage: Storage) -> None:
    entry = await shared_entry(storage)
    assert await storage.reviews.state(entry.id, GUILD) is None
    assert await storage.reviews.hold(entry, "flood guard")
    assert not await storage.reviews.hold(entry, "again")
    assert await storage.reviews.state(entry.id, GUILD) == ("held", "flood guard")
    assert await storage.reviews.state(entry.id, None) == ("held", "flood guard")
    [record] = await storage.audit.list()
    assert (record.action, record.subject) == ("entry.held", f"entry {entry.id}")
    assert record.details == {"source": "feed:1", "reason": "flood guard"}


async def test_a_confirmation_in_a_server_outweighs_the_hold_there_only(storage: Storage) -> None:
    entry = await shared_entry(storage)
    await storage.reviews.hold(entry, "flood guard")
    await storage.reviews.review(entry, GUILD, "confirmed", actor="mod:1", note="it is")
    assert await storage.reviews.state(entry.id, GUILD) == ("confirmed", "it is")
    assert await storage.reviews.state(entry.id, OTHER_GUILD) == ("held", "flood guard")
    # A later opinion in the same server replaces the earlier one.
    await storage.reviews.review(entry, GUILD, "disputed", actor="mod:2", note="it is not")
    assert await storage.reviews.state(entry.id, GUILD) == ("disputed", "it is not")


async def test_every_opinion_is_kept_as_feedback_for_its_source(storage: Storage) -> None:
    entry = await shared_entry(storage)
    [local] = (await storage.blocklist.add([NewEntry(Algorithm.MD5, md5(2), GUILD)])).added
    await storage.reviews.review(entry, GUILD, "disputed", actor="mod:1", note="a cat")
    await storage.reviews.review(entry, OTHER_GUILD, "confirmed", actor="mod:2", note="")
    await storage.reviews.review(local, GUILD, "confirmed", actor="mod:1", note="")
    feedback = await storage.reviews.feedback("feed:1")
    assert [(f.guild_id, f.opinion, f.note) for f in feedback] == [
        (GUILD, "disputed", "a cat"),
        (OTHER_GUILD, "confirmed", ""),
    ]
    assert (feedback[0].entry_id, feedback[0].algorithm, feedback[0].value) == (
        entry.id,
        "md5",
        md5(1),
    )
    assert_recent_utc(feedback[0].at)
    assert len(await storage.reviews.feedback()) == 3
    records = await storage.audit.list()
    assert [r.action for r in records] == ["entry.disputed", "entry.confirmed", "entry.confirmed"]
    assert (await storage.audit.verify()).ok


# --- campaigns ----------------------------------------------------------------------------------


async def test_one_members_reposts_are_a_campaign_that_has_not_spread(storage: Storage) -> None:
    first = await storage.campaigns.record("sha256:x", post(1), window=WINDOW)
    second = await storage.campaigns.record("sha256:x", post(2), window=WINDOW)
    assert second.id == first.id
    assert (second.posts, second.authors, second.servers, second.spread) == (2, 1, 1, False)
    assert second.first_at == first.first_at and second.last_at >= first.last_at
    assert_recent_utc(second.last_at)


async def test_several_accounts_and_servers_spread_a_campaign(storage: Storage) -> None:
    await storage.campaigns.record("entry:5", post(1), window=WINDOW)
    await storage.campaigns.record("entry:5", post(2, author_id=8), window=WINDOW)
    campaign = await storage.campaigns.record("entry:5", post(3, OTHER_GUILD, 9), window=WINDOW)
    assert (campaign.posts, campaign.authors, campaign.servers, campaign.spread) == (3, 3, 2, True)
    assert await storage.campaigns.get(campaign.id) == campaign
    assert [p.message_id for p in await storage.campaigns.posts(campaign.id)] == [1, 2, 3]
    assert [p.message_id for p in await storage.campaigns.posts(campaign.id, GUILD)] == [1, 2]
    other = await storage.campaigns.record("entry:6", post(4), window=WINDOW)
    assert other.id != campaign.id and other.posts == 1


async def test_a_post_is_linked_once_and_an_old_campaign_is_not_joined(storage: Storage) -> None:
    first = await storage.campaigns.record("k", post(1), window=WINDOW)
    again = await storage.campaigns.record("k", post(1), window=WINDOW)
    assert again == first
    # Outside the window (here: none at all), the same media starts a new campaign.
    fresh = await storage.campaigns.record("k", post(2), window=timedelta(microseconds=-1))
    assert fresh.id != first.id and fresh.posts == 1
    assert await storage.campaigns.get(fresh.id + 100) is None
    assert await storage.campaigns.posts(fresh.id + 100) == []


async def test_a_post_carries_its_case(storage: Storage) -> None:
    case_post = CampaignPost(GUILD, 42, 1, 7, case_id=99)
    campaign = await storage.campaigns.record("k", case_post, window=WINDOW)
    assert await storage.campaigns.posts(campaign.id) == [case_post]
