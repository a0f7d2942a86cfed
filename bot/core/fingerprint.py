"""Fingerprints: the blocklist hashes that identify one file, and copies of it that were edited."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from bot.core.blocklist import Algorithm
from bot.core.hashing import crop_phashes, exact_hashes, hash_frame
from bot.core.limits import MediaLimits
from bot.core.media import load_media

Hash = tuple[Algorithm, str]
SMALL_PICTURE = 0.6
"""A view covering less of the frame than this is a picture inside chrome (a screenshot, wide
bars): its crops get entries too. A larger one is mostly the frame trimmed of a plain sky or
edge, and crops of the frame already cover it."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The hashes to store for a file, and notes on hashes left out (and why)."""

    sha256: str
    hashes: tuple[Hash, ...]
    """SHA-256, then PDQ and pHash of each distinct sampled frame: what the file's bytes and
    frames hash to (the hashes a scan of the file reports)."""
    notes: tuple[str, ...] = ()
    derived: tuple[Hash, ...] = ()
    """Extra perceptual hashes for edited copies: PDQ and pHash of the picture inside the
    frame's borders or screenshot chrome (when it has any), and pHash of 80-90% sub-crops of the
    frame and of a small picture inside it (still images only). None repeats one of
    ``hashes``."""

    @property
    def entries(self) -> tuple[Hash, ...]:
        """Every hash worth storing as an entry: ``hashes``, then ``derived``."""
        return self.hashes + self.derived


def fingerprint(data: bytes, limits: MediaLimits, pdq_min_quality: int) -> Fingerprint:
    """Blocking: SHA-256 plus PDQ and pHash of each distinct sampled frame, and derived hashes.

    Frames (and views) whose PDQ quality is below ``pdq_min_quality`` get no perceptual entries
    (they would not be matched anyway, and near-flat images would match each other). Raises
    ``UnscannableMedia`` when the file cannot be decoded.
    """
    sha256, _ = exact_hashes(data)
    media = load_media(data, limits)
    hashes: list[Hash] = [(Algorithm.SHA256, sha256)]
    derived: list[Hash] = []
    notes: list[str] = []
    still = len(media.frames) == 1
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
        # The same views a scan finds: a file that is itself a screenshot or letterboxed then
        # matches the bare picture too.
        image = Image.fromarray(frame.pixels)
        pictures = [image]  # crops are taken of the frame, and of a picture shown small in it
        for view in frame_hashes.views:
            if view.pdq_quality < pdq_min_quality:
                continue
            derived.append((Algorithm.PDQ, view.pdq_variants[0].hex()))
            derived.append((Algorithm.PHASH, view.phash_variants[0].hex()))
            left, top, right, bottom = view.box
            if (right - left) * (bottom - top) < SMALL_PICTURE * frame.width * frame.height:
                pictures[1:] = [image.crop(view.box)]
        if still:
            for picture in pictures:
                derived.extend((Algorithm.PHASH, code.hex()) for code in crop_phashes(picture))
    unique = list(dict.fromkeys(h for h in derived if h not in hashes))
    return Fingerprint(sha256, tuple(hashes), tuple(notes), tuple(unique))
