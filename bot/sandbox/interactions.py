"""Interactions a user starts: slash commands, context menus, component clicks, modal submits.

Each builds the INTERACTION_CREATE payload Discord would send, with the member's channel
permissions (``member.permissions``) and the app's (``app_permissions``) computed as Discord
does, and the ``resolved`` objects a command's options refer to.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.sandbox import media, payloads
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON, InteractionRecord
from bot.sandbox.permissions import P

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
_SUBCOMMAND, _GROUP = 1, 2
_STRING, _INTEGER, _BOOLEAN, _USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER, _ATTACHMENT = range(
    3, 12
)


def start(
    ctx: Context,
    *,
    kind: int,
    guild_id: int | None,
    channel_id: int,
    user_id: int,
    data: JSON | None,
    message: JSON | None = None,
    name: str | None = None,
) -> InteractionRecord:
    """Create the interaction, dispatch INTERACTION_CREATE and return its record."""
    world = ctx.world
    channel = world.channel(channel_id)
    user = world.user(user_id)
    interaction_id = world.ids.next()
    token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
    bot_perms = world.permissions_in(channel_id, world.application.bot_user_id) if guild_id else 0
    channel_payload = payloads.channel(channel, world)
    payload: JSON = {
        "id": str(interaction_id),
        "application_id": str(world.application.id),
        "type": kind,
        "channel_id": str(channel_id),
        "channel": channel_payload,
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": ctx.config.upload_limit,
        "app_permissions": str(bot_perms),
    }
    if data is not None:
        payload["data"] = data
    if message is not None:
        payload["message"] = message
    if guild_id is not None:
        guild = world.guild(guild_id)
        member = world.member(guild_id, user_id)
        user_perms = world.permissions_in(channel_id, user_id)
        channel_payload["permissions"] = str(user_perms)
        payload.update(
            {
                "guild_id": str(guild_id),
                "guild": {
                    "id": str(guild_id),
                    "locale": guild.preferred_locale,
                    "features": guild.features,
                },
                "guild_locale": guild.preferred_locale,
                "member": payloads.member(member, with_user=user, permissions=user_perms),
                "authorizing_integration_owners": {"0": str(guild_id)},
                "context": 0,
            }
        )
    else:
        payload.update(
            {
                "user": payloads.user(user),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            }
        )
    record = InteractionRecord(
        id=interaction_id,
        token=token,
        type=kind,
        guild_id=guild_id,
        channel_id=channel_id,
        user_id=user_id,
        payload=payload,
        created=time.monotonic(),
        name=name,
    )
    world.interactions[interaction_id] = record
    world.interaction_tokens[token] = interaction_id
    ctx.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
    return record


def find_command(ctx: Context, guild_id: int | None, name: str, kind: int) -> JSON:
    """The registered command a user would pick: the guild's own first, then the global one."""
    candidates = [c for c in ctx.world.commands.values() if c["name"] == name and c["type"] == kind]
    scoped = [c for c in candidates if c.get("guild_id") == (str(guild_id) if guild_id else None)]
    found = scoped or [c for c in candidates if c.get("guild_id") is None]
    if not found:
        raise LookupError(
            f"no application command {name!r} (type {kind}) is registered for guild {guild_id}: "
            "the bot has to sync its command tree first, as on Discord"
        )
    return found[0]


def check_visible(
    ctx: Context, command: JSON, guild_id: int | None, user_id: int, channel_id: int
) -> None:
    """Discord hides a command from members lacking its ``default_member_permissions``."""
    required = command.get("default_member_permissions")
    if guild_id is None or required is None:
        return
    granted = ctx.world.permissions_in(channel_id, user_id)
    needed = int(required)
    if not granted & P.ADMINISTRATOR and granted & needed != needed:
        raise PermissionError(f"user {user_id} cannot see /{command['name']} (needs {needed})")


def command_options(
    ctx: Context,
    command: JSON,
    path: Sequence[str],
    given: Mapping[str, Any],
    resolved: JSON,
    *,
    guild_id: int | None,
) -> list[JSON]:
    """Build ``data.options`` for a (sub)command path from plain values, checking the schema."""
    schema: list[JSON] = command.get("options") or []
    chain: list[JSON] = []
    for part in path:
        step = next(
            (o for o in schema if o["name"] == part and o["type"] in (_SUBCOMMAND, _GROUP)), None
        )
        if step is None:
            raise ValueError(f"/{command['name']} has no subcommand or group {part!r}")
        chain.append(step)
        schema = step.get("options") or []
    if any(o["type"] in (_SUBCOMMAND, _GROUP) for o in schema):
        raise ValueError(f"/{command['name']} needs a subcommand path, e.g. subcommand='...'")
    leaf: list[JSON] = []
    for name, value in given.items():
        spec = next((o for o in schema if o["name"] == name), None)
        if spec is None:
            raise ValueError(f"/{command['name']} has no option {name!r}")
        leaf.append(
            {
                "name": name,
                "type": spec["type"],
                "value": _option_value(ctx, spec["type"], value, resolved, guild_id),
            }
        )
    missing = [o["name"] for o in schema if o.get("required") and o["name"] not in given]
    if missing:
        raise ValueError(f"/{command['name']} is missing required options {missing}")
    options = leaf
    for step in reversed(chain):
        options = [{"name": step["name"], "type": step["type"], "options": options}]
    return options


def _option_value(ctx: Context, kind: int, value: Any, resolved: JSON, guild_id: int | None) -> Any:
    world = ctx.world
    if kind == _USER or (kind == _MENTIONABLE and int(value) in world.users):
        if int(value) not in world.users:
            raise ValueError(f"no user {value} for a user option")
        add_user(ctx, resolved, int(value), guild_id)
        return str(int(value))
    if kind in (_ROLE, _MENTIONABLE) and guild_id is not None:
        role = world.role(guild_id, int(value))
        resolved.setdefault("roles", {})[str(role.id)] = payloads.role(role)
        return str(role.id)
    if kind == _CHANNEL:
        channel = world.channel(int(value))
        entry = payloads.channel(channel, world)
        entry["permissions"] = str(world.permissions_in(channel.id, world.application.bot_user_id))
        resolved.setdefault("channels", {})[str(channel.id)] = entry
        return str(channel.id)
    if kind == _ATTACHMENT:
        filename, data = value[0], value[1]
        attachment = media.store_attachment(
            world,
            ctx.signer,
            cdn_base=ctx.urls.cdn_base,
            media_base=ctx.urls.media_base,
            folder="ephemeral-attachments",
            owner_id=world.application.id,
            filename=filename,
            data=data,
            content_type=value[2] if len(value) > 2 else None,
            ephemeral=True,
        )
        resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        return attachment["id"]
    if kind == _INTEGER:
        return int(value)
    if kind == _NUMBER:
        return float(value)
    if kind == _BOOLEAN:
        return bool(value)
    return str(value)


def add_user(ctx: Context, resolved: JSON, user_id: int, guild_id: int | None) -> None:
    """Put a user (and their member, in a guild) into ``resolved``."""
    world = ctx.world
    resolved.setdefault("users", {})[str(user_id)] = payloads.user(world.user(user_id))
    if guild_id is not None and user_id in world.guild(guild_id).members:
        member = world.member(guild_id, user_id)
        entry = payloads.member(member, permissions=world.guild_permissions(guild_id, user_id))
        resolved.setdefault("members", {})[str(user_id)] = entry


def find_component(components: Sequence[JSON], custom_id: str) -> JSON | None:
    """A component by ``custom_id`` anywhere in a message's (possibly nested) layout."""
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        nested = list(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                nested.append(component[key])
        found = find_component(nested, custom_id)
        if found is not None:
            return found
    return None


def modal_components(modal: JSON, values: Mapping[str, Any]) -> list[JSON]:
    """A modal submit's ``components``, mirroring the layout the app sent (rows or labels)."""
    submitted: list[JSON] = []
    for top in modal.get("components", []):
        if top.get("type") == 1:
            row = [_submitted(c, values) for c in top.get("components", []) if c.get("custom_id")]
            submitted.append({"type": 1, "components": row})
        elif top.get("type") == 18 and isinstance(top.get("component"), dict):
            submitted.append(
                {"type": 18, "id": top.get("id"), "component": _submitted(top["component"], values)}
            )
    return submitted


def _submitted(component: JSON, values: Mapping[str, Any]) -> JSON:
    custom_id = component["custom_id"]
    given = values.get(custom_id, component.get("value", ""))
    entry: JSON = {"type": component["type"], "custom_id": custom_id, "id": component.get("id")}
    if component["type"] == 4:
        entry["value"] = str(given)
    else:
        entry["values"] = (
            [str(v) for v in given] if isinstance(given, list | tuple) else [str(given)]
        )
    return entry
