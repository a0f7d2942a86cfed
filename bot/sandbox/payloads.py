"""JSON shapes of Discord objects, with the field names the API documents.

Ids are strings and permissions are decimal strings, as Discord sends them (64-bit values do
not survive JavaScript numbers). Timestamps are ISO 8601 with an explicit offset.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.objects import (
    JSON,
    Application,
    Channel,
    Guild,
    Member,
    Role,
    Sticker,
    User,
    Webhook,
)
from bot.sandbox.snowflake import iso, snowflake_time
from bot.sandbox.state import World


def user(u: User) -> JSON:
    payload: JSON = {
        "id": str(u.id),
        "username": u.username,
        "discriminator": "0",
        "global_name": u.global_name,
        "avatar": u.avatar,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "collectibles": None,
        "clan": None,
    }
    if u.bot:
        payload["bot"] = True
    return payload


def current_user(u: User) -> JSON:
    """GET /users/@me: the account-level fields only the user itself sees."""
    payload = user(u)
    payload.update(
        {"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US", "bio": ""}
    )
    return payload


def member(m: Member, *, with_user: User | None = None, permissions: int | None = None) -> JSON:
    payload: JSON = {
        "roles": [str(r) for r in m.roles],
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "joined_at": iso(m.joined_at),
        "premium_since": None,
        "deaf": m.deaf,
        "mute": m.mute,
        "flags": m.flags,
        "pending": m.pending,
        "communication_disabled_until": (
            iso(m.communication_disabled_until) if m.communication_disabled_until else None
        ),
        "unusual_dm_activity_until": None,
    }
    if with_user is not None:
        payload["user"] = user(with_user)
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def role(r: Role) -> JSON:
    payload: JSON = {
        "id": str(r.id),
        "name": r.name,
        "description": None,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        payload["tags"] = {"bot_id": str(r.bot_id)}
    return payload


def channel(c: Channel, world: World) -> JSON:
    if c.guild_id is None:
        return {
            "id": str(c.id),
            "type": c.type,
            "last_message_id": str(c.last_message_id) if c.last_message_id else None,
            "flags": c.flags,
            "recipients": [user(world.users[r]) for r in c.recipient_ids if r in world.users],
        }
    payload: JSON = {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "name": c.name,
        "parent_id": str(c.parent_id) if c.parent_id else None,
        "nsfw": c.nsfw,
        "rate_limit_per_user": c.rate_limit_per_user,
        "last_message_id": str(c.last_message_id) if c.last_message_id else None,
        "flags": c.flags,
    }
    if c.is_thread:
        created = c.created_at or snowflake_time(c.id)
        payload.update(
            {
                "owner_id": str(c.owner_id) if c.owner_id else None,
                "message_count": c.message_count,
                "member_count": 1,
                "total_message_sent": c.message_count,
                "applied_tags": [str(t) for t in c.applied_tags],
                "thread_metadata": {
                    "archived": c.archived,
                    "auto_archive_duration": c.auto_archive_duration,
                    "archive_timestamp": iso(created),
                    "locked": c.locked,
                    "create_timestamp": iso(created),
                    **({"invitable": True} if c.type == 12 else {}),
                },
            }
        )
        return payload
    payload.update(
        {
            "position": c.position,
            "permission_overwrites": [
                {"id": str(o.id), "type": o.kind, "allow": str(o.allow), "deny": str(o.deny)}
                for o in c.overwrites
            ],
            "topic": c.topic,
        }
    )
    if c.type == 15:
        payload.update(
            {
                "available_tags": c.available_tags,
                "default_reaction_emoji": None,
                "default_sort_order": None,
                "default_forum_layout": 0,
                "default_thread_rate_limit_per_user": 0,
                "default_auto_archive_duration": 1440,
                "template": "",
            }
        )
    return payload


def sticker(s: Sticker) -> JSON:
    return {
        "id": str(s.id),
        "name": s.name,
        "description": s.description,
        "tags": s.tags,
        "type": 2,  # GUILD
        "format_type": s.format_type,
        "available": True,
        "guild_id": str(s.guild_id),
    }


def guild(g: Guild, world: World) -> JSON:
    """The REST guild object (GET /guilds/{id})."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "owner_id": str(g.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": g.verification_level,
        "default_message_notifications": 1,
        "explicit_content_filter": g.explicit_content_filter,
        "roles": [role(r) for r in sorted(g.roles.values(), key=lambda r: r.position)],
        "emojis": [],
        "stickers": [sticker(s) for s in g.stickers.values()],
        "features": list(g.features),
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(g.system_channel_id) if g.system_channel_id else None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_presences": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "description": g.description,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": g.preferred_locale,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": g.nsfw_level,
        "nsfw": g.nsfw_level in (1, 3),
        "hub_type": None,
        "incidents_data": None,
        "latest_onboarding_question_id": None,
    }


def guild_create(g: Guild, world: World) -> JSON:
    """The gateway GUILD_CREATE object: the REST guild plus members, channels and threads."""
    payload = guild(g, world)
    channels = [world.channels[c] for c in g.channel_ids]
    payload.update(
        {
            "joined_at": iso(g.joined_at),
            "large": len(g.members) > 250,
            "unavailable": False,
            "member_count": len(g.members),
            "voice_states": [],
            "members": [member(m, with_user=world.users[m.user_id]) for m in g.members.values()],
            "channels": [channel(c, world) for c in channels if not c.is_thread],
            "threads": [channel(c, world) for c in channels if c.is_thread and not c.archived],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "lazy": True,
            "application_command_counts": {},
            "version": 0,
        }
    )
    for entry in payload["channels"] + payload["threads"]:
        # Inside GUILD_CREATE channels carry no guild_id: the guild is implied.
        entry.pop("guild_id", None)
    return payload


def webhook(w: Webhook, world: World, *, with_token: bool = True) -> JSON:
    creator = world.users.get(w.creator_id or 0)
    payload: JSON = {
        "id": str(w.id),
        "type": w.type,
        "guild_id": str(w.guild_id) if w.guild_id else None,
        "channel_id": str(w.channel_id) if w.channel_id else None,
        "name": w.name,
        "avatar": w.avatar,
        "application_id": str(w.application_id) if w.application_id else None,
    }
    if creator is not None:
        payload["user"] = user(creator)
    if with_token and w.token is not None:
        payload["token"] = w.token
    return payload


def application(app: Application, world: World) -> JSON:
    """GET /oauth2/applications/@me."""
    bot = world.users[app.bot_user_id]
    return {
        "id": str(app.id),
        "name": app.name,
        "icon": None,
        "description": "Stops non-consensual intimate imagery from spreading (sandbox).",
        "summary": "",
        "type": None,
        "is_monetized": False,
        "is_verified": False,
        "is_discoverable": False,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "flags": app.flags,
        "hook": True,
        "owner": user(world.users[app.owner_id]),
        "team": None,
        "bot": user(bot),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "tags": [],
        "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
        "integration_types_config": {"0": {}},
        "approximate_guild_count": len(world.guilds),
        "approximate_user_install_count": 0,
    }


def tailor_member_list(payload: JSON, keep_user_id: int) -> JSON:
    """GUILD_CREATE as a session without the GUILD_MEMBERS intent gets it: only its own member."""
    trimmed = dict(payload)
    members: list[Any] = payload.get("members", [])
    trimmed["members"] = [m for m in members if m["user"]["id"] == str(keep_user_id)]
    return trimmed
