"""Pillow-level helpers for ``bot.core.media``: pixel normalisation, orientation, frame sampling.

Nothing here enforces limits or raises ``UnscannableMedia``: ``media.load_media`` owns the control
flow and turns any exception raised here into a refusal.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import ExifTags, Image

# Transparent pixels are composited onto this fixed colour, so the same picture always yields the
# same pixels (and hashes) whatever its alpha channel or transparency key.
BACKGROUND = (255, 255, 255)

# EXIF orientation -> transposition showing the image upright (as in ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Orientations that swap width and height.
_SWAPS_AXES = frozenset({5, 6, 7, 8})

# Greyscale modes holding more than 8 bits per pixel; Pillow's own convert("L") clips them at 255
# instead of scaling, which would turn most 16-bit images white.
_WIDE_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})

# Signatures of common files that are not supported images, so a refusal can say what was sent.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"PK\x05\x06", "a ZIP archive"),
    (0, b"\x1a\x45\xdf\xa3", "a WebM/Matroska video"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"\x7fELF", "an ELF executable"),
    (0, b"MZ", "a Windows executable"),
    (0, b"8BPS", "a Photoshop document"),
    (0, b"\x00\x00\x01\x00", "a Windows icon"),
    (0, b"\xff\x0a", "a JPEG XL image"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (0, b"\xff\x4f\xff\x51", "a JPEG 2000 image"),
    (0, b"FLV", "a Flash video"),
    (0, b"\x00\x00\x01\xba", "an MPEG video"),
    (0, b"\x00\x00\x01\xb3", "an MPEG video"),
    (0, b"OggS", "an Ogg audio/video file"),
    (0, b"fLaC", "a FLAC audio file"),
    (0, b"ID3", "an MP3 audio file"),
    (0, b"qoif", "a QOI image"),
    (8, b"AVI ", "an AVI video"),
    (8, b"WAVE", "a WAV audio file"),
)
_FTYP_BRANDS = {
    b"heic": "a HEIC image",
    b"heix": "a HEIC image",
    b"hevc": "a HEIC image",
    b"mif1": "a HEIF image",
    b"msf1": "a HEIF image",
    b"avif": "an AVIF image",
    b"avis": "an AVIF image",
    b"qt  ": "a QuickTime video",
}


def describe_unsupported(data: bytes) -> str | None:
    """Name what ``data`` looks like (``"a PDF document"``), or None when it is not recognised."""
    if data[4:8] == b"ftyp":
        # ISO base media: MP4, MOV, 3GP, HEIF and AVIF share this box; the brand tells them apart.
        return _FTYP_BRANDS.get(data[8:12], "an ISO media file of an unsupported kind")
    for offset, magic, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return name
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml")):
        return "an SVG/XML document"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    try:
        text = data[:512].decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at byte 512 is still text; anything else is not.
        try:
            text = data[:508].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if text and all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "a text file"
    return None


def sample_indices(frame_count: int, samples: int) -> tuple[int, ...]:
    """``min(samples, frame_count)`` distinct indices spread evenly, first and last included."""
    count = min(samples, frame_count)
    if count <= 1:
        return (0,)
    # Steps are >= 1 because count <= frame_count, so flooring never repeats an index.
    return tuple(i * (frame_count - 1) // (count - 1) for i in range(count))


def orientation(image: Image.Image) -> int:
    """The EXIF (or XMP) orientation of the current frame, 1 when absent or unreadable.

    Damaged metadata is ignored rather than refused: the pixels are still worth scanning, and a
    refusal would let anyone dodge the scanner by breaking an image's EXIF block.
    """
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and value in _ORIENTATION else 1


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """``size`` as displayed once ``orientation`` is applied."""
    width, height = size
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert a loaded frame of any mode to RGB, compositing transparency onto ``BACKGROUND``."""
    if image.mode in _WIDE_GREY_MODES:
        # Scale 16-bit samples to 8 bits (32-bit "I" data is treated as 16-bit, clipped).
        wide = np.asarray(image).astype(np.int64)
        grey = (np.clip(wide, 0, 0xFFFF) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        grey = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, (0, 0), rgba)
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def shrink(image: Image.Image, work_size: int) -> Image.Image:
    """Box-downscale by an integer factor so the shorter side lands in ``[work_size, 2*work_size)``.

    Every format gets this rule (JPEG's reduced DCT decode already lands in the same range), so a
    picture yields similar frames whatever it was saved as, and hashing/scoring cost stays bounded.
    Images whose shorter side is already below ``2*work_size`` are left alone.
    """
    factor = min(image.size) // work_size
    return image.reduce(factor) if factor >= 2 else image


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """Apply an EXIF orientation (done after shrinking, where it is cheapest)."""
    method = _ORIENTATION.get(orientation)
    return image if method is None else image.transpose(method)


def pixels(image: Image.Image) -> np.ndarray:
    """An RGB image as a read-only, C-contiguous HxWx3 uint8 array."""
    array = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    array.setflags(write=False)
    return array


def tiff_pages(data: bytes, limit: int) -> int:
    """How many pages (IFDs) a TIFF holds, counting no further than ``limit + 1``.

    Pillow's ``n_frames`` seeks through every page, and its cost grows with the square of the
    page count (100,000 one-pixel pages took 47 s of CPU): walking the IFD chain here costs a
    few bytes per page and stops just past the limit. A chain that loops back, or points past
    the file, ends the count (the decoder then reports what is wrong with the file).
    """
    if len(data) < 8 or data[:2] not in (b"II", b"MM"):
        return 1
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"
    magic = int.from_bytes(data[2:4], order)
    big = magic == 43  # BigTIFF: 8-byte offsets and counts
    if magic not in (42, 43) or (big and len(data) < 16):
        return 1
    offset = int.from_bytes(data[8:16] if big else data[4:8], order)
    count_size, entry_size, offset_size = (8, 20, 8) if big else (2, 12, 4)
    seen: set[int] = set()
    pages = 0
    while offset and offset not in seen and pages <= limit:
        seen.add(offset)
        if offset + count_size > len(data):
            break
        entries = int.from_bytes(data[offset : offset + count_size], order)
        pages += 1
        next_at = offset + count_size + entries * entry_size
        if next_at + offset_size > len(data):
            break
        offset = int.from_bytes(data[next_at : next_at + offset_size], order)
    return max(pages, 1)
