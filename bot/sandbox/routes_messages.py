"""Channel messages: send, fetch, list, edit, delete, bulk delete, reactions, typing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.sandbox import audit, drafts, errors, intents, messages, payloads
from bot.sandbox.objects import (
    GUILD_CATEGORY,
    GUILD_FORUM,
    GUILD_VOICE,
    JSON,
    Channel,
    StoredMessage,
)
from bot.sandbox.permissions import P
from bot.sandbox.routing import NO_CONTENT, Call, Reply, Routes
from bot.sandbox.snowflake import snowflake_time

routes = Routes()

_BULK_MAX_AGE = timedelta(days=14)


def _readable(call: Call) -> Channel:
    channel = call.ctx.world.channel(call.snowflake("channel_id"))
    if channel.guild_id is not None:
        call.ctx.world.require(channel.id, call.bot_id, P.READ_MESSAGE_HISTORY)
    return channel


def _sticker_items(call: Call, channel: Channel, sticker_ids: list[int]) -> list[JSON]:
    items: list[JSON] = []
    for sticker_id in sticker_ids:
        found = next(
            (
                g.stickers[sticker_id]
                for g in call.ctx.world.guilds.values()
                if sticker_id in g.stickers
            ),
            None,
        )
        if found is None:
            raise errors.unknown("Sticker")
        items.append({"id": str(found.id), "name": found.name, "format_type": found.format_type})
    return items


@routes.route("POST", "/channels/{channel_id}/messages")
async def create_message(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    if channel.type in (GUILD_CATEGORY, GUILD_FORUM, GUILD_VOICE):
        raise errors.bad_request(50008, "Cannot send messages in a non-text channel")
    draft = drafts.read(call.ctx, call.json, call.files, file_owner_id=channel.id)
    if channel.guild_id is None:
        recipient = world.user(channel.recipient_ids[0])
        if not recipient.accepts_dms or recipient.bot:
            raise errors.forbidden(50007, "Cannot send messages to this user")
    else:
        needed = [P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES]
        if draft.embeds:
            needed.append(P.EMBED_LINKS)
        if draft.new_attachments:
            needed.append(P.ATTACH_FILES)
        if draft.reference is not None:
            needed.append(P.READ_MESSAGE_HISTORY)
        world.require(channel.id, call.bot_id, *needed)
        if channel.is_thread and channel.locked:
            raise errors.forbidden(50083, "Thread is archived")
    if draft.is_empty():
        raise errors.empty_message()
    repeated = _same_nonce(call, channel.id, draft)
    if repeated is not None:
        return 200, repeated.payload
    if draft.reference is not None and draft.reference.get("fail_if_not_exists", True):
        target = world.messages.get(int(draft.reference.get("channel_id") or channel.id), {})
        found = target.get(int(draft.reference.get("message_id") or 0))
        if found is None or found.deleted:
            raise errors.invalid_form(
                "message_reference", "REPLIES_UNKNOWN_MESSAGE", "Unknown message"
            )
    stored = messages.create(
        call.ctx,
        channel,
        world.user(call.bot_id),
        content=draft.content or "",
        embeds=draft.embeds or [],
        attachments=draft.new_attachments,
        components=draft.components or [],
        sticker_items=_sticker_items(call, channel, draft.sticker_ids),
        reference=draft.reference,
        allowed_mentions=draft.allowed_mentions,
        flags=(draft.flags or 0) & ~messages.EPHEMERAL,  # only interaction responses hide
        tts=draft.tts,
        nonce=draft.nonce,
    )
    return 200, stored.payload


NONCE_WINDOW_SECONDS = 300
"""Discord: with ``enforce_nonce``, a message with the same nonce by the same author "in the
past few minutes" is returned instead of creating another."""


def _same_nonce(call: Call, channel_id: int, draft: drafts.Draft) -> StoredMessage | None:
    if not draft.enforce_nonce or draft.nonce is None:
        return None
    floor = datetime.now(UTC) - timedelta(seconds=NONCE_WINDOW_SECONDS)
    for stored in reversed(call.ctx.world.live_messages(channel_id)):
        if snowflake_time(stored.id) < floor:
            break
        payload = stored.payload
        if payload.get("nonce") == draft.nonce and stored.author_id == call.bot_id:
            return stored
    return None


@routes.route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(call: Call) -> Reply:
    channel = _readable(call)
    stored = call.ctx.world.message(channel.id, call.snowflake("message_id"))
    return 200, _as_seen(call, stored.payload)


def _as_seen(call: Call, payload: JSON) -> JSON:
    """REST reads are content-gated too when the app lacks the MESSAGE_CONTENT privilege."""
    if call.ctx.world.application.message_content:
        return payload
    if intents.may_read(payload, self_id=call.bot_id):
        return payload
    return intents.strip_content(payload)


@routes.route("GET", "/channels/{channel_id}/messages")
async def list_messages(call: Call) -> Reply:
    """Newest first, at most ``limit`` (1-100, default 50), with before/after/around."""
    channel = _readable(call)
    raw_limit = call.query.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise errors.invalid_form(
            "limit", "NUMBER_TYPE_MAX", "int value should be <= 100 and >= 1."
        )
    limit = int(raw_limit)
    live = call.ctx.world.live_messages(channel.id)  # oldest first
    if "before" in call.query:
        pivot = int(call.query["before"])
        chosen = [m for m in live if m.id < pivot][-limit:]
    elif "after" in call.query:
        pivot = int(call.query["after"])
        chosen = [m for m in live if m.id > pivot][:limit]
    elif "around" in call.query:
        pivot = int(call.query["around"])
        older = [m for m in live if m.id < pivot]
        newer = [m for m in live if m.id >= pivot]
        half = limit // 2
        chosen = older[-half:] if half else []
        chosen = chosen + newer[: limit - len(chosen)]
    else:
        chosen = live[-limit:]
    return 200, [_as_seen(call, m.payload) for m in reversed(chosen)]


@routes.route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    stored = world.message(channel.id, call.snowflake("message_id"))
    draft = drafts.read(call.ctx, call.json, call.files, file_owner_id=channel.id)
    if stored.author_id != call.bot_id:
        # Others' messages: only the SUPPRESS_EMBEDS flag may change, with MANAGE_MESSAGES.
        only_flags = draft.content is None and draft.embeds is None and draft.components is None
        if not only_flags or channel.guild_id is None:
            raise errors.forbidden(50005, "Cannot edit a message authored by another user")
        world.require(channel.id, call.bot_id, P.MANAGE_MESSAGES)
        messages.update(call.ctx, stored, {"flags": draft.flags}, edited=False)
        return 200, stored.payload
    if draft.embeds and channel.guild_id is not None:
        granted = world.permissions_in(channel.id, call.bot_id)
        if not granted & P.EMBED_LINKS:
            draft.embeds = []  # Discord drops embeds on edits without EMBED_LINKS, silently
    messages.update(call.ctx, stored, draft.changes(), new_attachments=draft.new_attachments)
    return 200, stored.payload


@routes.route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    stored = world.message(channel.id, call.snowflake("message_id"))
    if stored.author_id != call.bot_id:
        if channel.guild_id is None:
            raise errors.forbidden(50003, "Cannot execute action on a DM channel")
        world.require(channel.id, call.bot_id, P.MANAGE_MESSAGES)
        _audit_message_delete(call, channel, stored.author_id)
    messages.delete(call.ctx, stored)
    return NO_CONTENT


def _audit_message_delete(call: Call, channel: Channel, author_id: int) -> None:
    audit.record(
        call.ctx,
        channel.guild_id or 0,
        action_type=audit.MESSAGE_DELETE,
        user_id=call.bot_id,
        target_id=author_id,
        reason=call.reason,
        options={"channel_id": str(channel.id), "count": "1"},
    )


@routes.route("POST", "/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    if channel.guild_id is None:
        raise errors.forbidden(50003, "Cannot execute action on a DM channel")
    world.require(channel.id, call.bot_id, P.MANAGE_MESSAGES)
    ids = [int(i) for i in call.body().get("messages") or []]
    if not 2 <= len(ids) <= 100:
        raise errors.bad_request(
            50016,
            "Provided too few or too many messages to delete. "
            "Must provide at least 2 and fewer than 100 messages to delete.",
        )
    oldest_allowed = datetime.now(UTC) - _BULK_MAX_AGE
    if any(snowflake_time(i) < oldest_allowed for i in ids):
        raise errors.bad_request(
            50034, "You can only bulk delete messages that are under 14 days old."
        )
    by_id = world.messages.get(channel.id, {})
    found = [by_id[i] for i in dict.fromkeys(ids) if i in by_id and not by_id[i].deleted]
    if found:
        messages.delete_bulk(call.ctx, channel, found)
        audit.record(
            call.ctx,
            channel.guild_id,
            action_type=audit.MESSAGE_BULK_DELETE,
            user_id=call.bot_id,
            target_id=channel.id,
            reason=call.reason,
            options={"count": str(len(found))},
        )
    return NO_CONTENT


@routes.route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def add_reaction(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    stored = world.message(channel.id, call.snowflake("message_id"))
    if channel.guild_id is not None:
        world.require(channel.id, call.bot_id, P.READ_MESSAGE_HISTORY, P.ADD_REACTIONS)
    emoji = call.params["emoji"]
    name, _, emoji_id = emoji.partition(":")
    reactions: list[JSON] = stored.payload.setdefault("reactions", [])
    entry = next((r for r in reactions if r["emoji"]["name"] == name), None)
    if entry is None:
        entry = {
            "count": 0,
            "count_details": {"burst": 0, "normal": 0},
            "me": False,
            "me_burst": False,
            "burst_colors": [],
            "emoji": {"id": emoji_id or None, "name": name},
        }
        reactions.append(entry)
    if not entry["me"]:
        entry["me"] = True
        entry["count"] += 1
        entry["count_details"]["normal"] += 1
        event: JSON = {
            "user_id": str(call.bot_id),
            "channel_id": str(channel.id),
            "message_id": str(stored.id),
            "emoji": entry["emoji"],
            "burst": False,
            "type": 0,
            "message_author_id": str(stored.author_id),
        }
        if channel.guild_id is not None:
            event["guild_id"] = str(channel.guild_id)
            member = world.guild(channel.guild_id).members[call.bot_id]
            event["member"] = payloads.member(member, with_user=world.user(call.bot_id))
        call.ctx.gateway.dispatch("MESSAGE_REACTION_ADD", event, guild_id=channel.guild_id)
    return NO_CONTENT


@routes.route("POST", "/channels/{channel_id}/typing")
async def typing(call: Call) -> Reply:
    channel = call.ctx.world.channel(call.snowflake("channel_id"))
    if channel.guild_id is not None:
        call.ctx.world.require(channel.id, call.bot_id, P.SEND_MESSAGES)
    return NO_CONTENT
