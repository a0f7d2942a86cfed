"""Hash values of one piece of media (computed by ``bot.core.hashing``)."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, slots=True)
class MediaHashes:
    """Exact hashes of the file's bytes plus perceptual hashes of each sampled frame."""

    sha256: str
    md5: str
    frames: tuple[FrameHashes, ...] = ()
