"""Hash values of one piece of media (computed by ``bot.core.hashing``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ViewHashes:
    """Hashes of one region of a frame: the picture inside borders, bars or a screenshot.

    Edited reposts add things around a known picture; hashing the region the picture occupies
    lets the copy meet the entry made from the original (see ``bot.core._borders``).
    """

    box: tuple[int, int, int, int]
    """(left, top, right, bottom) of the region in frame pixels (right and bottom exclusive)."""
    pdq_quality: int
    """PDQ quality of the region; regions below the configured minimum are not matched."""
    pdq_variants: tuple[bytes, ...]
    """The 8 dihedral variants of the region's PDQ hash, the original first."""
    phash_variants: tuple[bytes, ...]
    """The region's pHash, then the pHash of its mirror image."""


@dataclass(frozen=True, slots=True)
class FrameHashes:
    """Perceptual hashes of one decoded frame.

    Bytes are big-endian bit strings, so ``pdq.hex()`` is the PDQ hex form used by
    ThreatExchange / HMA and ``phash.hex()`` is imagehash's ``str(phash)``.
    """

    frame: int
    """Index of the frame in the animation (0 for a still image)."""
    pdq: bytes
    """PDQ hash, 32 bytes (256 bits), of the frame as decoded."""
    pdq_quality: int
    """PDQ quality, 0-100; hashes below the configured minimum are not matched."""
    pdq_variants: tuple[bytes, ...]
    """The 8 dihedral variants (rotations and flips) of the PDQ hash, the original first."""
    phash: bytes
    """pHash (imagehash.phash), 8 bytes (64 bits)."""
    phash_variants: tuple[bytes, ...] = ()
    """``phash``, then the pHash of the mirrored frame (empty: ``phash`` alone is matched)."""
    views: tuple[ViewHashes, ...] = ()
    """Regions of the frame that may hold an edited copy's picture (trimmed, content block)."""


@dataclass(frozen=True, slots=True)
class MediaHashes:
    """Exact hashes of the file's bytes plus perceptual hashes of each sampled frame."""

    sha256: str
    md5: str
    frames: tuple[FrameHashes, ...] = ()
