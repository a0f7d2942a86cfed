"""Media intake: type sniffing, limits, decoding of every accepted format, refusal of the rest."""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from bot.core.hashing import hamming, hash_frame
from bot.core.limits import MediaLimits
from bot.core.media import Media, MediaType, UnscannableMedia, load_media, sniff
from tests.imagery import encode, photo

LIMITS = MediaLimits()
CODES = {
    "empty",
    "too_large",
    "unsupported_type",
    "too_many_pixels",
    "too_many_frames",
    "animation_too_large",
    "corrupt",
}
WHITE = (255, 255, 255)


# ---------------------------------------------------------------- builders


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


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", MediaType.JPEG),
        ("PNG", MediaType.PNG),
        ("GIF", MediaType.GIF),
        ("WEBP", MediaType.WEBP),
        ("BMP", MediaType.BMP),
        ("TIFF", MediaType.TIFF),
    ],
)
def test_sniff_identifies_each_accepted_format_by_its_magic_bytes(
    fmt: str, expected: MediaType
) -> None:
    assert sniff(encode(small_photo(), fmt)) is expected


def test_sniff_recognises_both_gif_versions_and_both_tiff_byte_orders() -> None:
    assert sniff(b"GIF87a...") is MediaType.GIF
    assert sniff(b"GIF89a...") is MediaType.GIF
    assert sniff(b"II*\x00....") is MediaType.TIFF
    assert sniff(b"MM\x00*....") is MediaType.TIFF


def test_sniff_returns_none_for_anything_else() -> None:
    for data in (b"", b"%PDF-1.7", b"hello", b"RIFF\x00\x00\x00\x00WAVE", b"\x00\x00\x00\x18ftyp"):
        assert sniff(data) is None


# ---------------------------------------------------------------- accepted formats


def test_jpeg_loads_as_one_frame_at_its_own_size() -> None:
    media = load(encode(small_photo()))
    assert (media.media_type, media.width, media.height) == (MediaType.JPEG, 120, 80)
    assert media.frame_count == 1 and not media.animated
    assert len(media.frames) == 1 and media.frames[0].pixels.shape == (80, 120, 3)
    assert media.frames[0].index == 0


def test_frames_are_read_only_so_detectors_cannot_alter_what_others_see() -> None:
    frame = load(encode(small_photo(), "PNG")).frames[0]
    with pytest.raises(ValueError, match="read-only"):
        frame.pixels[0, 0, 0] = 1


def test_png_loads_pixel_exact() -> None:
    image = small_photo()
    media = load(encode(image, "PNG"))
    assert media.media_type is MediaType.PNG and (media.width, media.height) == (120, 80)
    assert np.array_equal(media.frames[0].pixels, np.asarray(image))


def test_palette_png_with_transparency_is_composited_onto_white() -> None:
    image = Image.new("P", (20, 10), 1)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    image.paste(0, (0, 0, 10, 10))
    media = load(encode(image, "PNG", transparency=0))
    pixels = media.frames[0].pixels
    assert tuple(pixels[5, 2]) == WHITE  # transparent index
    assert tuple(pixels[5, 15]) == (200, 10, 10)


@pytest.mark.parametrize(
    ("mode", "fmt", "kw"),
    [
        ("RGBA", "PNG", {}),
        ("LA", "PNG", {}),
        ("RGBA", "WEBP", {"lossless": True}),
        ("RGBA", "TIFF", {}),
    ],
)
def test_alpha_channels_are_composited_onto_white(
    mode: str, fmt: str, kw: dict[str, object]
) -> None:
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (10, 0, 20, 10))
    pixels = load(encode(image.convert(mode), fmt, **kw)).frames[0].pixels
    assert tuple(pixels[5, 2]) == WHITE
    assert tuple(pixels[5, 15]) == (0, 0, 0)


def test_the_same_picture_hashes_the_same_with_or_without_a_transparent_margin() -> None:
    base = Image.new("RGB", (64, 64), WHITE)
    base.paste(small_photo(size=(48, 48)), (8, 8))
    with_alpha = base.convert("RGBA")
    with_alpha.paste((1, 2, 3, 0), (0, 0, 64, 8))  # transparent, whatever colour it stores
    opaque = load(encode(base, "PNG")).frames[0]
    transparent = load(encode(with_alpha, "PNG")).frames[0]
    assert np.array_equal(opaque.pixels, transparent.pixels)


@pytest.mark.parametrize("mode", ["1", "L", "I;16", "CMYK"])
def test_every_mode_becomes_rgb(mode: str) -> None:
    image = small_photo().convert("L" if mode == "I;16" else mode)
    fmt = "JPEG" if mode == "CMYK" else "TIFF"
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    media = load(encode(image, fmt))
    assert media.frames[0].pixels.shape == (80, 120, 3)


@pytest.mark.parametrize("fmt", ["TIFF", "PNG"])
def test_16_bit_greyscale_is_scaled_to_8_bits_not_clipped(fmt: str) -> None:
    wide = np.array([[0, 0x1000, 0x8000, 0xFFFF]], dtype=np.uint16).repeat(4, axis=0)
    image = Image.fromarray(wide)
    assert image.mode.startswith("I;16")
    pixels = load(encode(image, fmt)).frames[0].pixels
    assert pixels[0, :, 0].tolist() == [0, 0x10, 0x80, 0xFF]
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()


def test_still_gif_loads_as_one_frame() -> None:
    media = load(encode(small_photo(), "GIF"))
    assert (media.media_type, media.width, media.height, media.frame_count) == (
        MediaType.GIF,
        120,
        80,
        1,
    )
    assert len(media.frames) == 1


def test_animated_gif_reports_all_frames_and_decodes_the_sample() -> None:
    media = load(animation(solid_frames(12), "GIF"))
    assert media.media_type is MediaType.GIF and media.animated
    assert (media.width, media.height, media.frame_count) == (40, 30, 12)
    assert len(media.frames) == LIMITS.sample_frames


def test_still_webp_loads() -> None:
    media = load(encode(small_photo(), "WEBP", quality=80))
    assert (media.media_type, media.width, media.height, media.frame_count) == (
        MediaType.WEBP,
        120,
        80,
        1,
    )


def test_animated_webp_reports_all_frames_and_decodes_the_sample() -> None:
    media = load(animation(solid_frames(5), "WEBP", lossless=True))
    assert media.media_type is MediaType.WEBP and media.frame_count == 5
    assert [tuple(f.pixels[15, 20]) for f in media.frames] == [colour(i) for i in range(5)]


def test_animated_png_is_sampled_like_other_animations() -> None:
    media = load(animation(solid_frames(3), "PNG"))
    assert media.media_type is MediaType.PNG and media.frame_count == 3
    assert [tuple(f.pixels[0, 0]) for f in media.frames] == [colour(i) for i in range(3)]


def test_bmp_loads_pixel_exact() -> None:
    image = small_photo()
    media = load(encode(image, "BMP"))
    assert media.media_type is MediaType.BMP
    assert np.array_equal(media.frames[0].pixels, np.asarray(image))


def test_tiff_loads_pixel_exact() -> None:
    image = small_photo()
    media = load(encode(image, "TIFF", compression="tiff_deflate"))
    assert media.media_type is MediaType.TIFF and (media.width, media.height) == (120, 80)
    assert np.array_equal(media.frames[0].pixels, np.asarray(image))


def test_multi_page_tiff_samples_its_pages() -> None:
    media = load(animation(solid_frames(3), "TIFF"))
    assert media.frame_count == 3
    assert [tuple(f.pixels[0, 0]) for f in media.frames] == [colour(i) for i in range(3)]


def test_extra_jpeg_frames_of_an_mpo_are_ignored() -> None:
    data = animation([small_photo(), small_photo("coffee")], "MPO")
    media = load(data)
    assert media.media_type is MediaType.JPEG and media.frame_count == 1
    assert len(media.frames) == 1


# ---------------------------------------------------------------- animation sampling


def test_animation_sampling_picks_evenly_spread_distinct_frames_first_and_last_included() -> None:
    media = load(animation(solid_frames(20), "GIF"), MediaLimits(sample_frames=5))
    assert [f.index for f in media.frames] == [0, 4, 9, 14, 19]
    assert [tuple(f.pixels[15, 20]) for f in media.frames] == [colour(i) for i in (0, 4, 9, 14, 19)]


def test_short_animations_have_every_frame_decoded() -> None:
    media = load(animation(solid_frames(3), "GIF"))
    assert [f.index for f in media.frames] == [0, 1, 2]


def test_a_single_sample_takes_the_first_frame() -> None:
    media = load(animation(solid_frames(6), "GIF"), MediaLimits(sample_frames=1))
    assert [f.index for f in media.frames] == [0]
    assert media.frame_count == 6


# ---------------------------------------------------------------- orientation and size


def test_exif_orientation_6_reports_rotated_size_and_the_upright_pixels() -> None:
    upright = small_photo("coffee", (150, 100))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # how a sideways camera stores it
    media = load(encode(stored, "PNG", exif=exif_with_orientation(6)))
    assert (media.width, media.height) == (150, 100)
    assert np.array_equal(media.frames[0].pixels, np.asarray(upright))


def test_exif_rotated_jpeg_hashes_like_the_pre_rotated_jpeg() -> None:
    upright = small_photo("coffee", (300, 200))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    rotated = load(encode(stored, "JPEG", exif=exif_with_orientation(6)))
    plain = load(encode(upright, "JPEG"))
    assert (rotated.width, rotated.height) == (300, 200)
    a, b = hash_frame(rotated.frames[0]), hash_frame(plain.frames[0])
    assert hamming(a.pdq, b.pdq) <= 8
    assert hamming(a.phash, b.phash) <= 4


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow_exif_transpose(orientation: int) -> None:
    data = encode(small_photo(), "PNG", exif=exif_with_orientation(orientation))
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    media = load(data)
    assert (media.width, media.height) == expected.size
    assert np.array_equal(media.frames[0].pixels, np.asarray(expected))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt EXIF
@pytest.mark.parametrize(
    "exif", [b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff", b"not exif at all"]
)
def test_damaged_exif_does_not_stop_an_image_being_scanned(exif: bytes) -> None:
    media = load(encode(small_photo(), "JPEG", exif=exif))
    assert (media.width, media.height) == (120, 80)


def test_large_jpeg_is_decoded_reduced_but_reported_at_full_size() -> None:
    image = photo("rocket").resize((4000, 3000))
    media = load(encode(image, "JPEG"))
    assert (media.width, media.height) == (4000, 3000)
    shape = media.frames[0].pixels.shape
    assert LIMITS.work_size <= min(shape[:2]) < 2 * LIMITS.work_size
    assert shape[:2] == (750, 1000)


def test_large_rotated_jpeg_reports_the_full_size_rotated() -> None:
    stored = photo("rocket").resize((3000, 2000))
    media = load(encode(stored, "JPEG", exif=exif_with_orientation(6)))
    assert (media.width, media.height) == (2000, 3000)
    assert media.frames[0].pixels.shape == (1500, 1000, 3)  # decoded at 1/2, then rotated


def test_large_non_jpeg_images_are_box_reduced_toward_the_work_size() -> None:
    image = photo("astronaut").resize((2100, 1500))
    media = load(encode(image, "PNG", compress_level=1))
    assert (media.width, media.height) == (2100, 1500)
    assert media.frames[0].pixels.shape == (750, 1050, 3)


def test_a_small_work_size_reduces_more() -> None:
    media = load(encode(photo("astronaut"), "PNG"), MediaLimits(work_size=100))
    assert media.frames[0].pixels.shape == (103, 103, 3)  # 512 px box-reduced by 5
    assert (media.width, media.height) == (512, 512)


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
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "MP4 video"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "ZIP"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "WebM"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"this is not a picture, whatever its name says (holiday.jpg)\n", "text"),
    ],
)
def test_unsupported_types_are_refused_naming_what_was_sent(data: bytes, named: str) -> None:
    error = refusal(data)
    assert error.code == "unsupported_type"
    assert named in error.message
    assert "JPEG, PNG, GIF, WebP, BMP, TIFF" in error.message


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
