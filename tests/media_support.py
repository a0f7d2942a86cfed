"""Builders and loaders shared by the media intake tests."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bot.core.limits import MediaLimits
from bot.core.media import Media, UnscannableMedia, load_media
from tests.imagery import encode, photo

LIMITS = MediaLimits()


def colour(index: int) -> tuple[int, int, int]:
    """A distinct, exactly representable colour per frame index."""
    return ((index * 40) % 256, 255 - (index * 12) % 256, (index * 90 + 30) % 256)


def solid_frames(count: int, size: tuple[int, int] = (40, 30)) -> list[Image.Image]:
    return [Image.new("RGB", size, colour(i)) for i in range(count)]


def animation(frames: list[Image.Image], fmt: str, **kw: object) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=40, **kw)
    return buffer.getvalue()


def small_photo(name: str = "chelsea", size: tuple[int, int] = (120, 80)) -> Image.Image:
    return photo(name).resize(size)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny real PNG whose IHDR claims ``width`` x ``height`` (CRC fixed, no pixels behind it)."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def gif_image_descriptors(data: bytes) -> list[int]:
    """Offsets of the image descriptors (0x2C blocks) in a GIF."""
    position = 13
    if data[10] & 0x80:
        position += 3 << ((data[10] & 7) + 1)
    found = []
    while data[position] != 0x3B:
        if data[position] == 0x21:
            position += 2
        else:
            found.append(position)
            flags = data[position + 9]
            position += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0) + 1
        while data[position]:
            position += data[position] + 1
        position += 1
    return found


def exif_with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def load(data: bytes, limits: MediaLimits = LIMITS) -> Media:
    media = load_media(data, limits)
    for frame in media.frames:
        assert frame.pixels.dtype == np.uint8
        assert frame.pixels.ndim == 3 and frame.pixels.shape[2] == 3
        assert frame.pixels.flags.c_contiguous
    return media


def refusal(data: bytes, limits: MediaLimits = LIMITS) -> UnscannableMedia:
    with pytest.raises(UnscannableMedia) as info:
        load_media(data, limits)
    assert str(info.value) == info.value.message
    return info.value
