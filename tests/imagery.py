"""Benign test imagery: real photographs shipped by scikit-image, and images made with Pillow.

No explicit imagery ever enters this project (see DESIGN.md, Test data).
"""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from PIL import Image
from skimage import data as skdata

# Colour photographs shipped inside the scikit-image wheel (no download needed).
PHOTO_NAMES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
)
# Greyscale photographs, also shipped in the wheel.
GREY_PHOTO_NAMES = ("camera", "moon", "coins", "clock", "grass", "brick")


@cache
def _photo(name: str) -> Image.Image:
    array = getattr(skdata, name)()
    image = Image.fromarray(array)
    return image.convert("RGB")


def photo(name: str) -> Image.Image:
    """A fresh RGB copy of one of scikit-image's bundled photographs."""
    return _photo(name).copy()


def encode(image: Image.Image, fmt: str = "JPEG", **save_kwargs: Any) -> bytes:
    """Encode ``image`` to bytes in ``fmt`` (a Pillow format name)."""
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    if fmt == "JPEG":
        save_kwargs.setdefault("quality", 90)
    image.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()
