"""What people do: post, edit and delete messages, run commands, click buttons, submit modals.

Each action checks what Discord's client would not let the person do (a timed-out member
cannot post, a hidden command cannot be run) and raises ``PermissionError``/``LookupError``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.sandbox import media, messages
from bot.sandbox.context import Context
from bot.sandbox.objects import JSON
from bot.sandbox.permissions import P, has

AttachmentSpec = tuple[str, bytes] | tuple[str, bytes, str] | Mapping[str, Any]
_MISSING: Any = object()


def upload_attachment(ctx: Context, channel_id: int, spec: AttachmentSpec) -> JSON:
    """Put a person's upload on the CDN; returns its attachment object."""
    if isinstance(spec, Mapping):
        filename, data = str(spec["filename"]), bytes(spec["data"])
        kind, description = spec.get("content_type"), spec.get("description")
    else:
        filename, data = spec[0], spec[1]
        kind, description = (spec[2] if len(spec) > 2 else None), None
    return media.store_attachment(
        ctx.world,
        ctx.signer,
        cdn_base=ctx.urls.cdn_base,
        media_base=ctx.urls.media_base,
        folder="attachments",
        owner_id=channel_id,
        filename=filename,
        data=data,
        content_type=kind,
        description=description,
    )


def require_user_permissions(ctx: Context, channel_id: int, user_id: int, *needed: P) -> None:
    """What Discord's client enforces for a person: membership and channel permissions."""
    channel = ctx.world.channel(channel_id)
    if channel.guild_id is None:
        return
    if user_id not in ctx.world.guild(channel.guild_id).members:
        raise LookupError(f"user {user_id} is not a member of guild {channel.guild_id}")
    if not has(ctx.world.permissions_in(channel_id, user_id), *needed):
        raise PermissionError(f"user {user_id} lacks {needed} in channel {channel_id}")


class UserActions:
    """User-action methods of :class:`~bot.sandbox.server.Sandbox`."""

    _ctx: Context

    def _sticker_items(self, channel_id: int, sticker_ids: Iterable[int]) -> list[JSON]:
        items = []
        for sticker_id in sticker_ids:
            for guild in self._ctx.world.guilds.values():
                if sticker_id in guild.stickers:
                    s = guild.stickers[sticker_id]
                    items.append({"id": str(s.id), "name": s.name, "format_type": s.format_type})
                    break
            else:
                raise LookupError(f"no sticker {sticker_id}")
        return items

    async def post_message(
        self,
        channel_id: int,
        author_id: int,
        content: str = "",
        *,
        attachments: Sequence[AttachmentSpec] = (),
        embeds: Sequence[JSON] = (),
        sticker_ids: Sequence[int] = (),
        components: Sequence[JSON] = (),
        reply_to: int | None = None,
    ) -> JSON:
        """A person posts a message (MESSAGE_CREATE); returns the message payload.

        ``attachments`` items are ``(filename, data)``, ``(filename, data, content_type)`` or a
        mapping with ``filename``, ``data`` and optional ``content_type``/``description``.
        """
        needed = [P.SEND_MESSAGES]
        channel = self._ctx.world.channel(channel_id)
        if channel.is_thread:
            needed = [P.SEND_MESSAGES_IN_THREADS]
        if attachments:
            needed.append(P.ATTACH_FILES)
        require_user_permissions(self._ctx, channel_id, author_id, *needed)
        stored = messages.create(
            self._ctx,
            channel,
            self._ctx.world.user(author_id),
            content=content,
            embeds=embeds,
            attachments=[upload_attachment(self._ctx, channel_id, a) for a in attachments],
            components=components,
            sticker_items=self._sticker_items(channel_id, sticker_ids),
            reference={"message_id": str(reply_to), "channel_id": str(channel_id)}
            if reply_to
            else None,
        )
        return copy.deepcopy(stored.payload)

    async def forward_message(
        self, channel_id: int, author_id: int, source_channel_id: int, source_message_id: int
    ) -> JSON:
        """A person forwards a message into ``channel_id`` (MESSAGE_CREATE): the forward has no
        content or files of its own and carries the original in ``message_snapshots``, with a
        ``message_reference`` of type 1, as Discord does. The original may be in another server;
        the person must be able to read it."""
        channel = self._ctx.world.channel(channel_id)
        needed = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
        require_user_permissions(self._ctx, channel_id, author_id, needed)
        require_user_permissions(
            self._ctx, source_channel_id, author_id, P.VIEW_CHANNEL, P.READ_MESSAGE_HISTORY
        )
        original = self._ctx.world.message(source_channel_id, source_message_id)
        stored = messages.create(
            self._ctx, channel, self._ctx.world.user(author_id), forwarded=original
        )
        return copy.deepcopy(stored.payload)

    async def edit_message(
        self, channel_id: int, message_id: int, *, content: Any = _MISSING, embeds: Any = _MISSING
    ) -> JSON:
        """Change a message (MESSAGE_UPDATE with the full message).

        With ``content`` it is the author's edit (``edited_timestamp`` set). With ``embeds`` only
        it is Discord unfurling a link after the fact: a late embed, ``edited_timestamp`` kept.
        """
        stored = self._ctx.world.message(channel_id, message_id)
        changes: JSON = {}
        if content is not _MISSING:
            changes["content"] = content
        if embeds is not _MISSING:
            changes["embeds"] = embeds
        messages.update(self._ctx, stored, changes, edited=content is not _MISSING)
        return copy.deepcopy(stored.payload)

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """The author (or a moderator) deletes a message (MESSAGE_DELETE)."""
        messages.delete(self._ctx, self._ctx.world.message(channel_id, message_id))

    async def post_webhook_message(
        self,
        webhook_id: int,
        content: str = "",
        *,
        username: str | None = None,
        attachments: Sequence[AttachmentSpec] = (),
        embeds: Sequence[JSON] = (),
    ) -> JSON:
        """An outside service posts through an incoming webhook."""
        world = self._ctx.world
        hook = world.webhooks[webhook_id]
        channel = world.channel(hook.channel_id or 0)
        stored = messages.create(
            self._ctx,
            channel,
            world.user(hook.creator_id or world.guild(channel.guild_id or 0).owner_id),
            content=content,
            embeds=embeds,
            attachments=[upload_attachment(self._ctx, channel.id, a) for a in attachments],
            webhook=hook,
            webhook_name=username,
        )
        return copy.deepcopy(stored.payload)
