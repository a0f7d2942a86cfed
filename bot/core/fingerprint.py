"""Fingerprints: the blocklist hashes that identify one file."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.blocklist import Algorithm
from bot.core.hashing import exact_hashes, hash_frame
from bot.core.limits import MediaLimits
from bot.core.media import load_media


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The hashes to store for a file, and notes on hashes left out (and why)."""

    sha256: str
    hashes: tuple[tuple[Algorithm, str], ...]
    notes: tuple[str, ...] = ()


def fingerprint(data: bytes, limits: MediaLimits, pdq_min_quality: int) -> Fingerprint:
    """Blocking: SHA-256 plus PDQ and pHash of each distinct sampled frame.

    Frames whose PDQ quality is below ``pdq_min_quality`` get no perceptual entries (they would
    not be matched anyway, and near-flat images would match each other). Raises
    ``UnscannableMedia`` when the file cannot be decoded.
    """
    sha256, _ = exact_hashes(data)
    media = load_media(data, limits)
    hashes: list[tuple[Algorithm, str]] = [(Algorithm.SHA256, sha256)]
    notes: list[str] = []
    for frame in media.frames:
        frame_hashes = hash_frame(frame)
        if frame_hashes.pdq_quality < pdq_min_quality:
            notes.append(
                f"frame {frame.index}: PDQ quality {frame_hashes.pdq_quality} is below "
                f"{pdq_min_quality}; only the exact hash identifies it"
            )
            continue
        for item in (
            (Algorithm.PDQ, frame_hashes.pdq.hex()),
            (Algorithm.PHASH, frame_hashes.phash.hex()),
        ):
            if item not in hashes:
                hashes.append(item)
    return Fingerprint(sha256, tuple(hashes), tuple(notes))
