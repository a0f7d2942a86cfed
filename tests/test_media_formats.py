"""Media intake: type sniffing, decoding of every accepted format, sampling, orientation, size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from bot.core.hashing import hamming, hash_frame
from bot.core.limits import MediaLimits
from bot.core.media import MediaType, sniff
from tests.imagery import encode, photo
from tests.media_support import (
    LIMITS,
    animation,
    colour,
    exif_with_orientation,
    load,
    small_photo,
    solid_frames,
)

WHITE = (255, 255, 255)


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
