"""Moderation actions and webhooks: timeouts, kicks, bans, webhook sends, DMs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import discord
import pytest

from bot.sandbox import DemoWorld, Sandbox
from bot.sandbox.permissions import DEFAULT_BOT, P

from .conftest import SandboxBot, expect


async def test_member_timeout_patch_is_recorded(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    target = await guild.fetch_member(world.member_ids[1])
    await target.timeout(timedelta(minutes=10), reason="posted NCII")
    request = await sandbox.wait_for_request("PATCH", "/guilds/{guild_id}/members/{user_id}")
    assert request.status == 200 and request.reason == "posted NCII"
    until = datetime.fromisoformat(request.json["communication_disabled_until"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)
    member = sandbox.member(world.guild_id, world.member_ids[1])
    assert member is not None and member["communication_disabled_until"] is not None
    with pytest.raises(PermissionError):  # a timed-out member cannot post
        await sandbox.post_message(world.general_id, world.member_ids[1], "still here?")


async def test_moderation_respects_the_role_hierarchy(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    guild = bot.get_guild(world.guild_id)
    assert guild is not None
    with pytest.raises(discord.Forbidden) as caught:
        await guild.kick(discord.Object(world.owner_id))
    assert caught.value.code == 50013
    await guild.ban(
        discord.Object(world.member_ids[3]), reason="repeat offender", delete_message_seconds=0
    )
    assert sandbox.banned(world.guild_id) == {world.member_ids[3]: "repeat offender"}
    assert sandbox.member(world.guild_id, world.member_ids[3]) is None


async def test_webhook_send_with_a_username(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    channel = bot.get_channel(world.mod_alerts_id)
    assert isinstance(channel, discord.TextChannel)
    webhook = await channel.create_webhook(name="Consentry alerts")
    arrived = expect(bot, "message", lambda m: m.webhook_id is not None)
    sent = await webhook.send("evidence stored", username="Consentry Evidence", wait=True)
    assert (await arrived).id == sent.id
    stored = sandbox.messages(world.mod_alerts_id)[-1]
    assert stored["webhook_id"] == str(webhook.id)
    assert stored["author"]["username"] == "Consentry Evidence" and stored["author"]["bot"]
    assert (
        sandbox.find_requests("POST", "/webhooks/{webhook_id}/{webhook_token}")[0].query["wait"]
        == "1"
    )


async def test_direct_messages(bot: SandboxBot, sandbox: Sandbox, world: DemoWorld) -> None:
    user = await bot.fetch_user(world.member_ids[0])
    sent = await user.send("Your image was removed.")
    dm_id = sandbox.open_dm(world.member_ids[0])
    assert sandbox.messages(dm_id)[-1]["id"] == str(sent.id)
    closed = sandbox.create_user("private-person", accepts_dms=False)
    with pytest.raises(discord.Forbidden) as caught:
        await (await bot.fetch_user(closed)).send("hello")
    assert caught.value.code == 50007


async def test_slow_mode_needs_manage_channels_and_stays_within_discords_bounds(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    channel = bot.get_channel(world.art_id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden):  # the bot's default role lacks Manage Channels
        await channel.edit(slowmode_delay=30)
    sandbox.set_bot_permissions(world.guild_id, DEFAULT_BOT | int(P.MANAGE_CHANNELS))
    edited = await channel.edit(slowmode_delay=30, reason="campaign 1")
    assert edited is not None and edited.slowmode_delay == 30
    request = sandbox.find_requests("PATCH", "/channels/{channel_id}")[-1]
    assert request.status == 200 and request.reason == "campaign 1"
    with pytest.raises(discord.HTTPException) as caught:
        await channel.edit(slowmode_delay=30_000)
    assert caught.value.code == 50035
