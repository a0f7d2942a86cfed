"""Finding the picture inside borders, caption bars and screenshots (``bot.core._borders``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bot.core import _borders
from bot.core._borders import Box, content_box, grey, picture_boxes, trim_box
from bot.core.hashing import hamming, hash_frame
from bot.core.media import Frame
from tests import edit_set


def pixels(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


def pasted(
    picture: Image.Image, size: tuple[int, int], at: tuple[int, int], colour: object = "white"
) -> Image.Image:
    canvas = Image.new("RGB", size, colour)  # type: ignore[arg-type]
    canvas.paste(picture, at)
    return canvas


def near(found: Box, expected: tuple[int, int, int, int], slack: int = 3) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(found, expected, strict=True))


@pytest.mark.parametrize("colour", ["black", "white", (30, 120, 200)])
def test_letterbox_bars_are_trimmed_to_the_picture(colour: object) -> None:
    picture = edit_set.picture("coffee")  # 600x400
    framed = pasted(picture, (600, 560), (0, 80), colour)
    boxes = picture_boxes(pixels(framed))
    assert boxes and near(boxes[0], (0, 80, 600, 480))


def test_a_frame_on_all_four_sides_is_trimmed() -> None:
    framed = pasted(edit_set.picture("astronaut"), (700, 640), (90, 60), (20, 20, 20))
    assert near(picture_boxes(pixels(framed))[0], (90, 60, 602, 572))


def test_a_caption_bar_with_text_is_cut_off_by_the_content_block() -> None:
    rng = np.random.default_rng(1)
    picture = edit_set.picture("chelsea")
    captioned = edit_set.caption(picture, rng)
    top = captioned.height - picture.height  # bars above, below, or both
    boxes = picture_boxes(pixels(captioned))
    assert any(b.width >= picture.width - 4 and b.height <= picture.height + 4 for b in boxes)
    assert top >= 0


def test_the_picture_inside_a_screenshot_is_the_content_block() -> None:
    picture = edit_set.picture("rocket")
    for seed in range(4):
        shot = edit_set.screenshot(picture, np.random.default_rng(seed))
        frame = hash_frame(Frame(0, pixels(shot)))
        original = hash_frame(Frame(0, pixels(picture)))
        best = min(
            (hamming(code, original.pdq) for v in frame.views for code in v.pdq_variants),
            default=256,
        )
        assert best <= 31, seed


def test_a_plain_photo_has_no_views() -> None:
    for name in ("astronaut", "coffee", "rocket", "chelsea"):
        assert picture_boxes(pixels(edit_set.picture(name))) == (), name


def test_a_uniform_image_has_no_picture() -> None:
    flat = np.full((200, 300, 3), 128, dtype=np.uint8)
    assert trim_box(grey(flat)) is None
    assert content_box(grey(flat)) is None
    assert picture_boxes(flat) == ()


def test_a_one_pixel_image_and_tiny_images_have_no_views() -> None:
    for shape in ((1, 1, 3), (1, 500, 3), (500, 1, 3), (10, 10, 3)):
        assert picture_boxes(np.zeros(shape, dtype=np.uint8)) == (), shape
    assert trim_box(grey(np.zeros((1, 1, 3), dtype=np.uint8))) is None


def test_an_image_that_is_all_border_or_only_small_pieces_has_no_content() -> None:
    bars = np.zeros((300, 300, 3), dtype=np.uint8)
    bars[:150] = 255  # two uniform halves: every row is uniform
    assert trim_box(grey(bars)) is None and picture_boxes(bars) == ()
    dots = Image.new("RGB", (400, 400), "white")
    for k in range(8):  # small marks only, like a page of text
        dots.paste((0, 0, 0), (20 + 45 * k, 200, 30 + 45 * k, 210))
    assert content_box(grey(pixels(dots))) is None


def test_stripes_stop_the_cut_before_it_grows() -> None:
    # A picture of many flat bands, each a uniform line run: the cut is bounded and ends.
    stripes = np.zeros((384, 384, 3), dtype=np.uint8)
    stripes[::6] = 255
    stripes[:, ::7] = 128
    picture_boxes(stripes)  # must return, whatever it finds
    assert _borders.MAX_PIECES <= 64


def test_boxes_are_given_in_frame_pixels_for_large_frames() -> None:
    big = pasted(edit_set.picture("coffee").resize((1800, 1200)), (1800, 1800), (0, 300), "black")
    boxes = picture_boxes(pixels(big))
    assert boxes and near(boxes[0], (0, 300, 1800, 1500), slack=_borders.WORK_SIDE // 64 + 6)


def test_phash_variants_are_imagehash_as_is_and_mirrored() -> None:
    import imagehash

    from bot.core.hashing import phash_bytes, phash_variants

    for name in ("astronaut", "moon", "dusk"):
        image = edit_set.picture(name)
        plain, mirrored = phash_variants(image)
        assert plain.hex() == str(imagehash.phash(image))
        flipped = phash_bytes(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        assert hamming(mirrored, flipped) <= 2


def test_crop_phashes_match_a_crop_that_a_whole_frame_hash_misses() -> None:
    from bot.core.hashing import crop_phashes, phash_bytes

    image = edit_set.picture("astronaut")
    cropped = image.crop((60, 20, 480, 460))  # about 82% x 86%, off-centre
    code = phash_bytes(cropped)
    assert hamming(code, phash_bytes(image)) > 10
    assert min(hamming(code, c) for c in crop_phashes(image)) <= 10
    assert len(crop_phashes(image)) <= 25
    assert crop_phashes(Image.new("RGB", (5, 5))) == ()
