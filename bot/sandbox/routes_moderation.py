"""Moderation: member edits (timeouts, nicknames, roles), kicks, bans and unbans.

Discord's checks apply: the permission for each action, the role hierarchy (nobody moderates
the owner or someone ranked at or above them), no timeouts for administrators, at most 28 days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox import audit, errors, messages, payloads
from bot.sandbox import permissions as perm
from bot.sandbox.objects import JSON, Ban, Guild, Member
from bot.sandbox.permissions import P
from bot.sandbox.routes_guilds import guild_of, may_moderate, member_event
from bot.sandbox.routing import NO_CONTENT, Call, Reply, Routes
from bot.sandbox.snowflake import iso, parse_iso, snowflake_time

routes = Routes()

_MAX_TIMEOUT = timedelta(days=28)


@routes.route("PATCH", "/guilds/{guild_id}/members/{user_id}")
async def edit_member(call: Call) -> Reply:
    """Nick, roles, timeout (``communication_disabled_until``), mute and deafen."""
    guild = guild_of(call)
    world = call.ctx.world
    member = world.member(guild.id, call.snowflake("user_id"))
    body = call.body()
    changes: list[JSON] = []
    if "communication_disabled_until" in body:
        _set_timeout(call, guild, member, body["communication_disabled_until"], changes)
    if "nick" in body:
        world.require_guild(guild.id, call.bot_id, P.MANAGE_NICKNAMES)
        may_moderate(call, guild, member.user_id)
        changes.append({"key": "nick", "old_value": member.nick, "new_value": body["nick"]})
        member.nick = body["nick"] or None
    if "roles" in body and body["roles"] is not None:
        wanted = [int(r) for r in body["roles"]]
        for role_id in set(wanted) ^ set(member.roles):
            _may_assign(call, guild, role_id)
        member.roles = wanted
    for key, flag in (("mute", P.MUTE_MEMBERS), ("deaf", P.DEAFEN_MEMBERS)):
        if key in body:
            world.require_guild(guild.id, call.bot_id, flag)
            setattr(member, key, bool(body[key]))
    if changes:
        audit.record(
            call.ctx,
            guild.id,
            action_type=audit.MEMBER_UPDATE,
            user_id=call.bot_id,
            target_id=member.user_id,
            reason=call.reason,
            changes=changes,
        )
    member_event(call, guild, member)
    return 200, payloads.member(member, with_user=world.user(member.user_id))


def _set_timeout(call: Call, guild: Guild, member: Member, raw: Any, changes: list[JSON]) -> None:
    world = call.ctx.world
    world.require_guild(guild.id, call.bot_id, P.MODERATE_MEMBERS)
    may_moderate(call, guild, member.user_id)
    if perm.has(world.guild_permissions(guild.id, member.user_id), P.ADMINISTRATOR):
        raise errors.missing_permissions()  # administrators cannot be timed out
    until: datetime | None = None
    if raw is not None:
        try:
            until = parse_iso(str(raw))
        except ValueError:
            raise errors.invalid_form(
                "communication_disabled_until", "DATE_TYPE_PARSE", "Could not parse date."
            ) from None
        if until > datetime.now(UTC) + _MAX_TIMEOUT:
            raise errors.invalid_form(
                "communication_disabled_until",
                "COMMUNICATION_DISABLED_UNTIL_INVALID",
                "Timeout must be less than 28 days in the future.",
            )
    old = member.communication_disabled_until
    member.communication_disabled_until = until
    changes.append(
        {
            "key": "communication_disabled_until",
            "old_value": iso(old) if old else None,
            "new_value": iso(until) if until else None,
        }
    )


def _may_assign(call: Call, guild: Guild, role_id: int) -> None:
    world = call.ctx.world
    role = world.role(guild.id, role_id)
    world.require_guild(guild.id, call.bot_id, P.MANAGE_ROLES)
    if role.managed or role.id == guild.id:
        raise errors.missing_permissions()
    if call.bot_id != guild.owner_id and role.position >= world.top_role_position(
        guild.id, call.bot_id
    ):
        raise errors.missing_permissions()


@routes.route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
@routes.route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def change_member_role(call: Call) -> Reply:
    guild = guild_of(call)
    member = call.ctx.world.member(guild.id, call.snowflake("user_id"))
    role_id = call.snowflake("role_id")
    _may_assign(call, guild, role_id)
    before = list(member.roles)
    if call.method == "PUT" and role_id not in member.roles:
        member.roles.append(role_id)
    elif call.method == "DELETE" and role_id in member.roles:
        member.roles.remove(role_id)
    if member.roles != before:
        key = "$add" if call.method == "PUT" else "$remove"
        role = guild.roles[role_id]
        audit.record(
            call.ctx,
            guild.id,
            action_type=audit.MEMBER_ROLE_UPDATE,
            user_id=call.bot_id,
            target_id=member.user_id,
            reason=call.reason,
            changes=[{"key": key, "new_value": [{"id": str(role.id), "name": role.name}]}],
        )
        member_event(call, guild, member)
    return NO_CONTENT


def remove_member(call: Call, guild: Guild, user_id: int) -> None:
    """Take a member out of the guild and dispatch GUILD_MEMBER_REMOVE."""
    del guild.members[user_id]
    data = {"guild_id": str(guild.id), "user": payloads.user(call.ctx.world.user(user_id))}
    call.ctx.gateway.dispatch("GUILD_MEMBER_REMOVE", data, guild_id=guild.id)


@routes.route("DELETE", "/guilds/{guild_id}/members/{user_id}")
async def kick(call: Call) -> Reply:
    guild = guild_of(call)
    member = call.ctx.world.member(guild.id, call.snowflake("user_id"))
    call.ctx.world.require_guild(guild.id, call.bot_id, P.KICK_MEMBERS)
    may_moderate(call, guild, member.user_id)
    remove_member(call, guild, member.user_id)
    audit.record(
        call.ctx,
        guild.id,
        action_type=audit.MEMBER_KICK,
        user_id=call.bot_id,
        target_id=member.user_id,
        reason=call.reason,
    )
    return NO_CONTENT


@routes.route("PUT", "/guilds/{guild_id}/bans/{user_id}")
async def ban(call: Call) -> Reply:
    """Ban (members or not), removing their recent messages as ``delete_message_seconds`` asks."""
    guild = guild_of(call)
    world = call.ctx.world
    user = world.user(call.snowflake("user_id"))
    world.require_guild(guild.id, call.bot_id, P.BAN_MEMBERS)
    raw = call.body().get("delete_message_seconds", call.query.get("delete_message_seconds", 0))
    seconds = int(raw)
    if not 0 <= seconds <= 604800:
        raise errors.invalid_form(
            "delete_message_seconds", "NUMBER_TYPE_MAX", "int value should be <= 604800 and >= 0."
        )
    if user.id in guild.members:
        may_moderate(call, guild, user.id)
        remove_member(call, guild, user.id)
    guild.bans[user.id] = Ban(user_id=user.id, reason=call.reason)
    call.ctx.gateway.dispatch(
        "GUILD_BAN_ADD", {"guild_id": str(guild.id), "user": payloads.user(user)}, guild_id=guild.id
    )
    if seconds:
        cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
        for channel in world.guild_channels(guild.id):
            doomed = [
                m
                for m in world.live_messages(channel.id)
                if m.author_id == user.id and snowflake_time(m.id) >= cutoff
            ]
            if doomed:
                messages.delete_bulk(call.ctx, channel, doomed)
    audit.record(
        call.ctx,
        guild.id,
        action_type=audit.MEMBER_BAN_ADD,
        user_id=call.bot_id,
        target_id=user.id,
        reason=call.reason,
    )
    return NO_CONTENT


@routes.route("DELETE", "/guilds/{guild_id}/bans/{user_id}")
async def unban(call: Call) -> Reply:
    guild = guild_of(call)
    call.ctx.world.require_guild(guild.id, call.bot_id, P.BAN_MEMBERS)
    user_id = call.snowflake("user_id")
    if guild.bans.pop(user_id, None) is None:
        raise errors.unknown("Ban")
    user = payloads.user(call.ctx.world.user(user_id))
    call.ctx.gateway.dispatch(
        "GUILD_BAN_REMOVE", {"guild_id": str(guild.id), "user": user}, guild_id=guild.id
    )
    audit.record(
        call.ctx,
        guild.id,
        action_type=audit.MEMBER_BAN_REMOVE,
        user_id=call.bot_id,
        target_id=user_id,
        reason=call.reason,
    )
    return NO_CONTENT


@routes.route("GET", "/guilds/{guild_id}/bans/{user_id}")
async def get_ban(call: Call) -> Reply:
    guild = guild_of(call)
    call.ctx.world.require_guild(guild.id, call.bot_id, P.BAN_MEMBERS)
    found = guild.bans.get(call.snowflake("user_id"))
    if found is None:
        raise errors.unknown("Ban")
    return 200, {"user": payloads.user(call.ctx.world.user(found.user_id)), "reason": found.reason}


@routes.route("GET", "/guilds/{guild_id}/bans")
async def list_bans(call: Call) -> Reply:
    guild = guild_of(call)
    call.ctx.world.require_guild(guild.id, call.bot_id, P.BAN_MEMBERS)
    users = call.ctx.world.users
    return 200, [
        {"user": payloads.user(users[b.user_id]), "reason": b.reason} for b in guild.bans.values()
    ]
