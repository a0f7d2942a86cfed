"""Benign sample pictures for the demo, drawn with Pillow (no image files, no explicit content)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter, ImageOps


def landscape(seed: int, size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A made-up landscape: sky, sun, mountain ridges and trees, different for every seed.

    Enough structure for perceptual hashing to tell pictures apart and to recognise copies.
    """
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    top = (rng.randrange(40, 120), rng.randrange(80, 160), rng.randrange(160, 255))
    bottom = (rng.randrange(180, 255), rng.randrange(120, 200), rng.randrange(80, 160))
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    sun = (rng.randrange(width // 8, width - width // 8), rng.randrange(height // 10, height // 3))
    r = rng.randrange(height // 14, height // 7)
    draw.ellipse([sun[0] - r, sun[1] - r, sun[0] + r, sun[1] + r], fill=(255, 236, 160))
    for layer in range(4):
        base = height * (0.45 + 0.12 * layer)
        points: list[tuple[float, float]] = [(0, height)]
        for x in range(0, width + 40, 40):
            points.append((x, base - rng.randrange(0, int(height * 0.25))))
        points.append((width, height))
        shade = 30 + 35 * layer
        draw.polygon(points, fill=(shade // 2, shade + rng.randrange(0, 40), shade // 2))
    for _ in range(rng.randrange(12, 30)):
        x, y = rng.randrange(0, width), rng.randrange(height // 2, height)
        h = rng.randrange(height // 20, height // 8)
        draw.rectangle([x - 2, y, x + 2, y + h // 2], fill=(70, 45, 25))
        draw.polygon(
            [(x - h // 3, y + h // 6), (x, y - h), (x + h // 3, y + h // 6)],
            fill=(20, rng.randrange(80, 140), 40),
        )
    return image.filter(ImageFilter.SMOOTH)


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 88) -> bytes:
    """Encode ``image`` (JPEG at ``quality``, or any Pillow format)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def altered_copy(image: Image.Image) -> Image.Image:
    """What a re-poster does to an image: mirror, shrink, crop the edges a little."""
    small = ImageOps.mirror(image).resize((image.width * 3 // 5, image.height * 3 // 5))
    margin = small.width // 100
    return small.crop((margin, margin, small.width - margin, small.height - margin))
