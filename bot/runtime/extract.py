"""Finding every piece of media in a Discord message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import discord
from discord.message import MessageSnapshot

# Extensions Discord renders inline or plays; other attachments (documents, archives) are skipped.
MEDIA_EXTENSIONS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jfif",
        ".png",
        ".apng",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".avif",
        ".heic",
        ".heif",
        ".mp4",
        ".mov",
        ".webm",
        ".mkv",
        ".m4v",
    ]
)


@dataclass(frozen=True, slots=True)
class MediaRef:
    """One piece of media in a message: where to fetch it and how to name it to a moderator."""

    url: str
    label: str
    """e.g. ``attachment photo.jpg``, ``embed image``, ``sticker wave``."""


def media_refs(message: discord.Message) -> list[MediaRef]:
    """Every attachment that is an image or video, every embed image, thumbnail and video, and
    every sticker that is an image; then the same of each message forwarded in it (Discord
    carries a forwarded message's media in the forward, wherever the original was posted); in
    message order, without duplicate URLs."""
    refs = _refs(message, "")
    for forwarded in message.message_snapshots:
        refs += _refs(forwarded, "forwarded ")
    unique: dict[str, MediaRef] = {}
    for ref in refs:
        unique.setdefault(ref.url, ref)
    return list(unique.values())


def _refs(message: discord.Message | MessageSnapshot, prefix: str) -> list[MediaRef]:
    refs: list[MediaRef] = []
    for attachment in message.attachments:
        if _is_media(attachment.content_type, attachment.filename):
            refs.append(MediaRef(attachment.url, f"{prefix}attachment {attachment.filename}"))
    for embed in message.embeds:
        # Discord's media proxy holds a copy of embedded media; the original may be anywhere.
        for name, proxy in (
            ("image", embed.image),
            ("thumbnail", embed.thumbnail),
            ("video", embed.video),
        ):
            url = getattr(proxy, "proxy_url", None) or getattr(proxy, "url", None)
            if url:
                refs.append(MediaRef(url, f"{prefix}embed {name}"))
    for sticker in message.stickers:
        if sticker.format is not discord.StickerFormatType.lottie:  # Lottie is vector JSON
            refs.append(MediaRef(sticker.url, f"{prefix}sticker {sticker.name}"))
    return refs


def _is_media(content_type: str | None, filename: str) -> bool:
    if content_type and content_type.split("/", 1)[0] in ("image", "video"):
        return True
    return PurePosixPath(filename.lower()).suffix in MEDIA_EXTENSIONS


def media_key(ref: MediaRef) -> str:
    """What identifies a piece of media across fetches of its message: the URL without its
    query string (Discord signs attachment URLs with parameters that change)."""
    return ref.url.partition("?")[0]
