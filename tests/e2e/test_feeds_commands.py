"""End to end: a server subscribes to a signed feed from another instance with `/feeds`, and
media on it is removed there (and only there) once the feed is fetched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.blocklist import Algorithm, NewEntry
from bot.core.fingerprint import fingerprint
from bot.core.signed_feed import generate_key, load_private_key
from bot.core.verdict import Action
from bot.feeds.publish import publish
from bot.sandbox import DemoWorld, Sandbox
from bot.storage import open_storage
from tests.e2e.harness import Harness, running_bot, sandbox_config
from tests.e2e.test_blocklist_commands import slash
from tests.e2e.test_watch import ASTRONAUT, COPY
from tests.feed_server import FeedHost, feed_host


@pytest.fixture
async def subscribing(
    sandbox: Sandbox, world: DemoWorld, tmp_path: Path
) -> AsyncIterator[tuple[Harness, FeedHost]]:
    async with feed_host(tmp_path) as host:
        config = sandbox_config(sandbox, tmp_path, feeds=host.limits())
        async with running_bot(sandbox, world, config) as harness:
            await harness.configure(alert_channel_id=world.mod_alerts_id)
            yield harness, host


async def test_a_server_subscribes_to_a_signed_feed_and_its_media_is_removed_there(
    subscribing: tuple[Harness, FeedHost], tmp_path: Path
) -> None:
    harness, host = subscribing
    world = harness.world
    pem, public = generate_key()
    config = harness.engine.config
    hashes = fingerprint(ASTRONAUT, config.limits, config.matching.pdq_min_quality).hashes
    async with await open_storage(str(tmp_path / "other-instance.db")) as other:
        await other.blocklist.add(
            [NewEntry(a, v, None, "case") for a, v in hashes if a is not Algorithm.SHA256]
        )
        host.body, _, _ = await publish(other, load_private_key(pem), publisher="other")
    member = world.member_ids[0]
    with pytest.raises(PermissionError, match="cannot see /feeds"):  # as Discord hides it
        await slash(harness, member, "feeds", "subscribe", url=host.url, key=public)
    elsewhere = await slash(
        harness, world.owner_id, "feeds", "subscribe", url="https://evil.example/feed"
    )
    assert "evil.example is not in [feeds] allowed_hosts" in elsewhere.content
    done = await slash(harness, world.owner_id, "feeds", "subscribe", url=host.url, key=public)
    assert "Subscribed: #1" in done.content and "signed" in done.content
    await harness.bot._refresh_feeds()  # the minutely check, now
    listing = await slash(harness, world.owner_id, "feeds", "list")
    assert "2 entries, last good copy" in listing.content
    _, incident = await harness.post(world.art_id, member, [("c.jpg", COPY)])
    assert incident is not None and incident.decision.action is Action.QUARANTINE
    entries = await harness.engine.storage.blocklist.list()
    assert {e.guild_id for e in entries} == {world.guild_id}  # this server only
    gone = await slash(harness, world.owner_id, "feeds", "unsubscribe", feed=1)
    assert "its 2 entries are gone" in gone.content
    _, incident = await harness.post(world.art_id, member, [("c.jpg", COPY)])
    assert incident is not None and incident.decision.action is not Action.QUARANTINE
