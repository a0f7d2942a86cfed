"""Interaction responses: the callback endpoint and the application's webhook endpoints.

Discord's rules enforced here: one initial response, within the deadline (3 s); follow-ups and
@original edits only with a live token (15 min); a deferred "thinking" message is replaced by
the first follow-up or an @original edit.
"""

from __future__ import annotations

import time
from typing import Any

from bot.sandbox import drafts, errors, messages, payloads
from bot.sandbox import interactions as ix
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON, InteractionRecord, StoredMessage
from bot.sandbox.routing import NO_CONTENT, Call, Reply, Routes

routes = Routes()

PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 1, 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
_VALID: dict[int, frozenset[int]] = {
    ix.PING: frozenset({PONG}),
    ix.APPLICATION_COMMAND: frozenset({MESSAGE, DEFERRED_MESSAGE, MODAL}),
    ix.MESSAGE_COMPONENT: frozenset(
        {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL}
    ),
    ix.AUTOCOMPLETE: frozenset({AUTOCOMPLETE_RESULT}),
    ix.MODAL_SUBMIT: frozenset({MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE}),
}


def _note(record: InteractionRecord, kind: str, call: Call, **extra: Any) -> None:
    entry: JSON = {"kind": kind, "time": time.time(), "json": call.json, "files": call.files}
    entry.update(extra)
    record.responses.append(entry)


def _metadata(ctx: Context, record: InteractionRecord) -> JSON:
    user = ctx.world.user(record.user_id)
    meta: JSON = {
        "id": str(record.id),
        "type": record.type,
        "user": payloads.user(user),
        "authorizing_integration_owners": record.payload.get("authorizing_integration_owners", {}),
    }
    if record.name is not None:
        meta["name"] = record.name
        meta["command_type"] = record.payload.get("data", {}).get("type", 1)
    if record.source_message_id is not None:
        meta["interacted_message_id"] = str(record.source_message_id)
    return meta


def _message_type(record: InteractionRecord) -> int:
    if record.type != ix.APPLICATION_COMMAND:
        return messages.DEFAULT
    kind = record.payload.get("data", {}).get("type", 1)
    return messages.CHAT_INPUT_COMMAND if kind == 1 else messages.CONTEXT_MENU_COMMAND


def _post(
    call: Call, record: InteractionRecord, draft: drafts.Draft, *, loading: bool = False
) -> StoredMessage:
    world = call.ctx.world
    channel = world.channel(record.channel_id)
    flags = draft.flags or 0
    return messages.create(
        call.ctx,
        channel,
        world.user(call.bot_id),
        content=draft.content or "",
        embeds=draft.embeds or [],
        attachments=draft.new_attachments,
        components=draft.components or [],
        allowed_mentions=draft.allowed_mentions,
        application_webhook=True,
        interaction=_metadata(call.ctx, record),
        message_type=_message_type(record),
        flags=(flags | messages.LOADING) if loading else flags,
        tts=draft.tts,
        ephemeral=bool(flags & messages.EPHEMERAL),
    )


@routes.route(
    "POST", "/interactions/{interaction_id}/{interaction_token}/callback", auth="optional"
)
async def callback(call: Call) -> Reply:
    world = call.ctx.world
    record = world.interactions.get(call.snowflake("interaction_id"))
    if record is None or record.token != call.params["interaction_token"]:
        raise errors.unknown("interaction")
    if record.acknowledged:
        raise errors.already_acknowledged()
    if time.monotonic() - record.created > call.ctx.config.interaction_deadline:
        raise errors.unknown("interaction")  # the 3-second window closed
    body = call.body()
    kind = body.get("type")
    if kind not in _VALID.get(record.type, frozenset()):
        raise errors.invalid_form(
            "type",
            "INTERACTION_RESPONSE_TYPE_INVALID",
            "Value is not a valid response type for this interaction.",
        )
    data = body.get("data") or {}
    resource: JSON = {"type": kind}
    info: JSON = {"id": str(record.id), "type": record.type}
    if kind in (MESSAGE, DEFERRED_MESSAGE):
        draft = drafts.read(call.ctx, data, call.files, file_owner_id=record.channel_id)
        if kind == MESSAGE and draft.is_empty():
            raise errors.empty_message()
        stored = _post(call, record, draft, loading=kind == DEFERRED_MESSAGE)
        record.original_message_id = stored.id
        record.deferred_pending = kind == DEFERRED_MESSAGE
        resource["message"] = stored.payload
        info.update(
            {
                "response_message_id": str(stored.id),
                "response_message_loading": kind == DEFERRED_MESSAGE,
                "response_message_ephemeral": bool(stored.payload["flags"] & messages.EPHEMERAL),
            }
        )
    elif kind == DEFERRED_UPDATE:
        # For component interactions @original is the message the component is on.
        record.original_message_id = _source_message(call, record).id
    elif kind == UPDATE_MESSAGE:
        source = _source_message(call, record)
        draft = drafts.read(call.ctx, data, call.files, file_owner_id=record.channel_id)
        messages.update(call.ctx, source, draft.changes(), new_attachments=draft.new_attachments)
        record.original_message_id = source.id
        resource["message"] = source.payload
    elif kind == MODAL:
        if not data.get("custom_id") or not data.get("title"):
            raise errors.invalid_form(
                "data.custom_id", "BASE_TYPE_REQUIRED", "This field is required"
            )
        record.modal = data
    record.response_type = kind
    _note(record, "callback", call, type=kind)
    wants_body = call.query.get("with_response", "").lower() in ("1", "true")
    return (200, {"interaction": info, "resource": resource}) if wants_body else NO_CONTENT


def _source_message(call: Call, record: InteractionRecord) -> StoredMessage:
    if record.source_message_id is None:
        raise errors.invalid_form(
            "type", "INTERACTION_RESPONSE_TYPE_INVALID", "No message to update."
        )
    found = call.ctx.world.find_message(record.source_message_id)
    if found is None:
        raise errors.unknown("Message")
    return found


# --- the application's webhook (/webhooks/{application_id}/{token}) -----------------------------


def record_for(call: Call) -> InteractionRecord:
    """The interaction behind an application webhook token (10015 unknown, 50027 expired)."""
    world = call.ctx.world
    interaction_id = world.interaction_tokens.get(call.params["webhook_token"])
    if interaction_id is None:
        raise errors.unknown("Webhook")
    record = world.interactions[interaction_id]
    if time.monotonic() - record.created > call.ctx.config.interaction_token_ttl:
        raise errors.DiscordError(401, 50027, "Invalid Webhook Token")
    return record


def _own_message(call: Call, record: InteractionRecord, raw_id: str) -> StoredMessage:
    if raw_id == "@original":
        if record.original_message_id is None:
            raise errors.unknown("Message")
        wanted = record.original_message_id
    else:
        wanted = call.snowflake("message_id")
        if wanted != record.original_message_id and wanted not in record.followups:
            raise errors.unknown("Message")
    found = call.ctx.world.find_message(wanted)
    if found is None:
        raise errors.unknown("Message")
    return found


async def followup(call: Call) -> Reply:
    record = record_for(call)
    if not record.acknowledged:
        raise errors.unknown("Webhook")
    draft = drafts.read(call.ctx, call.json, call.files, file_owner_id=record.channel_id)
    if draft.is_empty():
        raise errors.empty_message()
    if record.deferred_pending and record.original_message_id is not None:
        # The first follow-up after a deferral replaces the "thinking" message.
        stored = _own_message(call, record, "@original")
        _finish_deferred(call, record, stored, draft)
        _note(record, "followup", call, message_id=str(stored.id))
        return 200, stored.payload
    stored = _post(call, record, draft)
    record.followups.append(stored.id)
    _note(record, "followup", call, message_id=str(stored.id))
    return 200, stored.payload


def _finish_deferred(
    call: Call, record: InteractionRecord, stored: StoredMessage, draft: drafts.Draft
) -> None:
    changes = draft.changes()
    flags = int(stored.payload["flags"]) & ~messages.LOADING
    changes["flags"] = flags
    record.deferred_pending = False
    messages.update(call.ctx, stored, changes, new_attachments=draft.new_attachments, edited=False)


async def message_op(call: Call) -> Reply:
    """GET, PATCH or DELETE @original or a follow-up."""
    record = record_for(call)
    stored = _own_message(call, record, call.params.get("message_id", "@original"))
    if call.method == "GET":
        return 200, stored.payload
    if call.method == "DELETE":
        _note(record, "delete", call, message_id=str(stored.id))
        if stored.id in call.ctx.world.ephemeral:
            del call.ctx.world.ephemeral[stored.id]
        else:
            messages.delete(call.ctx, stored)
        return NO_CONTENT
    draft = drafts.read(call.ctx, call.json, call.files, file_owner_id=record.channel_id)
    if record.deferred_pending and stored.id == record.original_message_id:
        _finish_deferred(call, record, stored, draft)
    else:
        messages.update(call.ctx, stored, draft.changes(), new_attachments=draft.new_attachments)
    _note(record, "edit", call, message_id=str(stored.id))
    return 200, stored.payload
