"""Failure injection: rate limits, server errors, gateway reconnects and dropped connections."""

from __future__ import annotations

import re
import time

import discord
import pytest

from bot.sandbox import DemoWorld, Sandbox

from .conftest import SandboxBot, expect


def text_channel(bot: SandboxBot, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_a_429_is_retried_after_retry_after(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    sandbox.fail_next("POST", "/channels/{channel_id}/messages", 429, retry_after=0.25)
    started = time.monotonic()
    sent = await text_channel(bot, world.general_id).send("hello after a rate limit")
    elapsed = time.monotonic() - started
    attempts = sandbox.find_requests("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[0].response == {
        "message": "You are being rate limited.",
        "retry_after": 0.25,
        "global": False,
    }
    assert elapsed >= 0.25
    assert sandbox.message(world.general_id, sent.id) is not None


async def test_a_global_429_with_a_code(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    sandbox.fail_next(
        "POST", re.compile(r"/channels/\d+/messages$"), 429, retry_after=0.1, global_=True, code=0
    )
    await text_channel(bot, world.general_id).send("x")
    first = sandbox.find_requests("POST", "/channels/{channel_id}/messages")[0]
    assert first.status == 429 and first.response["global"] is True


async def test_a_500_is_retried(bot: SandboxBot, sandbox: Sandbox, world: DemoWorld) -> None:
    sandbox.fail_next("POST", "/channels/{channel_id}/messages", 500)
    await text_channel(bot, world.general_id).send("survives a 500")  # discord.py waits 1 s
    statuses = [r.status for r in sandbox.find_requests("POST", "/channels/{channel_id}/messages")]
    assert statuses == [500, 200]


async def test_a_503_is_not_retried_by_discord_py(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    sandbox.fail_next("POST", "/channels/{channel_id}/messages", 503)
    with pytest.raises(discord.DiscordServerError):
        await text_channel(bot, world.general_id).send("lost")


async def test_unknown_routes_are_404_and_recorded(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    with pytest.raises(discord.NotFound) as caught:
        await bot.http.request(
            discord.http.Route("GET", "/stage-instances/{channel_id}", channel_id=world.general_id)
        )
    assert caught.value.code == 0
    gap = sandbox.find_requests("GET", f"/stage-instances/{world.general_id}")
    assert gap and gap[0].status == 404


async def test_request_reconnect_leads_to_a_resume(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    resumed = expect(bot, "resumed")
    await sandbox.request_reconnect()
    await resumed
    assert (sandbox.identify_count, sandbox.resume_count) == (1, 1)
    # discord.py resumes on READY's resume_gateway_url.
    assert sandbox.gateway_stats.handshakes[-1] == ("/resume", 6)
    arrived = expect(bot, "message")
    await sandbox.post_message(world.general_id, world.member_ids[0], "after reconnect")
    assert (await arrived).content == "after reconnect"


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-4000", "tcp-cut"])
async def test_a_dropped_connection_resumes_and_replays_missed_events(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld, abrupt: bool
) -> None:
    first = expect(bot, "message", lambda m: m.content == "while away 1")
    second = expect(bot, "message", lambda m: m.content == "while away 2")
    await sandbox.drop_connection(abrupt=abrupt, wait=False)
    await sandbox.post_message(world.general_id, world.member_ids[0], "while away 1")
    await sandbox.post_message(world.art_id, world.member_ids[1], "while away 2")
    assert (await first).channel.id == world.general_id
    assert (await second).channel.id == world.art_id
    await sandbox.wait_until_connected()
    assert (sandbox.identify_count, sandbox.resume_count) == (1, 1)
