"""Reading guilds, channels, roles and members, and the audit log."""

from __future__ import annotations

from bot.sandbox import audit, errors, payloads
from bot.sandbox.objects import Guild, Member
from bot.sandbox.permissions import P
from bot.sandbox.routing import Call, Reply, Routes

routes = Routes()


def guild_of(call: Call) -> Guild:
    """The guild in the path; 403 50001 if the bot is not in it."""
    guild = call.ctx.world.guild(call.snowflake("guild_id"))
    if call.bot_id not in guild.members:
        raise errors.missing_access()
    return guild


def member_event(call: Call, guild: Guild, member: Member) -> None:
    """Dispatch GUILD_MEMBER_UPDATE for ``member``."""
    data = payloads.member(member, with_user=call.ctx.world.user(member.user_id))
    data["guild_id"] = str(guild.id)
    call.ctx.gateway.dispatch("GUILD_MEMBER_UPDATE", data, guild_id=guild.id)


def may_moderate(call: Call, guild: Guild, target_id: int) -> None:
    """403 50013 unless the bot outranks the target (never itself or the owner)."""
    if target_id == call.bot_id or not call.ctx.world.outranks(guild.id, call.bot_id, target_id):
        raise errors.missing_permissions()


@routes.route("GET", "/guilds/{guild_id}")
async def get_guild(call: Call) -> Reply:
    guild = guild_of(call)
    body = payloads.guild(guild, call.ctx.world)
    if call.query.get("with_counts") == "true":
        body["approximate_member_count"] = len(guild.members)
        body["approximate_presence_count"] = 0
    return 200, body


@routes.route("GET", "/guilds/{guild_id}/channels")
async def get_channels(call: Call) -> Reply:
    guild = guild_of(call)
    world = call.ctx.world
    return 200, [
        payloads.channel(c, world) for c in world.guild_channels(guild.id) if not c.is_thread
    ]


@routes.route("GET", "/guilds/{guild_id}/threads/active")
async def active_threads(call: Call) -> Reply:
    guild = guild_of(call)
    world = call.ctx.world
    threads = [c for c in world.guild_channels(guild.id) if c.is_thread and not c.archived]
    return 200, {"threads": [payloads.channel(t, world) for t in threads], "members": []}


@routes.route("GET", "/channels/{channel_id}")
async def get_channel(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    if channel.guild_id is not None:
        world.require(channel.id, call.bot_id)
    return 200, payloads.channel(channel, world)


@routes.route("GET", "/guilds/{guild_id}/roles")
async def get_roles(call: Call) -> Reply:
    guild = guild_of(call)
    return 200, [payloads.role(r) for r in sorted(guild.roles.values(), key=lambda r: r.position)]


@routes.route("GET", "/guilds/{guild_id}/members")
async def list_members(call: Call) -> Reply:
    guild = guild_of(call)
    if not call.ctx.world.application.members:
        raise errors.missing_access()  # listing members needs the GUILD_MEMBERS privilege
    limit = max(1, min(1000, int(call.query.get("limit", "1"))))
    after = int(call.query.get("after", "0"))
    chosen = sorted(
        (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
    )
    world = call.ctx.world
    return 200, [payloads.member(m, with_user=world.user(m.user_id)) for m in chosen[:limit]]


@routes.route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(call: Call) -> Reply:
    guild = guild_of(call)
    member = call.ctx.world.member(guild.id, call.snowflake("user_id"))
    return 200, payloads.member(member, with_user=call.ctx.world.user(member.user_id))


@routes.route("PATCH", "/guilds/{guild_id}/members/@me")
async def edit_own_member(call: Call) -> Reply:
    guild = guild_of(call)
    member = guild.members[call.bot_id]
    if "nick" in call.body():
        call.ctx.world.require_guild(guild.id, call.bot_id, P.CHANGE_NICKNAME)
        member.nick = call.body()["nick"] or None
        member_event(call, guild, member)
    return 200, payloads.member(member, with_user=call.ctx.world.user(call.bot_id))


@routes.route("GET", "/guilds/{guild_id}/audit-logs")
async def audit_logs(call: Call) -> Reply:
    guild = guild_of(call)
    world = call.ctx.world
    world.require_guild(guild.id, call.bot_id, P.VIEW_AUDIT_LOG)
    entries = list(reversed(guild.audit_log))
    if "action_type" in call.query:
        entries = [e for e in entries if e.action_type == int(call.query["action_type"])]
    if "user_id" in call.query:
        entries = [e for e in entries if e.user_id == int(call.query["user_id"])]
    if "before" in call.query:
        entries = [e for e in entries if e.id < int(call.query["before"])]
    if "after" in call.query:
        entries = [e for e in entries if e.id > int(call.query["after"])]
    entries = entries[: max(1, min(100, int(call.query.get("limit", "50"))))]
    user_ids = {e.user_id for e in entries} | {e.target_id for e in entries if e.target_id}
    return 200, {
        "audit_log_entries": [audit.entry_payload(e) for e in entries],
        "users": [payloads.user(world.users[u]) for u in user_ids if u in world.users],
        "webhooks": [],
        "integrations": [],
        "threads": [],
        "application_commands": [],
        "auto_moderation_rules": [],
        "guild_scheduled_events": [],
    }
