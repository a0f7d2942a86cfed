"""Media intake: refusal of empty, oversized, unsupported, bomb, truncated and damaged files."""

from __future__ import annotations

import random
import struct
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from bot.core.limits import MediaLimits
from bot.core.media import UnscannableMedia
from tests.imagery import encode
from tests.media_support import (
    animation,
    gif_image_descriptors,
    load,
    png_declaring,
    refusal,
    small_photo,
    solid_frames,
)

CODES = {
    "empty",
    "too_large",
    "unsupported_type",
    "too_many_pixels",
    "too_many_frames",
    "animation_too_large",
    "corrupt",
}


# ---------------------------------------------------------------- refusals


def test_empty_files_are_refused() -> None:
    assert refusal(b"").code == "empty"


def test_files_over_the_byte_limit_are_refused_before_decoding() -> None:
    data = encode(small_photo(), "PNG")
    error = refusal(data, MediaLimits(max_bytes=len(data) - 1))
    assert error.code == "too_large"
    assert "limit" in error.message
    assert load(data, MediaLimits(max_bytes=len(data))).frame_count == 1


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\x00\x00\x00\x14ftypcrx \x00\x00\x00\x01crx ", "ISO media"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "ZIP"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"this is not a picture, whatever its name says (holiday.jpg)\n", "text"),
    ],
)
def test_unsupported_types_are_refused_naming_what_was_sent(data: bytes, named: str) -> None:
    error = refusal(data)
    assert error.code == "unsupported_type"
    assert named in error.message
    assert "JPEG, PNG, GIF, WebP, BMP, TIFF, MP4, MOV, WebM" in error.message


def test_unrecognised_bytes_are_refused_as_unrecognised() -> None:
    data = random.Random(7).randbytes(2000)
    data = b"\x00\x9c" + data[2:]  # no known signature, not text
    error = refusal(data)
    assert error.code == "unsupported_type"
    assert "unrecognised format" in error.message


def test_decompression_bomb_is_refused_from_its_header() -> None:
    error = refusal(png_declaring(8000, 8000))
    assert error.code == "too_many_pixels"
    assert "8000x8000" in error.message and "50.0 megapixels" in error.message


def test_huge_declared_sizes_are_refused_even_when_pillow_objects_first() -> None:
    # 30000x30000 is past Pillow's own hard limit, which fires inside Image.open.
    assert refusal(png_declaring(30000, 30000)).code == "too_many_pixels"
    assert Image.MAX_IMAGE_PIXELS == 1024 * 1024 * 1024 // 4 // 3  # global left alone


def test_pillow_bomb_warning_raised_as_an_error_is_still_a_refusal() -> None:
    limits = MediaLimits(max_pixels=200_000_000, max_total_pixels=200_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert refusal(png_declaring(10000, 10000), limits).code == "too_many_pixels"


def test_the_pixel_limit_is_per_call() -> None:
    data = encode(small_photo(), "PNG")
    assert refusal(data, MediaLimits(max_pixels=120 * 80 - 1)).code == "too_many_pixels"
    assert load(data, MediaLimits(max_pixels=120 * 80)).width == 120


def test_a_gif_frame_that_grows_the_canvas_is_refused_before_it_is_decoded() -> None:
    data = bytearray(animation(solid_frames(4, (20, 20)), "GIF"))
    second = gif_image_descriptors(bytes(data))[1]
    data[second + 5 : second + 9] = struct.pack("<HH", 8000, 8000)
    error = refusal(bytes(data))
    assert error.code == "too_many_pixels" and "8000x8000" in error.message


def test_animations_with_too_many_frames_are_refused() -> None:
    data = animation(solid_frames(5), "GIF")
    error = refusal(data, MediaLimits(max_frames=4))
    assert error.code == "too_many_frames" and "5 frames" in error.message
    assert load(data, MediaLimits(max_frames=5)).frame_count == 5


def test_animations_too_large_in_total_are_refused() -> None:
    data = animation(solid_frames(10, (40, 30)), "GIF")
    error = refusal(data, MediaLimits(max_total_pixels=40 * 30 * 10 - 1))
    assert error.code == "animation_too_large"
    assert load(data, MediaLimits(max_total_pixels=40 * 30 * 10)).frame_count == 10


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9])
def test_truncated_files_are_refused_not_decoded_grey(fmt: str, keep: float) -> None:
    data = encode(small_photo(), fmt)
    error = refusal(data[: int(len(data) * keep)])
    assert error.code == "corrupt"
    assert len(error.message) < 160


def test_truncated_animated_gif_is_refused() -> None:
    data = animation([small_photo(n) for n in ("chelsea", "coffee", "rocket")], "GIF")
    assert refusal(data[: len(data) * 3 // 4]).code == "corrupt"


@pytest.mark.parametrize(
    "magic",
    [
        b"\xff\xd8\xff\xe0",
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a",
        b"RIFF\x00\x10\x00\x00WEBPVP8 ",
        b"BM",
        b"II*\x00",
        b"MM\x00*",
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's TIFF reader warns about bad tags
def test_garbage_after_a_valid_magic_is_refused(magic: bytes) -> None:
    error = refusal(magic + random.Random(1).randbytes(3000))
    # Random header fields often declare a huge size, which is refused before decoding.
    assert error.code in ("corrupt", "too_many_pixels")


@pytest.mark.filterwarnings("ignore")  # Pillow warns about the damage it finds; that is the point
def test_damaged_files_only_ever_load_or_raise_unscannable_media() -> None:
    rng = random.Random(20240601)
    image = small_photo(size=(48, 32))
    originals = [
        encode(image, "JPEG"),
        encode(image, "JPEG", progressive=True),
        encode(image, "PNG"),
        encode(image.convert("P"), "PNG", transparency=3),
        encode(image, "GIF"),
        animation(solid_frames(4, (24, 16)), "GIF"),
        encode(image, "WEBP"),
        animation(solid_frames(3, (24, 16)), "WEBP"),
        encode(image, "BMP"),
        encode(image, "TIFF"),
        encode(image, "TIFF", compression="tiff_lzw"),
        encode(Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257), "TIFF"),
    ]
    limits = MediaLimits(max_pixels=2_000_000, max_total_pixels=8_000_000, max_frames=64)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(200):
        data = bytearray(rng.choice(originals))
        operation = rng.randrange(4)
        if operation == 0:  # flip bits, mostly in the headers where parsers make decisions
            for _ in range(rng.randint(1, 4)):
                position = rng.randrange(min(len(data), 96) if rng.random() < 0.6 else len(data))
                data[position] ^= 1 << rng.randrange(8)
        elif operation == 1:  # truncate
            del data[rng.randrange(1, len(data)) :]
        elif operation == 2:  # overwrite a run with noise
            start = rng.randrange(len(data))
            data[start : start + 16] = rng.randbytes(16)
        else:  # insert bytes
            start = rng.randrange(len(data))
            data[start:start] = rng.randbytes(rng.randint(1, 8))
        try:
            media = load(bytes(data), limits)
        except UnscannableMedia as error:
            assert error.code in CODES
            outcomes["refused"] += 1
        else:
            assert 1 <= len(media.frames) <= limits.sample_frames
            outcomes["loaded"] += 1
    assert outcomes["loaded"] and outcomes["refused"]


def _many_page_tiff(pages: int, *, big_endian: bool = False, loop: bool = False) -> bytes:
    """A TIFF of ``pages`` one-pixel pages, written by hand (Pillow would take minutes)."""
    order = ">" if big_endian else "<"
    header = (b"MM" if big_endian else b"II") + struct.pack(f"{order}HI", 42, 8)
    body = bytearray()
    ifd_size = 2 + 8 * 12 + 4
    pixel = 8 + pages * ifd_size  # the one pixel byte, after every page's IFD
    for i in range(pages):
        at = 8 + i * ifd_size
        entries = [
            (256, 3, 1, 1),  # width
            (257, 3, 1, 1),  # height
            (258, 3, 1, 8),  # bits per sample
            (259, 3, 1, 1),  # no compression
            (262, 3, 1, 1),  # black is zero
            (273, 4, 1, pixel),  # strip offset
            (278, 3, 1, 1),  # rows per strip
            (279, 4, 1, 1),  # strip byte count
        ]
        body += struct.pack(f"{order}H", len(entries))
        for tag, kind, count, value in entries:
            packed = struct.pack(f"{order}H", value) + b"\0\0" if kind == 3 else None
            body += struct.pack(f"{order}HHI", tag, kind, count)
            body += packed if packed is not None else struct.pack(f"{order}I", value)
        last = i == pages - 1
        body += struct.pack(f"{order}I", 8 if (last and loop) else (0 if last else at + ifd_size))
    return header + bytes(body) + b"\x80"


def test_a_tiff_of_very_many_pages_is_refused_without_counting_them_all() -> None:
    data = _many_page_tiff(20_000)
    started = time.perf_counter()
    error = refusal(data, MediaLimits(max_frames=2_000))
    assert error.code == "too_many_frames" and "more than the 2000-frame" in error.message
    assert time.perf_counter() - started < 5  # not a generous bound: this is not a benchmark
    assert load(_many_page_tiff(3), MediaLimits()).frame_count == 3
    assert load(_many_page_tiff(3, big_endian=True), MediaLimits()).frame_count == 3


def test_a_tiff_page_chain_that_loops_stops_the_count() -> None:
    from bot.core import _decode

    assert _decode.tiff_pages(_many_page_tiff(5, loop=True), 100) == 5
    assert _decode.tiff_pages(b"II*\0\xff\xff\xff\xff", 100) == 1  # points past the end
