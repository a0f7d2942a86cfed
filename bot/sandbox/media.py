"""Uploaded files: content types, image sizes, CDN storage and signed attachment URLs.

Discord's attachment URLs carry ``ex``/``is``/``hm`` query parameters (expiry, issue time and a
signature) and its CDN refuses unsigned or expired ones. The sandbox does the same, so a bot that
strips the query string, or derives a file type from the URL without removing it, fails here as
it would against Discord.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import struct
import time
from collections.abc import Mapping
from urllib.parse import quote

from bot.sandbox.objects import JSON, Blob
from bot.sandbox.state import World

SIGNED_TTL_SECONDS = 24 * 3600

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"WEBP", 8, "image/webp"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
    (b"%PDF", 0, "application/pdf"),
)


def sniff_content_type(data: bytes, filename: str) -> str:
    """The content type Discord would report: from the bytes when recognisable, else the name."""
    for magic, offset, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    guessed, _ = mimetypes.guess_type(filename)
    if guessed is not None:
        return guessed
    return "application/octet-stream"


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG or WebP, read from its header; None otherwise."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return _webp_size(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            index += 1
            continue
        marker = data[index + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        (length,) = struct.unpack(">H", data[index + 2 : index + 4])
        # Start-of-frame markers (baseline, progressive...) hold the dimensions.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + length
    return None


class Signer:
    """Signs and checks CDN paths the way Discord's ``ex``/``is``/``hm`` parameters work."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def query(self, path: str, *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        expires = issued + SIGNED_TTL_SECONDS
        ex, is_ = f"{expires:08x}", f"{issued:08x}"
        return f"ex={ex}&is={is_}&hm={self._mac(path, ex, is_)}&"

    def valid(self, path: str, query: Mapping[str, str]) -> bool:
        ex, is_, mac = query.get("ex", ""), query.get("is", ""), query.get("hm", "")
        try:
            expired = int(ex, 16) < time.time()
        except ValueError:
            return False
        return not expired and hmac.compare_digest(mac, self._mac(path, ex, is_))

    def _mac(self, path: str, ex: str, is_: str) -> str:
        message = f"{path}|{ex}|{is_}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def safe_filename(filename: str) -> str:
    """Discord's renaming of uploads: no path parts, whitespace and odd characters to ``_``."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^\w.\-]", "_", base).strip(".") or "unknown"
    return cleaned[:1024]


def store_attachment(
    world: World,
    signer: Signer,
    *,
    cdn_base: str,
    media_base: str,
    folder: str,
    owner_id: int,
    filename: str,
    data: bytes,
    content_type: str | None = None,
    description: str | None = None,
    ephemeral: bool = False,
) -> JSON:
    """Keep ``data`` on the CDN and return its attachment object with signed URLs.

    ``folder`` is ``attachments`` (messages) or ``ephemeral-attachments`` (command options);
    ``owner_id`` is the channel (or application) the path is filed under, as on Discord.
    """
    attachment_id = world.ids.next()
    filename = safe_filename(filename)
    kind = content_type or sniff_content_type(data, filename)
    # Keyed and signed by the decoded path: that is what the CDN's router hands back.
    path = f"/{folder}/{owner_id}/{attachment_id}/{filename}"
    world.blobs[path] = Blob(data=data, content_type=kind)
    signed = signer.query(path)
    quoted = quote(path)
    payload: JSON = {
        "id": str(attachment_id),
        "filename": filename,
        "size": len(data),
        "url": f"{cdn_base}{quoted}?{signed}",
        "proxy_url": f"{media_base}{quoted}?{signed}",
        "content_type": kind,
        "flags": 0,
    }
    size = image_size(data) if kind.startswith("image/") else None
    if size is not None:
        payload["width"], payload["height"] = size
        payload["placeholder"] = "AAAAAAAAAAAAAAAAAAAAAA=="  # a thumbhash Discord adds
        payload["placeholder_version"] = 1
    if description is not None:
        payload["description"] = description
    if ephemeral:
        payload["ephemeral"] = True
    return payload
