"""Reading a message body the way Discord does, shared by messages, webhooks and interactions.

A body is JSON, or multipart with ``payload_json`` and ``files[n]`` parts; the ``attachments``
array maps each new file by ``id`` (its index) and keeps existing attachments by snowflake id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.sandbox import errors, media
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON
from bot.sandbox.recorder import UploadedFile

MAX_CONTENT = 2000
MAX_EMBEDS = 10
_ALLOWED_FLAGS = (
    (1 << 2) | (1 << 6) | (1 << 12) | (1 << 15)
)  # suppress embeds/notifs, ephemeral, V2


@dataclass
class Draft:
    """The message fields a request set (``None``: not given, keep the current value)."""

    content: str | None = None
    embeds: list[JSON] | None = None
    components: list[JSON] | None = None
    kept_attachments: list[JSON] | None = None
    new_attachments: list[JSON] = field(default_factory=list)
    sticker_ids: list[int] = field(default_factory=list)
    reference: JSON | None = None
    allowed_mentions: JSON | None = None
    flags: int | None = None
    tts: bool = False
    nonce: str | int | None = None
    enforce_nonce: bool = False
    username: str | None = None
    avatar_url: str | None = None
    thread_name: str | None = None

    def is_empty(self) -> bool:
        return not (
            self.content
            or self.embeds
            or self.components
            or self.new_attachments
            or self.kept_attachments
            or self.sticker_ids
        )

    def changes(self) -> JSON:
        """The fields to apply to an existing message (see ``messages.update``)."""
        return {
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "flags": self.flags,
            "attachments": self.kept_attachments,
        }


def read(
    ctx: Context,
    body: Any,
    files: list[UploadedFile],
    *,
    file_owner_id: int,
) -> Draft:
    """Validate a message body and upload its files to the CDN under ``file_owner_id``."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.bad_request(50109, "The request body contains invalid JSON.")
    draft = Draft()
    content = body.get("content")
    if content is not None:
        draft.content = str(content)
        if len(draft.content) > MAX_CONTENT:
            raise errors.invalid_form(
                "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
            )
    embeds = body.get("embeds")
    if embeds is None and body.get("embed") is not None:
        embeds = [body["embed"]]
    if embeds is not None:
        if not isinstance(embeds, list) or len(embeds) > MAX_EMBEDS:
            raise errors.invalid_form(
                "embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
            )
        draft.embeds = embeds
    if body.get("components") is not None:
        draft.components = list(body["components"])
    if body.get("flags") is not None:
        draft.flags = int(body["flags"]) & _ALLOWED_FLAGS
    draft.sticker_ids = [int(s) for s in body.get("sticker_ids") or []]
    draft.reference = body.get("message_reference")
    draft.allowed_mentions = body.get("allowed_mentions")
    draft.tts = bool(body.get("tts", False))
    draft.nonce = body.get("nonce")
    draft.enforce_nonce = bool(body.get("enforce_nonce", False))
    draft.username = body.get("username")
    draft.avatar_url = body.get("avatar_url")
    draft.thread_name = body.get("thread_name")
    _read_attachments(ctx, draft, body.get("attachments"), files, file_owner_id)
    return draft


def _read_attachments(
    ctx: Context, draft: Draft, listed: Any, files: list[UploadedFile], owner_id: int
) -> None:
    by_index = {_file_index(f.field, i): f for i, f in enumerate(files)}
    described: dict[int, JSON] = {}
    if listed is not None:
        if not isinstance(listed, list):
            raise errors.invalid_form("attachments", "BASE_TYPE_LIST", "Must be a list.")
        kept: list[JSON] = []
        for entry in listed:
            raw_id = str(entry.get("id", ""))
            if raw_id.isdigit() and int(raw_id) in by_index:
                described[int(raw_id)] = entry
            else:
                kept.append(entry)
        draft.kept_attachments = kept
    for index, upload in sorted(by_index.items()):
        meta = described.get(index, {})
        draft.new_attachments.append(
            media.store_attachment(
                ctx.world,
                ctx.signer,
                cdn_base=ctx.urls.cdn_base,
                media_base=ctx.urls.media_base,
                folder="attachments",
                owner_id=owner_id,
                filename=str(meta.get("filename") or upload.filename),
                data=upload.data,
                description=meta.get("description"),
            )
        )


def _file_index(field_name: str, position: int) -> int:
    """``files[3]`` is index 3; older clients send ``file``/``file1``: use their position."""
    if field_name.startswith("files[") and field_name.endswith("]"):
        inner = field_name[6:-1]
        if inner.isdigit():
            return int(inner)
    return position
