"""Reviewer previews: so coarse that nothing in the picture can be recognised, yet enough to tell
a photo from a screenshot or a drawing, and two alerts about the same picture apart."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

PREVIEW_SIDE = 240
"""Longer side of the preview, in pixels."""
CELLS = 12
"""Cells across the longer side: the picture is averaged down to this many before enlarging."""


def blurred_preview(
    pixels: npt.NDArray[np.uint8], regions: Sequence[tuple[int, int, int, int]] = ()
) -> bytes:
    """A heavily pixelated and blurred JPEG of one RGB frame (never the original detail).

    ``regions`` (x, y, width, height), e.g. a detector's explicit boxes, are blacked out first,
    so even their average colour does not reach the preview.
    """
    image = Image.fromarray(pixels)
    if regions:
        draw = ImageDraw.Draw(image)
        for x, y, width, height in regions:
            draw.rectangle((x, y, x + width, y + height), fill=(0, 0, 0))
    scale = CELLS / max(image.width, image.height)
    cells = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # BOX averages every source pixel into its cell, so no fine detail survives the reduction.
    tiny = image.resize(cells, Image.Resampling.BOX)
    size_scale = PREVIEW_SIDE / max(cells)
    size = (max(1, round(cells[0] * size_scale)), max(1, round(cells[1] * size_scale)))
    blocky = tiny.resize(size, Image.Resampling.NEAREST)
    blurred = blocky.filter(ImageFilter.GaussianBlur(radius=PREVIEW_SIDE / CELLS / 2))
    buffer = io.BytesIO()
    blurred.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()
