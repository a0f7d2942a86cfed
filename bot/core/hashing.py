"""Exact and perceptual hashes of decoded media (PDQ with its 8 dihedral variants, pHash).

Byte layouts follow ``bot.core.hashes``: PDQ is ``np.packbits`` of pdqhash's bit vector (most
significant bit first), so ``.hex()`` is the hex form ThreatExchange / HMA exchange; pHash is
imagehash's bit array packed the same way, so ``.hex()`` equals ``str(imagehash.phash(image))``.

PDQ is computed on a copy of the frame scaled (box filter, aspect kept) so its longer side is at
most ``PDQ_MAX_SIDE`` pixels. The hash itself downsamples to 64x64, so robustness does not suffer
(resized copies even land closer), but PDQ's blur window grows with the input: on a 1024x768 frame
it takes about 45 ms, on 512x384 about 4 ms. Ports of the reference hasher likewise cap input at
512 pixels. The rule is the same for every frame, so hashes stay comparable.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from bot.core.hashes import FrameHashes, MediaHashes

if TYPE_CHECKING:
    from bot.core.media import Frame, Media

PDQ_MAX_SIDE = 512
"""Longest side, in pixels, of the image PDQ is computed on (see the module docstring)."""
PDQ_BYTES = 32
PHASH_BYTES = 8


def exact_hashes(data: bytes) -> tuple[str, str]:
    """Return ``(sha256, md5)`` of ``data`` as lowercase hex (MD5 is what StopNCII shares)."""
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two hashes of the same length."""
    if len(a) != len(b):
        raise ValueError(f"cannot compare hashes of {len(a)} and {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def hash_frame(frame: Frame) -> FrameHashes:
    """PDQ (original, its 8 dihedral variants and quality) and pHash of one decoded frame."""
    image = Image.fromarray(frame.pixels)
    variants, quality = pdq_hashes(image)
    return FrameHashes(
        frame=frame.index,
        pdq=variants[0],
        pdq_quality=quality,
        pdq_variants=variants,
        phash=phash_bytes(image),
    )


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


def hash_media(media: Media) -> MediaHashes:
    """Exact hashes of the file's bytes plus perceptual hashes of every sampled frame."""
    sha256, md5 = exact_hashes(media.data)
    return MediaHashes(
        sha256=sha256, md5=md5, frames=tuple(hash_frame(frame) for frame in media.frames)
    )


def _pdq_input(image: Image.Image) -> np.ndarray:
    """``image`` scaled (aspect kept) so its longer side is at most ``PDQ_MAX_SIDE``.

    Scaling to an exact size rather than by an integer factor means one picture posted at
    different resolutions reaches PDQ at nearly the same size, which keeps resized copies closer.
    """
    width, height = image.size
    longest = max(width, height)
    if longest <= PDQ_MAX_SIDE:
        return np.asarray(image)
    factor = longest // PDQ_MAX_SIDE
    if factor >= 2:
        image = image.reduce(factor)  # cheap integer box reduction does most of the work
    size = (
        max(1, round(width * PDQ_MAX_SIDE / longest)),
        max(1, round(height * PDQ_MAX_SIDE / longest)),
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
