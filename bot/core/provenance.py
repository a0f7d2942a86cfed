"""Provenance: C2PA Content Credentials and AI-generator metadata, read from the file's bytes.

An extra signal, never proof: metadata is trivially stripped or forged, so its absence means
nothing and its presence only raises (AI markers) or documents (C2PA) what the file claims.
Only container headers and metadata are read; nothing here decodes pixels.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.core.detectors.base import Detection, Detector
from bot.core.hashes import MediaHashes
from bot.core.media import Media

# Generators that write their name or parameters into the files they make.
_GENERATORS = re.compile(
    rb"(stable[ _-]?diffusion|midjourney|dall[\xc2\xb7 ._-]?e|novelai|comfyui|automatic1111|"
    rb"invokeai|fooocus|firefly|leonardo\.ai|nijijourney|flux\.1|sdxl|imagen|ideogram)",
    re.IGNORECASE,
)
# IPTC's digital source types for AI output (written by Adobe, Google, OpenAI and others).
_IPTC_AI = re.compile(
    rb"digitalsourcetype/"
    rb"(trainedAlgorithmicMedia|compositeWithTrainedAlgorithmicMedia|algorithmicMedia)"
)
# Keys that only AI front-ends write into PNG text chunks.
_AI_PNG_KEYS = {
    b"parameters",
    b"prompt",
    b"workflow",
    b"sd-metadata",
    b"invokeai_metadata",
    b"Dream",
}
_TEXT_LIMIT = 1 << 20  # decompressed metadata read per chunk, at most


@dataclass(frozen=True, slots=True)
class Provenance:
    """What the file says about where it came from."""

    ai_generator: bool = False
    c2pa: bool = False
    details: tuple[str, ...] = field(default=())


def read_provenance(data: bytes) -> Provenance:
    """Blocking: scan ``data``'s metadata. Never raises on malformed input."""
    ai = False
    c2pa = False
    details: list[str] = []
    for kind, payload in _metadata(data):
        if kind == "c2pa" or b"c2pa" in payload[:64]:
            c2pa = True
            details.append("C2PA manifest present")
            continue
        if kind == "png-key":
            ai = True
            details.append(f"AI front-end metadata ({payload[:32].decode('latin-1')})")
            continue
        iptc = _IPTC_AI.search(payload)
        if iptc:
            ai = True
            details.append(f"IPTC digital source type {iptc.group(1).decode()}")
        generator = _GENERATORS.search(payload)
        if generator:
            ai = True
            details.append(f"generator named: {generator.group(1).decode('latin-1')}")
    return Provenance(ai, c2pa, tuple(dict.fromkeys(details)))


def _metadata(data: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            yield from _png(data)
        elif data.startswith(b"\xff\xd8"):
            yield from _jpeg(data)
        elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            yield from _riff(data)
    except (struct.error, ValueError, zlib.error, IndexError):
        return  # malformed metadata: whatever was read before it still counts


def _png(data: bytes) -> Iterator[tuple[str, bytes]]:
    offset = 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == b"caBX":
            yield "c2pa", body
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, _, rest = body.partition(b"\x00")
            if key in _AI_PNG_KEYS:
                yield "png-key", key
            if kind == b"zTXt":
                rest = zlib.decompressobj().decompress(rest[1:], _TEXT_LIMIT)
            elif kind == b"iTXt" and rest[:1] == b"\x01":
                parts = rest[2:].split(b"\x00", 2)
                rest = zlib.decompressobj().decompress(parts[-1], _TEXT_LIMIT)
            yield "text", key + b"=" + rest[:_TEXT_LIMIT]
        elif kind == b"eXIf":
            yield "exif", body
        elif kind == b"IEND":
            return


def _jpeg(data: bytes) -> Iterator[tuple[str, bytes]]:
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return
        length = struct.unpack(">H", data[offset + 2 : offset + 4])[0]
        body = data[offset + 4 : offset + 2 + length]
        offset += 2 + length
        if marker == 0xEB and b"jumb" in body[:64]:  # APP11: JUMBF boxes carry C2PA
            yield ("c2pa" if b"c2pa" in body[:128] else "jumbf"), body
        elif marker in (0xE1, 0xED, 0xFE):  # EXIF/XMP, IPTC, comments
            yield "meta", body


def _riff(data: bytes) -> Iterator[tuple[str, bytes]]:
    offset = 12
    while offset + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        offset += 8 + length + (length & 1)
        if kind == b"C2PA":
            yield "c2pa", body
        elif kind in (b"EXIF", b"XMP "):
            yield "meta", body


class ProvenanceDetector(Detector):
    """Scores 1.0 for AI-generator metadata (``ai_metadata``) and for a C2PA manifest."""

    name = "provenance"
    labels = ("ai_metadata", "c2pa")

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        # Header parsing is microseconds of work: not worth a trip to the executor.
        found = read_provenance(media.data)
        return Detection(
            detector=self.name,
            scores={"ai_metadata": float(found.ai_generator), "c2pa": float(found.c2pa)},
        )
