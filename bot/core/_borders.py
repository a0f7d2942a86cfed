"""Where the picture is inside a frame: uniform borders trimmed, and the largest content block.

Reposts of known media are edited so their hashes move: letterbox bars, caption bars, or the
picture shown inside a screenshot of an app. PDQ and pHash of the edited frame then lie far from
the entry's, although the picture itself is untouched. Both edits only *add* things around the
picture, and what they add is separated from it by near-uniform lines (a bar's plain rows, the
canvas background, the gap between a caption and the picture). So the picture is found by cutting
the frame along such lines, as recursive XY-cut layout analysis does for scanned pages:

- ``trim_box``: peel uniform rows and columns off the four sides (letterbox, pillarbox, frames);
- ``content_box``: cut the trimmed frame along every uniform row or column run, again inside each
  piece, and return the largest piece (the picture; text lines and buttons are small pieces).

Hashing these boxes as extra views (``bot.core.hashing``) lets an edited copy meet the entry's
hashes. The same functions run on the files a blocklist entry is made from, so a picture with a
plain sky (uniform rows of its own) is cut the same way on both sides.

Lines are tested on a greyscale copy: a line is uniform when nearly all its pixels lie within a
tolerance of its median. The tolerance absorbs JPEG noise and the ringing next to a bar's edge;
text, icons and photographs fail the test. Everything is bounded: the frame is analysed at most
``WORK_SIDE`` pixels on its longer side, and the cut stops after ``MAX_PIECES`` pieces.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt
from PIL import Image

WORK_SIDE: Final = 384
"""Longest side, in pixels, of the greyscale copy the boxes are looked for in."""
TOLERANCE: Final = 8
"""Grey levels a pixel of a uniform line may differ from the line's median (JPEG noise, ringing)."""
UNIFORM_FRACTION: Final = 0.995
"""Share of a line's pixels that must lie within ``TOLERANCE`` for it to count as uniform."""
MIN_SIDE: Final = 24
"""Smallest side, in work pixels, of a box worth hashing (PDQ downsamples to 64x64)."""
MIN_AREA: Final = 0.08
"""Smallest share of the frame a content block may cover (smaller pieces are UI, not pictures)."""
MIN_GAP: Final = 2
"""Fewest uniform lines in a row that cut a block in two (see ``_split``)."""
MAX_PIECES: Final = 64
"""Pieces examined by ``content_box`` at most: the cut stays cheap on adversarial input."""

_Grey = npt.NDArray[np.int16]


class Box(NamedTuple):
    """A rectangle in pixels: ``left`` and ``top`` inclusive, ``right`` and ``bottom`` exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def scaled(self, sx: float, sy: float, width: int, height: int) -> Box:
        """This box in a copy scaled by ``sx`` and ``sy``, kept inside ``width`` x ``height``."""
        return Box(
            max(0, round(self.left * sx)),
            max(0, round(self.top * sy)),
            min(width, round(self.right * sx)),
            min(height, round(self.bottom * sy)),
        )


def grey(pixels: npt.NDArray[np.uint8]) -> _Grey:
    """An HxWx3 RGB frame as int16 luma, box-reduced so its longer side is at most ``WORK_SIDE``.

    Pillow does both steps in C (about 1 ms for 1024x768); the box average also smooths JPEG
    noise, which keeps the uniformity test's tolerance small.
    """
    height, width = pixels.shape[:2]
    image = Image.fromarray(pixels).convert("L")
    step = -(-max(height, width) // WORK_SIDE)  # ceiling division
    if step > 1:
        image = image.reduce(step)
    return np.asarray(image, dtype=np.int16)


def uniform_lines(image: _Grey, axis: int) -> npt.NDArray[np.bool_]:
    """For each row (``axis`` 0) or column (``axis`` 1) of ``image``, whether it is uniform."""
    lines = image if axis == 0 else image.T
    if lines.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    if lines.shape[1] == 0:
        return np.ones(lines.shape[0], dtype=bool)
    sample = lines[:, :: max(1, lines.shape[1] // 64)]  # the median of a sample is enough
    reference = np.median(sample, axis=1).astype(np.int16)
    close = np.abs(lines - reference[:, None]) <= TOLERANCE
    return np.asarray(close.mean(axis=1) >= UNIFORM_FRACTION, dtype=np.bool_)


def trim_box(image: _Grey) -> Box | None:
    """``image`` without the uniform rows and columns along its sides; None if nothing is left.

    Peeling repeats until stable: trimming the rows can make the remaining columns uniform (a
    frame on all four sides).
    """
    box = Box(0, 0, image.shape[1], image.shape[0])
    for _ in range(4):
        piece = image[box.top : box.bottom, box.left : box.right]
        rows = np.flatnonzero(~uniform_lines(piece, 0))
        if not len(rows):
            return None
        cols = np.flatnonzero(~uniform_lines(piece[rows[0] : rows[-1] + 1], 1))
        if not len(cols):
            return None
        inner = Box(
            box.left + int(cols[0]),
            box.top + int(rows[0]),
            box.left + int(cols[-1]) + 1,
            box.top + int(rows[-1]) + 1,
        )
        if inner == box:
            break
        box = inner
    return box if min(box.width, box.height) >= 1 else None


def _runs(busy: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """The [start, end) runs of True in ``busy``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], busy.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _split(image: _Grey, box: Box) -> list[Box]:
    """``box`` cut along its uniform rows, or, when it has none inside, its uniform columns.

    Inside the box only runs of at least ``MIN_GAP`` uniform lines cut: a single flat line is
    as likely a smooth stretch of the picture (a sky, the moon) as a gap in a layout.
    """
    piece = image[box.top : box.bottom, box.left : box.right]
    for axis in (0, 1):
        busy = ~uniform_lines(piece, axis)
        for start, end in _runs(~busy):
            if end - start < MIN_GAP and start > 0 and end < len(busy):
                busy[start:end] = True
        runs = _runs(busy)
        if len(runs) > 1 or (runs and runs[0] != (0, piece.shape[axis])):
            if axis == 0:
                return [Box(box.left, box.top + a, box.right, box.top + b) for a, b in runs]
            return [Box(box.left + a, box.top, box.left + b, box.bottom) for a, b in runs]
    return [box]


def content_box(image: _Grey) -> Box | None:
    """The largest block left when ``image`` is cut along its uniform lines, again and again.

    None when there is none of at least ``MIN_AREA`` of the image and ``MIN_SIDE`` on each side
    (an all-uniform image, or one made only of small pieces such as text).
    """
    total = image.shape[0] * image.shape[1]
    smallest = max(MIN_AREA * total, MIN_SIDE * MIN_SIDE)
    start = trim_box(image)
    if start is None:
        return None
    pending, best, examined = [start], None, 0
    while pending and examined < MAX_PIECES:
        box = pending.pop()
        examined += 1
        if box.area < smallest or (best is not None and box.area <= best.area):
            continue  # only a larger block could change the answer
        pieces = _split(image, box)
        if pieces == [box]:
            if min(box.width, box.height) >= MIN_SIDE:
                best = box
            continue
        pending.extend(p for p in pieces if p.area >= smallest)
        pending.sort(key=lambda p: p.area)  # largest first: it prunes the rest sooner
    return best


def picture_boxes(pixels: npt.NDArray[np.uint8]) -> tuple[Box, ...]:
    """The distinct boxes, in frame pixels, worth hashing besides the whole frame.

    The trimmed frame (when its borders were uniform) and the largest content block (when it
    differs from the trimmed frame), each at least ``MIN_SIDE`` work pixels a side. Empty for a
    frame with nothing around its picture, and for degenerate frames (flat, tiny).
    """
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        return ()
    image = grey(pixels)
    sy, sx = height / image.shape[0], width / image.shape[1]
    whole = Box(0, 0, image.shape[1], image.shape[0])
    found: list[Box] = []
    for box in (trim_box(image), content_box(image)):
        if box is None or box == whole or min(box.width, box.height) < MIN_SIDE:
            continue
        scaled = box.scaled(sx, sy, width, height)
        if scaled not in found:
            found.append(scaled)
    return tuple(found)
