"""What a gateway hands a scan worker of a message, so the worker need not fetch it again.

Without it a worker makes one REST request per message (Discord allows a bot about 50 a second
over all its processes), only to learn what the gateway already knew. The work record carries
the message as Discord's message JSON, cut down to what a scan reads: its media (attachments,
embeds, stickers, and those of a forwarded message) and its author. Never its text. A worker
uses it on the first try only; a retry fetches the message as it is then (deleted, edited, or
its attachment links renewed).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import discord
from discord.message import MessageSnapshot

log = logging.getLogger(__name__)

MAX_HANDOFF_CHARS = 32_768
"""A message carried larger than this (many embeds) is not carried: the worker fetches it."""


def handoff(message: discord.Message) -> str | None:
    """``message`` as a scan worker needs it, as JSON; None when too large to carry."""
    author = message.author
    data: dict[str, Any] = {
        **_media(message),
        "id": str(message.id),
        "channel_id": str(message.channel.id),
        "author": {
            "id": str(author.id),
            "username": author.name,
            "discriminator": author.discriminator,
            "global_name": author.global_name,
            "avatar": author.avatar.key if author.avatar is not None else None,
            "bot": author.bot,
        },
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "message_snapshots": [{"message": _media(s)} for s in message.message_snapshots],
    }
    if message.guild is not None:
        data["guild_id"] = str(message.guild.id)
    if message.webhook_id is not None:
        data["webhook_id"] = str(message.webhook_id)
    text = json.dumps(data, separators=(",", ":"))
    return text if len(text) <= MAX_HANDOFF_CHARS else None


def _media(message: discord.Message | MessageSnapshot) -> dict[str, Any]:
    """The fields a message and a forwarded message's snapshot share, text left out."""
    edited = message.edited_at
    return {
        "type": message.type.value,
        "content": "",
        "timestamp": message.created_at.isoformat(),
        "edited_timestamp": edited.isoformat() if edited is not None else None,
        "flags": message.flags.value,
        "attachments": [a.to_dict() for a in message.attachments],
        "embeds": [_embed_media(e) for e in message.embeds],
        "sticker_items": [
            {"id": str(s.id), "name": s.name, "format_type": s.format.value}
            for s in message.stickers
        ],
    }


_EMBED_MEDIA = ("type", "url", "image", "thumbnail", "video")


def _embed_media(embed: discord.Embed) -> dict[str, Any]:
    """An embed's media only: its title, description, fields and footer are text."""
    data: dict[str, Any] = dict(embed.to_dict())
    return {key: data[key] for key in _EMBED_MEDIA if key in data}


def received(
    client: discord.Client, channel: discord.abc.Messageable, text: str
) -> discord.Message | None:
    """The message a gateway handed over, in ``channel``; None if it cannot be read back (the
    caller fetches the message instead)."""
    try:
        data = json.loads(text)
        # discord.py builds messages from payloads only inside its HTTP and gateway code; this
        # is the same constructor fetch_message uses, fed from the work record instead.
        state: Any = client._connection
        return discord.Message(state=state, channel=channel, data=data)  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("a handed-over message could not be read (%s); fetching it instead", exc)
        return None
