"""Connecting: READY and GUILD_CREATE fill discord.py's cache; login and intent failures."""

from __future__ import annotations

import discord
import pytest

from bot.sandbox import DemoWorld, Sandbox

from .conftest import SandboxBot, Starter, default_intents


async def test_ready_and_guild_create_populate_the_cache(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    assert bot.user is not None and bot.user.id == sandbox.bot_user_id
    assert bot.application_id == sandbox.application_id
    guild = bot.get_guild(world.guild_id)
    assert guild is not None and guild.name == "Consentry Demo"
    assert guild.owner_id == world.owner_id
    assert guild.default_role.id == guild.id
    assert guild.system_channel is not None and guild.system_channel.id == world.general_id
    assert {c.name for c in guild.text_channels} >= {"general", "art", "mod-alerts", "after-dark"}
    assert isinstance(guild.get_channel(world.forum_id), discord.ForumChannel)
    nsfw = guild.get_channel(world.nsfw_id)
    assert isinstance(nsfw, discord.TextChannel) and nsfw.is_nsfw()
    post = guild.get_thread(world.forum_post_id)
    assert post is not None and post.parent_id == world.forum_id
    moderator = guild.get_role(world.moderator_role_id)
    assert moderator is not None and moderator.permissions.moderate_members
    assert guild.me is not None and guild.me.guild_permissions.manage_messages
    assert bot.get_channel(world.mod_alerts_id).permissions_for(guild.me).view_channel  # type: ignore[union-attr]
    everyone_view = bot.get_channel(world.mod_alerts_id).permissions_for(guild.default_role)  # type: ignore[union-attr]
    assert not everyone_view.view_channel
    # Without the GUILD_MEMBERS intent Discord sends only the bot's own member.
    assert [m.id for m in guild.members] == [sandbox.bot_user_id]
    assert guild.member_count == 8
    assert sandbox.identify_count == 1


async def test_members_intent_brings_every_member(start_bot: Starter, world: DemoWorld) -> None:
    intents = default_intents()
    intents.members = True
    client = await start_bot(intents=intents)
    guild = client.get_guild(world.guild_id)
    assert guild is not None and guild.chunked
    assert len(guild.members) == 8
    moderator = guild.get_member(world.moderator_id)
    assert moderator is not None and moderator.guild_permissions.kick_members


async def test_world_changes_after_connect_arrive_as_events(
    bot: SandboxBot, sandbox: Sandbox, world: DemoWorld
) -> None:
    channel_created = bot.wait_for("guild_channel_create", timeout=5)
    new_id = sandbox.create_text_channel(world.guild_id, "late-arrival")
    channel = await channel_created
    assert channel.id == new_id
    guild_joined = bot.wait_for("guild_join", timeout=5)
    other = sandbox.create_guild("Second Server")
    assert (await guild_joined).id == other


async def test_bad_token_is_a_login_failure(start_bot: Starter, sandbox: Sandbox) -> None:
    with pytest.raises(discord.LoginFailure):
        await start_bot(token="not-the-token")
    failed = sandbox.find_requests("GET", "/users/@me")
    assert failed and failed[0].status == 401
    assert failed[0].response == {"message": "401: Unauthorized", "code": 0}


async def test_missing_message_content_privilege_closes_with_4014(
    start_bot: Starter, sandbox: Sandbox, world: DemoWorld
) -> None:
    sandbox.set_privileged_intents(message_content=False)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await start_bot()
