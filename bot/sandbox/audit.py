"""The guild audit log: entries for moderation done through the API, with their reasons."""

from __future__ import annotations

from bot.sandbox import permissions
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON, AuditEntry

WEBHOOK_CREATE = 50
MEMBER_KICK = 20
MEMBER_BAN_ADD = 22
MEMBER_BAN_REMOVE = 23
MEMBER_UPDATE = 24
MEMBER_ROLE_UPDATE = 25
MESSAGE_DELETE = 72
MESSAGE_BULK_DELETE = 73


def entry_payload(entry: AuditEntry) -> JSON:
    payload: JSON = {
        "id": str(entry.id),
        "user_id": str(entry.user_id),
        "target_id": str(entry.target_id) if entry.target_id is not None else None,
        "action_type": entry.action_type,
        "changes": entry.changes,
        "reason": entry.reason,
    }
    if entry.options is not None:
        payload["options"] = entry.options
    return payload


def record(
    ctx: Context,
    guild_id: int,
    *,
    action_type: int,
    user_id: int,
    target_id: int | None,
    reason: str | None,
    changes: list[JSON] | None = None,
    options: JSON | None = None,
) -> AuditEntry:
    """Append an entry and dispatch GUILD_AUDIT_LOG_ENTRY_CREATE (for apps that may view it)."""
    world = ctx.world
    guild = world.guild(guild_id)
    entry = AuditEntry(
        id=world.ids.next(),
        guild_id=guild_id,
        action_type=action_type,
        user_id=user_id,
        target_id=target_id,
        reason=reason,
        changes=changes or [],
        options=options,
    )
    guild.audit_log.append(entry)
    bot_id = world.application.bot_user_id
    if bot_id in guild.members:
        granted = world.guild_permissions(guild_id, bot_id)
        if permissions.has(granted, permissions.P.VIEW_AUDIT_LOG):
            event = entry_payload(entry)
            event["guild_id"] = str(guild_id)
            ctx.gateway.dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", event, guild_id=guild_id)
    return entry
