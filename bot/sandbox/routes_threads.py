"""Threads: starting them from a message, in a channel or as a forum post; archiving, locking."""

from __future__ import annotations

from bot.sandbox import drafts, errors, messages, payloads
from bot.sandbox.builder_channels import open_thread
from bot.sandbox.objects import GUILD_FORUM, GUILD_TEXT, JSON, PRIVATE_THREAD, Channel
from bot.sandbox.permissions import P
from bot.sandbox.routing import Call, Reply, Routes

routes = Routes()

HAS_THREAD = 1 << 5


def _name(body: JSON) -> str:
    name = str(body.get("name") or "")
    if not 1 <= len(name) <= 100:
        raise errors.invalid_form(
            "name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    return name


@routes.route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
async def thread_from_message(call: Call) -> Reply:
    """A public thread on a message; the thread takes the message's id, as on Discord."""
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    stored = world.message(channel.id, call.snowflake("message_id"))
    if channel.type != GUILD_TEXT:
        raise errors.bad_request(50024, "Cannot execute action on this channel type")
    world.require(channel.id, call.bot_id, P.CREATE_PUBLIC_THREADS)
    if stored.id in world.channels:
        raise errors.bad_request(160004, "A thread has already been created for this message")
    body = call.body()
    thread = open_thread(
        call.ctx,
        channel.id,
        _name(body),
        owner_id=call.bot_id,
        thread_id=stored.id,
        auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
    )
    stored.payload["flags"] = int(stored.payload["flags"]) | HAS_THREAD
    stored.payload["thread"] = payloads.channel(thread, world)
    return 201, payloads.channel(thread, world)


@routes.route("POST", "/channels/{channel_id}/threads")
async def start_thread(call: Call) -> Reply:
    """A thread without a starter message, or a forum post (``message`` in the body)."""
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    body = call.body()
    name = _name(body)
    if channel.type == GUILD_FORUM:
        world.require(channel.id, call.bot_id, P.SEND_MESSAGES)
        post_id = world.ids.next()  # the post's thread and starter message share this id
        starter = body.get("message") or {}
        draft = drafts.read(call.ctx, starter, call.files, file_owner_id=post_id)
        if draft.is_empty():
            raise errors.empty_message()
        thread = open_thread(
            call.ctx,
            channel.id,
            name,
            owner_id=call.bot_id,
            thread_id=post_id,
            applied_tags=[int(t) for t in body.get("applied_tags") or []],
        )
        first = messages.create(
            call.ctx,
            thread,
            world.user(call.bot_id),
            content=draft.content or "",
            embeds=draft.embeds or [],
            attachments=draft.new_attachments,
            components=draft.components or [],
            message_id=post_id,
        )
        result = payloads.channel(thread, world)
        result["message"] = first.payload
        return 201, result
    if channel.type != GUILD_TEXT:
        raise errors.bad_request(50024, "Cannot execute action on this channel type")
    private = body.get("type") == PRIVATE_THREAD
    world.require(
        channel.id, call.bot_id, P.CREATE_PRIVATE_THREADS if private else P.CREATE_PUBLIC_THREADS
    )
    thread = open_thread(call.ctx, channel.id, name, owner_id=call.bot_id, private=private)
    return 201, payloads.channel(thread, world)


@routes.route("PATCH", "/channels/{channel_id}")
async def edit_thread(call: Call) -> Reply:
    """Thread moderation: ``archived``, ``locked``, ``name`` (THREAD_UPDATE). A guild channel
    takes ``rate_limit_per_user`` (slow mode, 0-21600 s) with Manage Channels, as Discord
    documents it (CHANNEL_UPDATE); its other fields are not imitated (400 50024)."""
    world = call.ctx.world
    channel: Channel = world.channel(call.snowflake("channel_id"))
    body = call.body()
    if not channel.is_thread:
        world.require(channel.id, call.bot_id, P.MANAGE_CHANNELS)
        if set(body) != {"rate_limit_per_user"}:
            raise errors.bad_request(50024, "Cannot execute action on this channel type (sandbox)")
        delay = body["rate_limit_per_user"]
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 21600:
            raise errors.invalid_form(
                "rate_limit_per_user", "NUMBER_TYPE_MAX", "int value should be <= 21600."
            )
        channel.rate_limit_per_user = delay
        data = payloads.channel(channel, world)
        call.ctx.gateway.dispatch("CHANNEL_UPDATE", data, guild_id=channel.guild_id)
        return 200, data
    if channel.owner_id != call.bot_id or "locked" in body:
        world.require(channel.id, call.bot_id, P.MANAGE_THREADS)
    if "archived" in body:
        channel.archived = bool(body["archived"])
    if "locked" in body:
        channel.locked = bool(body["locked"])
    if body.get("name"):
        channel.name = _name(body)
    data = payloads.channel(channel, world)
    call.ctx.gateway.dispatch("THREAD_UPDATE", data, guild_id=channel.guild_id)
    return 200, data
