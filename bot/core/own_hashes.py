"""A victim's own hashes: made on their own machine (``consentry hash``), uploaded as a small file
(``/protect media``), so that the media itself never leaves their hands.

The file::

    {"format": "consentry-own-hashes", "version": 1,
     "items": [{"kind": "image", "md5": "...", "sha256": "...", "pdq": ["..."]},
               {"kind": "video", "md5": "...", "sha256": "...", "pdq": ["...", "..."]}]}

Only hashes: no file names, sizes or dates. ``pdq`` holds the PDQ hash of each distinct sampled
frame good enough to match (one for a still image, several for a GIF or a video: per-frame PDQ).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.core.blocklist import Algorithm, normalise_hash
from bot.core.hashing import exact_hashes, hash_frame
from bot.core.limits import MediaLimits
from bot.core.media import load_media

FORMAT = "consentry-own-hashes"
VERSION = 1
MAX_ITEMS = 200
"""Files one upload may register."""
MAX_HASHES = 4000
"""Hashes one upload may hold in all (a video gives up to one PDQ per sampled frame)."""
MAX_FILE_BYTES = 1024 * 1024


class OwnHashesError(ValueError):
    """The file is not a hashes file this version reads; the message says why."""


@dataclass(frozen=True, slots=True)
class OwnItem:
    """One file's hashes."""

    kind: str
    md5: str
    sha256: str
    pdq: tuple[str, ...]

    @property
    def hashes(self) -> list[tuple[Algorithm, str]]:
        """Every hash of the item, as blocklist entries would hold them."""
        return [
            (Algorithm.MD5, self.md5),
            (Algorithm.SHA256, self.sha256),
            *((Algorithm.PDQ, p) for p in self.pdq),
        ]


def hash_file(data: bytes, limits: MediaLimits, pdq_min_quality: int) -> OwnItem:
    """Hash one image or video (CPU work). UnscannableMedia when it cannot be decoded."""
    sha256, md5 = exact_hashes(data)
    media = load_media(data, limits)
    pdq: list[str] = []
    for frame in media.frames:
        found = hash_frame(frame, views=False)
        if found.pdq_quality >= pdq_min_quality and found.pdq.hex() not in pdq:
            pdq.append(found.pdq.hex())
    kind = "image" if len(media.frames) == 1 else "video"
    return OwnItem(kind, md5, sha256, tuple(pdq))


def dumps(items: list[OwnItem]) -> str:
    """The hashes file for ``items``."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "items": [
            {"kind": i.kind, "md5": i.md5, "sha256": i.sha256, "pdq": list(i.pdq)} for i in items
        ],
    }
    return json.dumps(document, indent=1) + "\n"


def loads(text: str) -> list[OwnItem]:
    """The items of a hashes file; OwnHashesError names the first problem."""
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OwnHashesError(f"not a hashes file: not valid JSON ({exc.msg})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise OwnHashesError(f"not a hashes file made by `consentry hash` ({FORMAT})")
    if document.get("version") != VERSION:
        raise OwnHashesError(f"unsupported version {document.get('version')!r}")
    raw = document.get("items")
    if not isinstance(raw, list) or not raw:
        raise OwnHashesError("the file holds no items")
    if len(raw) > MAX_ITEMS:
        raise OwnHashesError(f"{len(raw)} items: at most {MAX_ITEMS} a file")
    items = [_item(i, entry) for i, entry in enumerate(raw, start=1)]
    if sum(len(i.hashes) for i in items) > MAX_HASHES:
        raise OwnHashesError(f"more than {MAX_HASHES} hashes in one file")
    return items


def _item(number: int, raw: Any) -> OwnItem:
    if not isinstance(raw, dict):
        raise OwnHashesError(f"item {number}: must be an object")
    try:
        pdq = raw.get("pdq", [])
        if not isinstance(pdq, list):
            raise ValueError("pdq must be a list")
        return OwnItem(
            "video" if raw.get("kind") == "video" else "image",
            normalise_hash(Algorithm.MD5, str(raw.get("md5", ""))),
            normalise_hash(Algorithm.SHA256, str(raw.get("sha256", ""))),
            tuple(normalise_hash(Algorithm.PDQ, str(p)) for p in pdq),
        )
    except ValueError as exc:
        raise OwnHashesError(f"item {number}: {exc}") from None
