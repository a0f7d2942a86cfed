"""Webhooks: creating and listing them, executing incoming ones, and their messages.

``/webhooks/{id}/{token}`` serves two kinds: incoming webhooks made in a channel, and the
application's own webhook whose tokens are interaction tokens (follow-ups, @original).
"""

from __future__ import annotations

import secrets

from bot.sandbox import drafts, errors, messages, payloads
from bot.sandbox import routes_interactions as app_hooks
from bot.sandbox.context import Context
from bot.sandbox.objects import GUILD_FORUM, THREAD_TYPES, Webhook
from bot.sandbox.permissions import P
from bot.sandbox.routing import NO_CONTENT, Call, Reply, Routes

routes = Routes()

_NAME_FORBIDDEN = ("clyde", "discord")


def _is_app(call: Call) -> bool:
    return call.snowflake("webhook_id") == call.ctx.world.application.id


def _incoming(call: Call) -> Webhook:
    found = call.ctx.world.webhooks.get(call.snowflake("webhook_id"))
    if found is None:
        raise errors.unknown("Webhook")
    token = call.params.get("webhook_token")
    if token is not None and token != found.token:
        raise errors.DiscordError(401, 50027, "Invalid Webhook Token")
    return found


@routes.route("POST", "/channels/{channel_id}/webhooks")
async def create_webhook(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    if channel.guild_id is None or channel.type in THREAD_TYPES:
        raise errors.bad_request(50024, "Cannot execute action on this channel type")
    world.require(channel.id, call.bot_id, P.MANAGE_WEBHOOKS)
    name = str(call.body().get("name") or "")
    if not 1 <= len(name) <= 80 or any(bad in name.lower() for bad in _NAME_FORBIDDEN):
        raise errors.invalid_form(
            "name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length."
        )
    hook = create_incoming(call.ctx, channel.id, name, creator_id=call.bot_id)
    return 200, payloads.webhook(hook, world)


def create_incoming(ctx: Context, channel_id: int, name: str, *, creator_id: int) -> Webhook:
    """Make an incoming webhook and dispatch WEBHOOKS_UPDATE."""
    channel = ctx.world.channel(channel_id)
    hook = Webhook(
        id=ctx.world.ids.next(),
        type=1,
        channel_id=channel.id,
        guild_id=channel.guild_id,
        name=name,
        token=secrets.token_urlsafe(51),
        creator_id=creator_id,
    )
    ctx.world.webhooks[hook.id] = hook
    data = {"guild_id": str(channel.guild_id), "channel_id": str(channel.id)}
    ctx.gateway.dispatch("WEBHOOKS_UPDATE", data, guild_id=channel.guild_id)
    return hook


@routes.route("GET", "/channels/{channel_id}/webhooks")
async def channel_webhooks(call: Call) -> Reply:
    world = call.ctx.world
    channel = world.channel(call.snowflake("channel_id"))
    world.require(channel.id, call.bot_id, P.MANAGE_WEBHOOKS)
    hooks = [w for w in world.webhooks.values() if w.channel_id == channel.id]
    return 200, [payloads.webhook(w, world) for w in hooks]


@routes.route("GET", "/guilds/{guild_id}/webhooks")
async def guild_webhooks(call: Call) -> Reply:
    world = call.ctx.world
    guild = world.guild(call.snowflake("guild_id"))
    world.require_guild(guild.id, call.bot_id, P.MANAGE_WEBHOOKS)
    hooks = [w for w in world.webhooks.values() if w.guild_id == guild.id]
    return 200, [payloads.webhook(w, world) for w in hooks]


@routes.route("GET", "/webhooks/{webhook_id}")
async def get_webhook(call: Call) -> Reply:
    return 200, payloads.webhook(_incoming(call), call.ctx.world)


@routes.route("DELETE", "/webhooks/{webhook_id}")
async def delete_webhook(call: Call) -> Reply:
    hook = _incoming(call)
    if hook.channel_id is not None:
        call.ctx.world.require(hook.channel_id, call.bot_id, P.MANAGE_WEBHOOKS)
    del call.ctx.world.webhooks[hook.id]
    return NO_CONTENT


@routes.route("GET", "/webhooks/{webhook_id}/{webhook_token}", auth="optional")
async def get_webhook_with_token(call: Call) -> Reply:
    return 200, payloads.webhook(_incoming(call), call.ctx.world, with_token=False)


@routes.route("POST", "/webhooks/{webhook_id}/{webhook_token}", auth="optional")
async def execute(call: Call) -> Reply:
    """Execute a webhook; ``?wait=true`` returns the message, otherwise 204."""
    if _is_app(call):
        return await app_hooks.followup(call)
    hook = _incoming(call)
    world = call.ctx.world
    channel = world.channel(hook.channel_id or 0)
    if "thread_id" in call.query:
        channel = world.channel(int(call.query["thread_id"]))
        if channel.parent_id != hook.channel_id:
            raise errors.unknown("Channel")
    elif channel.type == GUILD_FORUM:
        raise errors.bad_request(
            220001, "Webhooks posted to forum channels must have a thread_name or thread_id"
        )
    draft = drafts.read(call.ctx, call.json, call.files, file_owner_id=channel.id)
    if draft.is_empty():
        raise errors.empty_message()
    stored = messages.create(
        call.ctx,
        channel,
        world.user(hook.creator_id) if hook.creator_id in world.users else world.user(call.bot_id),
        content=draft.content or "",
        embeds=draft.embeds or [],
        attachments=draft.new_attachments,
        components=draft.components or [],
        allowed_mentions=draft.allowed_mentions,
        webhook=hook,
        webhook_name=draft.username,
        webhook_avatar=draft.avatar_url,
        flags=draft.flags or 0,
        tts=draft.tts,
    )
    if call.query.get("wait", "").lower() in ("1", "true"):
        return 200, stored.payload
    return NO_CONTENT


@routes.route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", auth="optional")
@routes.route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", auth="optional")
@routes.route(
    "DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", auth="optional"
)
async def original_message(call: Call) -> Reply:
    if not _is_app(call):
        raise errors.unknown("Message")
    return await app_hooks.message_op(call)


@routes.route(
    "GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth="optional"
)
@routes.route(
    "PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth="optional"
)
@routes.route(
    "DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", auth="optional"
)
async def webhook_message(call: Call) -> Reply:
    if _is_app(call):
        return await app_hooks.message_op(call)
    hook = _incoming(call)
    found = call.ctx.world.find_message(call.snowflake("message_id"))
    if found is None or found.payload.get("webhook_id") != str(hook.id):
        raise errors.unknown("Message")
    if call.method == "GET":
        return 200, found.payload
    if call.method == "DELETE":
        messages.delete(call.ctx, found)
        return NO_CONTENT
    draft = drafts.read(call.ctx, call.json, call.files, file_owner_id=hook.channel_id or 0)
    messages.update(call.ctx, found, draft.changes(), new_attachments=draft.new_attachments)
    return 200, found.payload
