"""Messages: creating, editing and deleting them, and the gateway events that follow.

Both the REST API (the bot) and the sandbox's user actions (people) go through these functions,
so a message looks and dispatches the same whoever wrote it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.sandbox import payloads
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON, Channel, StoredMessage, User, Webhook
from bot.sandbox.snowflake import iso, now_iso

_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
_ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")

DEFAULT, REPLY, CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND = 0, 19, 20, 23
FORWARD = 1
"""Discord's message reference type of a forward (0 is a reply)."""
# Discord: a message snapshot is "a minimal subset of fields in a message (e.g. author is
# excluded.)"; these are the fields it lists.
_SNAPSHOT_FIELDS = (
    "type",
    "content",
    "embeds",
    "attachments",
    "timestamp",
    "edited_timestamp",
    "flags",
    "mentions",
    "mention_roles",
    "sticker_items",
    "components",
)
EPHEMERAL, LOADING, SUPPRESS_EMBEDS = 1 << 6, 1 << 7, 1 << 2


def create(
    ctx: Context,
    channel: Channel,
    author: User,
    *,
    content: str = "",
    embeds: Sequence[JSON] = (),
    attachments: Sequence[JSON] = (),
    components: Sequence[JSON] = (),
    sticker_items: Sequence[JSON] = (),
    reference: JSON | None = None,
    allowed_mentions: JSON | None = None,
    webhook: Webhook | None = None,
    webhook_name: str | None = None,
    webhook_avatar: str | None = None,
    application_webhook: bool = False,
    interaction: JSON | None = None,
    message_type: int | None = None,
    flags: int = 0,
    tts: bool = False,
    nonce: str | int | None = None,
    message_id: int | None = None,
    ephemeral: bool = False,
    forwarded: StoredMessage | None = None,
) -> StoredMessage:
    """Store a new message and dispatch MESSAGE_CREATE (ephemeral ones are not dispatched).
    ``forwarded``: the message is a forward of that one, which it carries as a snapshot."""
    world = ctx.world
    new_id = message_id if message_id is not None else world.ids.next()
    author_payload = payloads.user(author)
    if webhook is not None:
        author_payload = {
            "id": str(webhook.id),
            "username": webhook_name or webhook.name,
            "avatar": webhook_avatar or webhook.avatar,
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": True,
            "global_name": None,
        }
    referenced = None
    if reference is not None and reference.get("message_id"):
        ref_channel = int(reference.get("channel_id") or channel.id)
        found = world.messages.get(ref_channel, {}).get(int(reference["message_id"]))
        if found is not None and not found.deleted:
            referenced = copy.deepcopy(found.payload)
    if message_type is None:
        message_type = REPLY if referenced is not None else DEFAULT
    payload: JSON = {
        "type": message_type,
        "content": content,
        "mentions": [],
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": resolve_embeds(embeds, attachments),
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "flags": flags | (EPHEMERAL if ephemeral else 0),
        "components": list(components),
        "id": str(new_id),
        "channel_id": str(channel.id),
        "author": author_payload,
        "pinned": False,
        "mention_everyone": False,
        "tts": tts,
    }
    _apply_mentions(ctx, payload, channel, allowed_mentions)
    if webhook is not None:
        payload["webhook_id"] = str(webhook.id)
        if webhook.application_id is not None:
            payload["application_id"] = str(webhook.application_id)
    if application_webhook:
        # Interaction responses are sent through the application's webhook.
        payload["webhook_id"] = payload["application_id"] = str(world.application.id)
    if sticker_items:
        payload["sticker_items"] = list(sticker_items)
    if referenced is not None and reference is not None:
        payload["message_reference"] = {
            "type": 0,
            "channel_id": str(reference.get("channel_id") or channel.id),
            "message_id": str(reference["message_id"]),
            **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
        }
        payload["referenced_message"] = referenced
    if forwarded is not None:
        payload["message_reference"] = _forward_reference(ctx, forwarded)
        original = forwarded.payload
        payload["message_snapshots"] = [
            {"message": {k: copy.deepcopy(original[k]) for k in _SNAPSHOT_FIELDS if k in original}}
        ]
    if interaction is not None:
        payload["interaction_metadata"] = interaction
    if nonce is not None:
        payload["nonce"] = nonce
    if channel.is_thread:
        payload["position"] = channel.message_count
    stored = StoredMessage(payload=payload)
    _hide_embedded(stored)
    if ephemeral:
        world.ephemeral[new_id] = stored
        return stored
    world.messages.setdefault(channel.id, {})[new_id] = stored
    channel.last_message_id = new_id
    if channel.is_thread:
        channel.message_count += 1
    ctx.gateway.dispatch("MESSAGE_CREATE", gateway_form(ctx, stored), guild_id=channel.guild_id)
    return stored


def _forward_reference(ctx: Context, forwarded: StoredMessage) -> JSON:
    channel = ctx.world.channel(int(forwarded.payload["channel_id"]))
    reference: JSON = {
        "type": FORWARD,
        "channel_id": str(channel.id),
        "message_id": forwarded.payload["id"],
    }
    if channel.guild_id is not None:
        reference["guild_id"] = str(channel.guild_id)
    return reference


def _hide_embedded(stored: StoredMessage) -> None:
    """Move the files the embeds show out of ``attachments``, as Discord does."""
    payload = stored.payload
    shown = {
        media["url"]
        for embed in payload["embeds"]
        for key in ("image", "thumbnail", "video")
        if isinstance(media := embed.get(key), dict)
    }
    stored.embedded += [a for a in payload["attachments"] if a["url"] in shown]
    payload["attachments"] = [a for a in payload["attachments"] if a["url"] not in shown]


def resolve_embeds(embeds: Iterable[JSON], attachments: Sequence[JSON]) -> list[JSON]:
    """Embeds as Discord stores them: typed, and ``attachment://name`` resolved to CDN URLs."""
    by_name = {a["filename"]: a for a in attachments}
    resolved: list[JSON] = []
    for embed in embeds:
        entry = copy.deepcopy(embed)
        entry.setdefault("type", "rich")
        entry.setdefault("content_scan_version", 0)
        for key in ("image", "thumbnail", "video"):
            media = entry.get(key)
            if not isinstance(media, dict) or not isinstance(media.get("url"), str):
                continue
            url: str = media["url"]
            if url.startswith("attachment://"):
                attachment = by_name.get(url.removeprefix("attachment://"))
                if attachment is not None:
                    media["url"] = attachment["url"]
                    media["proxy_url"] = attachment["proxy_url"]
                    for field in ("width", "height", "content_type"):
                        if field in attachment:
                            media[field] = attachment[field]
            media.setdefault("proxy_url", media["url"])
            media.setdefault("flags", 0)
        resolved.append(entry)
    return resolved


def _apply_mentions(ctx: Context, payload: JSON, channel: Channel, allowed: JSON | None) -> None:
    content: str = payload["content"]
    parse = set(allowed.get("parse", [])) if allowed is not None else {"users", "roles", "everyone"}
    allowed_users = {int(u) for u in (allowed or {}).get("users", [])}
    allowed_roles = {int(r) for r in (allowed or {}).get("roles", [])}
    for match in _USER_MENTION.finditer(content):
        user_id = int(match.group(1))
        user = ctx.world.users.get(user_id)
        if user is None or not ("users" in parse or user_id in allowed_users):
            continue
        if all(m["id"] != str(user_id) for m in payload["mentions"]):
            payload["mentions"].append(payloads.user(user))
    if channel.guild_id is not None:
        roles = ctx.world.guild(channel.guild_id).roles
        for match in _ROLE_MENTION.finditer(content):
            role_id = int(match.group(1))
            if role_id in roles and ("roles" in parse or role_id in allowed_roles):
                payload["mention_roles"].append(str(role_id))
    if "everyone" in parse and ("@everyone" in content or "@here" in content):
        payload["mention_everyone"] = True


def gateway_form(ctx: Context, stored: StoredMessage) -> JSON:
    """The message as a gateway event carries it: with ``guild_id`` and the author's ``member``."""
    data = copy.deepcopy(stored.payload)
    channel = ctx.world.channels.get(int(data["channel_id"]))
    if channel is None or channel.guild_id is None:
        return data
    guild = ctx.world.guild(channel.guild_id)
    data["guild_id"] = str(guild.id)
    author = guild.members.get(stored.author_id)
    if author is not None and "webhook_id" not in data:
        data["member"] = payloads.member(author)
    for mention in data["mentions"]:
        mentioned = guild.members.get(int(mention["id"]))
        if mentioned is not None:
            mention["member"] = payloads.member(mentioned)
    return data


def update(
    ctx: Context,
    stored: StoredMessage,
    changes: JSON,
    *,
    edited: bool = True,
    new_attachments: Sequence[JSON] = (),
) -> StoredMessage:
    """Apply an edit and dispatch MESSAGE_UPDATE with the full message, as Discord now does.

    ``edited=False`` is for changes that are not the author's edit (a link unfurling into an
    embed later): ``edited_timestamp`` stays as it was.
    """
    payload = stored.payload
    for key in ("content", "components"):
        if key in changes and changes[key] is not None:
            payload[key] = changes[key]
    if changes.get("flags") is not None:
        payload["flags"] = int(changes["flags"]) | (int(payload["flags"]) & EPHEMERAL)
    if "attachments" in changes and changes["attachments"] is not None:
        # The array lists every file to keep: one an embed shows is dropped unless listed.
        kept_ids = {str(a.get("id")) for a in changes["attachments"]}
        payload["attachments"] = [a for a in payload["attachments"] if a["id"] in kept_ids]
        stored.embedded = [a for a in stored.embedded if a["id"] in kept_ids]
    payload["attachments"] = payload["attachments"] + stored.embedded + list(new_attachments)
    stored.embedded = []
    if "embeds" in changes and changes["embeds"] is not None:
        payload["embeds"] = resolve_embeds(changes["embeds"], payload["attachments"])
    _hide_embedded(stored)
    if edited:
        payload["edited_timestamp"] = iso(datetime.now(UTC))
    if int(payload["flags"]) & EPHEMERAL:
        return stored
    channel = ctx.world.channel(int(payload["channel_id"]))
    ctx.gateway.dispatch("MESSAGE_UPDATE", gateway_form(ctx, stored), guild_id=channel.guild_id)
    return stored


def delete(ctx: Context, stored: StoredMessage) -> None:
    """Mark a message deleted and dispatch MESSAGE_DELETE."""
    stored.deleted = True
    channel = ctx.world.channel(int(stored.payload["channel_id"]))
    data: JSON = {"id": str(stored.id), "channel_id": str(channel.id)}
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
    ctx.gateway.dispatch("MESSAGE_DELETE", data, guild_id=channel.guild_id)


def delete_bulk(ctx: Context, channel: Channel, found: Sequence[StoredMessage]) -> None:
    """Mark messages deleted and dispatch one MESSAGE_DELETE_BULK."""
    for stored in found:
        stored.deleted = True
    data: dict[str, Any] = {"ids": [str(m.id) for m in found], "channel_id": str(channel.id)}
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
    ctx.gateway.dispatch("MESSAGE_DELETE_BULK", data, guild_id=channel.guild_id)
