"""Exact and perceptual hashes of decoded media (PDQ with its 8 dihedral variants, pHash).

Byte layouts follow ``bot.core.hashes``: PDQ is ``np.packbits`` of pdqhash's bit vector (most
significant bit first), so ``.hex()`` is the hex form ThreatExchange / HMA exchange; pHash is
imagehash's bit array packed the same way, so ``.hex()`` equals ``str(imagehash.phash(image))``.

PDQ is computed on a copy of the frame scaled (box filter, aspect kept) so its longer side is at
most ``PDQ_MAX_SIDE`` pixels. The hash itself downsamples to 64x64, so robustness does not suffer
(resized copies even land closer), but PDQ's blur window grows with the input: on a 1024x768 frame
it takes about 45 ms, on 512x384 about 4 ms. Ports of the reference hasher likewise cap input at
512 pixels. The rule is the same for every frame, so hashes stay comparable.

pHash (imagehash's) is also taken of the mirrored frame, from the same 32x32 greyscale copy, so
mirrored copies of low-detail pictures, whose PDQ bits are unstable, still match.

Each frame also gets *views*: the regions where an edited copy's picture may sit (inside uniform
borders or caption bars, or as the largest block of a screenshot; ``bot.core._borders``), each
with its own PDQ variants and pHash variants. A frame with nothing around its picture has none.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import imagehash
import numpy as np
import numpy.typing as npt
import pdqhash
from PIL import Image

from bot.core import _borders
from bot.core.hashes import FrameHashes, MediaHashes, ViewHashes

if TYPE_CHECKING:
    from bot.core.media import Frame, Media

PDQ_MAX_SIDE = 512
"""Longest side, in pixels, of the image PDQ is computed on (see the module docstring)."""
VIEW_SIDE = 256
"""Longest side, in pixels, of the copy a view's PDQ and pHash are computed on."""
PDQ_BYTES = 32
PHASH_BYTES = 8
_PHASH_SIDE = 32  # imagehash: hash_size 8 x highfreq_factor 4
# pHash is matched as is and mirrored: a mirrored copy of a low-detail picture (unstable PDQ bits)
# still matches. Turns are left out: each orientation is one more chance for an unrelated
# picture to land within pHash's 10 bits, and rotated reposts are PDQ's (8 variants) to catch.
_TURNS = (Image.Transpose.FLIP_LEFT_RIGHT,)


def exact_hashes(data: bytes) -> tuple[str, str]:
    """Return ``(sha256, md5)`` of ``data`` as lowercase hex (MD5 is what StopNCII shares)."""
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"cannot compare hashes of {len(a)} and {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def hash_frame(frame: Frame, *, views: bool = True) -> FrameHashes:
    """PDQ (8 dihedral variants), pHash (as is and mirrored) of one decoded frame, and its views.

    ``views=False`` leaves the views out (the frame's own hashes are the same either way).
    """
    image = Image.fromarray(frame.pixels)
    variants, quality = pdq_hashes(image)
    phashes = phash_variants(image)
    return FrameHashes(
        frame=frame.index,
        pdq=variants[0],
        pdq_quality=quality,
        pdq_variants=variants,
        phash=phashes[0],
        phash_variants=phashes,
        views=view_hashes(image, frame.pixels) if views else (),
    )


def view_hashes(image: Image.Image, pixels: npt.NDArray[np.uint8]) -> tuple[ViewHashes, ...]:
    """Hashes of each region ``bot.core._borders.picture_boxes`` finds in the frame."""
    found = []
    for box in _borders.picture_boxes(pixels):
        # Hashed at most VIEW_SIDE pixels a side: PDQ's cost grows with its input and both
        # hashes downsample far below it; pHash of the small copy costs far less than of the crop.
        region = Image.fromarray(_pdq_input(image.crop(box), VIEW_SIDE))
        variants, quality = pdq_hashes(region)
        found.append(
            ViewHashes(
                (box.left, box.top, box.right, box.bottom),
                quality,
                variants,
                phash_variants(region),
            )
        )
    return tuple(found)


def pdq_hashes(image: Image.Image) -> tuple[tuple[bytes, ...], int]:
    """The 8 dihedral PDQ variants of an RGB image (32 bytes each) and its PDQ quality.

    One pass gives all 8: original, rot90, rot180, rot270, flipV, flipH and the two diagonal
    flips. Matching a query against every variant catches mirrored or rotated reposts.
    """
    vectors, quality = pdqhash.compute_dihedral(_pdq_input(image))
    return tuple(_pack_bits(vector, PDQ_BYTES) for vector in vectors), int(quality)


def phash_bytes(image: Image.Image) -> bytes:
    """imagehash's pHash of ``image`` as 8 bytes (``.hex()`` equals ``str(imagehash.phash)``)."""
    return _pack_bits(imagehash.phash(image).hash, PHASH_BYTES)


def phash_variants(image: Image.Image) -> tuple[bytes, ...]:
    """pHash of ``image`` and of its mirror image (8 bytes each), the original first.

    The 32x32 greyscale copy pHash starts from is made once (it is most of pHash's cost) and
    mirrored: mirroring it equals mirroring the image first, up to rounding in the resize. The
    first equals ``phash_bytes(image)``: imagehash leaves an image already 32x32 as it is.
    """
    small = image.convert("L").resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS)
    turned = [small, *(small.transpose(turn) for turn in _TURNS)]
    return tuple(_pack_bits(imagehash.phash(t).hash, PHASH_BYTES) for t in turned)


def hash_media(media: Media) -> MediaHashes:
    """Exact hashes of the file's bytes plus perceptual hashes of every sampled frame."""
    sha256, md5 = exact_hashes(media.data)
    return MediaHashes(
        sha256=sha256, md5=md5, frames=tuple(hash_frame(frame) for frame in media.frames)
    )


def _pdq_input(image: Image.Image, side: int = PDQ_MAX_SIDE) -> np.ndarray:
    """``image`` scaled (aspect kept) so its longer side is at most ``side`` pixels.

    Scaling to an exact size rather than by an integer factor means one picture posted at
    different resolutions reaches PDQ at nearly the same size, which keeps resized copies closer.
    """
    width, height = image.size
    longest = max(width, height)
    if longest <= side:
        return np.asarray(image)
    factor = longest // side
    if factor >= 2:
        image = image.reduce(factor)  # cheap integer box reduction does most of the work
    size = (
        max(1, round(width * side / longest)),
        max(1, round(height * side / longest)),
    )
    if image.size != size:
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image)


def _pack_bits(bits: object, size: int) -> bytes:
    """Pack a bit array (any shape, row-major, most significant bit first) into bytes."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8).ravel()).tobytes()
    if len(packed) != size:
        raise ValueError(f"expected a {size * 8}-bit hash, got {len(packed) * 8} bits")
    return packed


CROP_MARGINS: tuple[tuple[float, float], ...] = (
    (0.025, 0.1),
    (0.1, 0.025),
    (0.06, 0.06),
    (0.025, 0.16),
    (0.16, 0.025),
)
"""(before, after) shares of a side cut off by the sub-crops ``crop_phashes`` hashes."""


def crop_phashes(image: Image.Image) -> tuple[bytes, ...]:
    """pHash of sub-crops of ``image`` that keep 80-90% of each side, at several places.

    A copy cropped by 10-20% lies far from the whole picture's hashes (PDQ moves ~18 bits per 1%
    cut off, pHash ~3), so entries made from a known file also hold these; a crop then lies
    within a few percent of one of them on every side, where pHash still matches. PDQ is left out:
    it would need a far denser grid. Each margin pair is used for the width and the height.
    """
    width, height = image.size
    found: list[bytes] = []
    for left, right in CROP_MARGINS:
        for top, bottom in CROP_MARGINS:
            box = (
                round(width * left),
                round(height * top),
                round(width * (1 - right)),
                round(height * (1 - bottom)),
            )
            if box[2] - box[0] < 8 or box[3] - box[1] < 8:
                continue
            code = phash_bytes(image.crop(box))
            if code not in found:
                found.append(code)
    return tuple(found)
