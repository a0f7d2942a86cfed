"""An evaluation set of edited copies of known pictures, and unrelated distractors.

Issue "Edited copies of known media": reposts of known abusive media are edited to slip past
hashes. This module rebuilds, deterministically and in memory (nothing is written or committed),
the edits the issue lists, applied to benign public photographs (scikit-image's ``data``, see
``tests.imagery``) and to low-detail pictures drawn with Pillow:

- ``border``: uniform colour bars on one or more sides, 5-25% of the size;
- ``screenshot``: the picture inside a desktop app window or a phone screenshot (header bar,
  UI chrome, text-like blocks, buttons);
- ``caption``: a white or black meme bar above and/or below, with drawn text;
- ``crop``: 80-90% of each side kept, centred or anywhere;
- ``mirror``: mirrored (left-right) copies, re-encoded;
- ``recompress``: resized to 40-90% and re-encoded at JPEG quality 30-60.

Distractors, twice as many as edits, must never match: other scikit-image pictures, the same
edits applied to them, crops of them, and scenes drawn with Pillow. No explicit imagery ever
enters this project (DESIGN.md, Test data).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import data as skdata

from tests.imagery import encode

SEED = 20240917
KINDS = ("border", "screenshot", "caption", "crop", "mirror", "recompress")
# Blocklisted pictures. "cat" is "chelsea" and the two stereo views are one scene, so neither
# may appear on both sides.
ORIGINAL_PHOTOS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "moon",
)
LOW_DETAIL = ("dusk", "dunes")
"""Pillow-drawn originals with little detail (PDQ quality near the floor of 50)."""
DISTRACTOR_PHOTOS = (
    "coins",
    "retina",
    "motorcycle",
    "cell",
    "page",
    "text",
    "brick",
    "grass",
    "gravel",
    "colorwheel",
    "logo",
    "horse",
    "shepp_logan_phantom",
    "checkerboard",
)
# Edits per original, by kind; each original gets all of them.
PER_ORIGINAL = {
    "border": 3,
    "screenshot": 3,
    "caption": 2,
    "crop": 3,
    "mirror": 1,
    "recompress": 2,
}
_WORDS = [
    "when",
    "you",
    "see",
    "it",
    "lol",
    "no",
    "way",
    "this",
    "is",
    "real",
    "who",
    "did",
    "this",
    "look",
    "at",
    "him",
    "every",
    "time",
]


@dataclass(frozen=True, slots=True)
class Sample:
    """One picture of the set: where it came from, what was done to it, and its encoded bytes."""

    source: str
    """The picture it was made from (an original's name, or a distractor's)."""
    kind: str
    """The edit (one of ``KINDS``), or ``original``, ``photo``, ``scene`` for unedited ones."""
    data: bytes


@dataclass(frozen=True, slots=True)
class EditSet:
    originals: tuple[Sample, ...]
    """What the blocklist is built from: each original, as a lossless PNG."""
    edited: tuple[Sample, ...]
    """Edited copies of the originals: each should match its own original's entries."""
    distractors: tuple[Sample, ...]
    """Unrelated pictures: none may match any entry."""


def _uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    scaled = array.astype(np.float64)
    scaled = (scaled - scaled.min()) / max(float(scaled.max() - scaled.min()), 1e-9)
    return (scaled * 255).astype(np.uint8)


@cache
def _picture(name: str) -> Image.Image:
    if name in LOW_DETAIL:
        return _low_detail(name)
    array = skdata.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skdata, name)()
    image = Image.fromarray(_uint8(np.asarray(array)))
    if image.mode == "RGBA":  # the logo: flatten on white
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    return image.convert("RGB")


def picture(name: str) -> Image.Image:
    """A fresh RGB copy of one picture of the set (scikit-image's, or a drawn low-detail one)."""
    return _picture(name).copy()


def _low_detail(name: str) -> Image.Image:
    """Smooth drawn pictures: a few soft shapes on a gradient, blurred (little texture)."""
    width, height = 480, 360
    y = np.linspace(0, 1, height)[:, None, None]
    if name == "dusk":
        top, bottom = np.array([40, 50, 120]), np.array([250, 150, 90])
    else:
        top, bottom = np.array([150, 190, 230]), np.array([230, 200, 140])
    sky = (top * (1 - y) + bottom * y) * np.ones((1, width, 1))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if name == "dusk":
        draw.ellipse((300, 90, 380, 170), fill=(255, 230, 150))
        draw.polygon(
            [(0, 360), (0, 250), (140, 190), (260, 260), (480, 210), (480, 360)], (40, 30, 50)
        )
        draw.rectangle((60, 200, 90, 300), fill=(25, 20, 30))
    else:
        draw.ellipse((60, 40, 130, 110), fill=(255, 250, 220))
        draw.polygon([(0, 360), (0, 280), (200, 200), (480, 290), (480, 360)], (200, 150, 80))
        draw.polygon([(150, 360), (330, 240), (480, 330), (480, 360)], (170, 120, 60))
        draw.polygon([(0, 360), (0, 320), (90, 300), (200, 360)], (120, 80, 40))
        draw.ellipse((250, 60, 400, 100), fill=(245, 245, 250))
    return image.filter(ImageFilter.GaussianBlur(6 if name == "dusk" else 3))


# ---------------------------------------------------------------- edits


def _jpeg(image: Image.Image, rng: np.random.Generator) -> bytes:
    return encode(image, "JPEG", quality=int(rng.integers(70, 93)))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    palette = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (24, 24, 28), (245, 245, 240)]
    if rng.random() < 0.25:
        r, g, b = (int(v) for v in rng.integers(0, 256, 3))
        return (r, g, b)
    return palette[int(rng.integers(len(palette)))]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _text(rng: np.random.Generator, words: int) -> str:
    return " ".join(_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), words))


def border(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Uniform bars on some sides: letterbox, pillarbox, a frame, one side or two."""
    layouts = [
        ("top", "bottom"),
        ("left", "right"),
        ("top", "bottom", "left", "right"),
        ("top",),
        ("bottom",),
        ("left",),
        ("right",),
        ("top", "left"),
        ("bottom", "right"),
    ]
    sides = layouts[int(rng.integers(len(layouts)))]
    width, height = image.size
    pads = {s: 0 for s in ("top", "bottom", "left", "right")}
    for side in sides:
        size = height if side in ("top", "bottom") else width
        pads[side] = max(2, round(size * rng.uniform(0.05, 0.25)))
    if set(sides) in ({"top", "bottom"}, {"left", "right"}) and rng.random() < 0.7:
        first, second = sorted(sides)
        pads[first] = pads[second]  # letterboxes are usually symmetric
    canvas = Image.new(
        "RGB",
        (width + pads["left"] + pads["right"], height + pads["top"] + pads["bottom"]),
        _colour(rng),
    )
    canvas.paste(image, (pads["left"], pads["top"]))
    return canvas


def _text_blocks(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    box: tuple[int, int, int, int],
    colour: tuple[int, int, int],
    line: int,
) -> None:
    """Text-like lines (drawn words or grey bars) filling ``box`` from its top."""
    left, top, right, bottom = box
    y = top
    while y + line <= bottom:
        if rng.random() < 0.5:
            font = _font(line)
            words = _text(rng, int(rng.integers(3, 9))).split()
            while len(words) > 1 and draw.textlength(" ".join(words), font=font) > right - left:
                words.pop()  # apps clip or wrap text to its column
            draw.text((left, y), " ".join(words), fill=colour, font=font)
        else:
            length = int((right - left) * rng.uniform(0.3, 1.0))
            draw.rounded_rectangle((left, y + 2, left + length, y + line - 2), 3, fill=colour)
        y += int(line * rng.uniform(1.4, 2.2))


def screenshot(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The picture in an app window (desktop) or a phone screenshot, with chrome around it."""
    return _phone(image, rng) if rng.random() < 0.5 else _window(image, rng)


def _window(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    dark = rng.random() < 0.5
    background = (54, 57, 63) if dark else (255, 255, 255)
    ink = (220, 221, 222) if dark else (40, 40, 40)
    scale = rng.uniform(0.55, 1.0)
    shown = image.resize(
        (max(8, round(image.width * scale)), max(8, round(image.height * scale))),
        Image.Resampling.LANCZOS,
    )
    sidebar = int(rng.integers(0, 2)) * int(rng.integers(120, 220))
    header = int(rng.integers(30, 64))
    width = sidebar + shown.width + int(rng.integers(40, 240))
    height = header + shown.height + int(rng.integers(80, 260))
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, header), fill=(32, 34, 37) if dark else (230, 232, 236))
    draw.text((12, header // 4), _text(rng, 3), fill=ink, font=_font(header // 2))
    for k in range(3):  # window buttons
        x = width - 24 - 22 * k
        draw.ellipse((x, header // 2 - 6, x + 12, header // 2 + 6), fill=(200, 80 + 40 * k, 80))
    if sidebar:
        draw.rectangle((0, header, sidebar, height), fill=(47, 49, 54) if dark else (242, 243, 245))
        _text_blocks(draw, rng, (10, header + 12, sidebar - 10, height - 10), ink, 14)
    x = sidebar + int(rng.integers(12, 40))
    _text_blocks(draw, rng, (x, header + 8, width - 10, header + 40), ink, 14)
    y = header + 44
    canvas.paste(shown, (x, y))
    _text_blocks(draw, rng, (x, y + shown.height + 10, width - 10, height - 8), ink, 16)
    return canvas


def _phone(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width = int(rng.integers(360, 540))
    height = round(width * rng.uniform(1.9, 2.2))
    dark = rng.random() < 0.5
    background = (0, 0, 0) if dark else (250, 250, 250)
    ink = (235, 235, 235) if dark else (30, 30, 30)
    canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas)
    status = round(height * 0.035)
    draw.text((16, status // 5), "9:41", fill=ink, font=_font(status * 2 // 3))
    draw.rectangle((width - 60, status // 3, width - 24, status * 2 // 3), fill=ink)
    bar = round(height * 0.06)
    draw.ellipse((14, status + bar // 4, 14 + bar // 2, status + 3 * bar // 4), fill=(120, 90, 200))
    draw.text((24 + bar // 2, status + bar // 4), _text(rng, 2), fill=ink, font=_font(bar // 3))
    margin = int(rng.integers(0, 2)) * int(rng.integers(6, 20))
    scale = (width - 2 * margin) / image.width
    shown = image.resize(
        (width - 2 * margin, max(8, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    y = status + bar + int(rng.integers(0, 12))
    canvas.paste(shown, (margin, y))
    y += shown.height + 10
    for k in range(4):  # like, comment, share, save
        draw.rounded_rectangle((14 + 44 * k, y, 40 + 44 * k, y + 26), 6, outline=ink, width=2)
    _text_blocks(draw, rng, (14, y + 40, width - 14, height - 70), ink, 15)
    draw.rectangle((0, height - 56, width, height), fill=(20, 20, 20) if dark else (238, 238, 238))
    return canvas


def caption(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A meme bar (white or black) above, below or both, with a line or two of text."""
    width, height = image.size
    white = rng.random() < 0.6
    fill, ink = ((255, 255, 255), (0, 0, 0)) if white else ((0, 0, 0), (255, 255, 255))
    where = ("top", "bottom", "both")[int(rng.integers(3))]
    bars = {
        side: round(height * rng.uniform(0.12, 0.3)) if where in (side, "both") else 0
        for side in ("top", "bottom")
    }
    canvas = Image.new("RGB", (width, height + bars["top"] + bars["bottom"]), fill)
    canvas.paste(image, (0, bars["top"]))
    draw = ImageDraw.Draw(canvas)
    for side, size in bars.items():
        if not size:
            continue
        lines = 1 if size < height * 0.2 else 2
        font_size = int(size / (lines * 1.6))
        y0 = 0 if side == "top" else bars["top"] + height
        for k in range(lines):
            text = _text(rng, int(rng.integers(2, 6)))
            y = y0 + (size - lines * font_size * 1.3) / 2 + k * font_size * 1.3
            draw.text((width / 2, y), text, fill=ink, font=_font(font_size), anchor="ma")
    return canvas


def crop(image: Image.Image, rng: np.random.Generator, *, centred: bool) -> Image.Image:
    """80-90% of each side, centred or at a random place."""
    width, height = image.size
    keep_w, keep_h = (round(n * rng.uniform(0.8, 0.9)) for n in (width, height))
    if centred:
        left, top = (width - keep_w) // 2, (height - keep_h) // 2
    else:
        left = int(rng.integers(0, width - keep_w + 1))
        top = int(rng.integers(0, height - keep_h + 1))
    return image.crop((left, top, left + keep_w, top + keep_h))


def mirror(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A left-right mirror, sometimes slightly resized."""
    flipped = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.5:
        scale = rng.uniform(0.7, 1.0)
        flipped = flipped.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
    return flipped


def recompress(image: Image.Image, rng: np.random.Generator) -> bytes:
    """Resized to 40-90% and saved at JPEG quality 30-60."""
    scale = rng.uniform(0.4, 0.9)
    small = image.resize(
        (max(8, round(image.width * scale)), max(8, round(image.height * scale))),
        Image.Resampling.BILINEAR,
    )
    return encode(small, "JPEG", quality=int(rng.integers(30, 61)))


def edit(kind: str, image: Image.Image, rng: np.random.Generator, index: int = 0) -> bytes:
    """Apply one edit of ``kind`` to ``image`` and encode it as a repost would be."""
    if kind == "recompress":
        return recompress(image, rng)
    steps: dict[str, Callable[[], Image.Image]] = {
        "border": lambda: border(image, rng),
        "screenshot": lambda: screenshot(image, rng),
        "caption": lambda: caption(image, rng),
        "crop": lambda: crop(image, rng, centred=index == 0),
        "mirror": lambda: mirror(image, rng),
    }
    return _jpeg(steps[kind](), rng)


# ---------------------------------------------------------------- distractors


def scene(rng: np.random.Generator) -> Image.Image:
    """A drawn scene: a gradient sky, ground, and a few houses, trees, sun and clouds."""
    width, height = int(rng.integers(320, 720)), int(rng.integers(240, 560))
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (top * (1 - y) + bottom * y) * np.ones((1, width, 1))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    horizon = int(height * rng.uniform(0.45, 0.75))

    def colour() -> tuple[int, int, int]:
        r, g, b = (int(v) for v in rng.integers(0, 256, 3))
        return (r, g, b)

    draw.rectangle((0, horizon, width, height), fill=colour())
    for _ in range(int(rng.integers(3, 12))):
        x, size = int(rng.integers(0, width)), int(rng.integers(20, max(21, height // 3)))
        shape = int(rng.integers(4))
        if shape == 0:  # house
            draw.rectangle((x, horizon - size, x + size, horizon), fill=colour())
            draw.polygon(
                [
                    (x - 5, horizon - size),
                    (x + size // 2, horizon - 1.6 * size),
                    (x + size + 5, horizon - size),
                ],
                fill=colour(),
            )
        elif shape == 1:  # tree
            draw.rectangle((x, horizon - size, x + size // 6, horizon), fill=(90, 60, 30))
            draw.ellipse(
                (x - size // 3, horizon - 1.5 * size, x + size // 2, horizon - size // 2),
                fill=colour(),
            )
        elif shape == 2:  # sun or cloud
            y0 = int(rng.integers(0, max(1, horizon // 2)))
            draw.ellipse((x, y0, x + size, y0 + size * rng.uniform(0.5, 1.0)), fill=colour())
        else:
            draw.line(
                (0, int(rng.integers(horizon, height)), width, int(rng.integers(horizon, height))),
                fill=colour(),
                width=int(rng.integers(2, 12)),
            )
    pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _distractor_crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    keep_w, keep_h = (max(16, round(n * rng.uniform(0.4, 0.9))) for n in (width, height))
    left = int(rng.integers(0, width - keep_w + 1))
    top = int(rng.integers(0, height - keep_h + 1))
    return image.crop((left, top, left + keep_w, top + keep_h))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def build(seed: int = SEED) -> EditSet:
    """The whole set, the same every time for one ``seed``."""
    rng = np.random.default_rng(seed)
    names = (*ORIGINAL_PHOTOS, *LOW_DETAIL)
    originals = tuple(Sample(name, "original", png(picture(name))) for name in names)
    edited = []
    for name in names:
        for kind, count in PER_ORIGINAL.items():
            for index in range(count):
                edited.append(Sample(name, kind, edit(kind, picture(name), rng, index)))
    distractors: list[Sample] = []
    wanted = 2 * len(edited)
    for name in DISTRACTOR_PHOTOS:
        distractors.append(Sample(name, "photo", _jpeg(picture(name), rng)))
        for kind in KINDS:
            distractors.append(Sample(name, kind, edit(kind, picture(name), rng, 1)))
    k = 0
    while len(distractors) < wanted:
        if k % 2 == 0:
            distractors.append(Sample(f"scene{k}", "scene", _jpeg(scene(rng), rng)))
        else:
            name = DISTRACTOR_PHOTOS[(k // 2) % len(DISTRACTOR_PHOTOS)]
            image = _distractor_crop(picture(name), rng)
            distractors.append(Sample(name, "crop", _jpeg(image, rng)))
        k += 1
    return EditSet(originals, tuple(edited), tuple(distractors))
