"""The outcome of a scan: an action and every reason that led to it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Action(enum.Enum):
    """What should happen to a piece of media, from least to most severe.

    ``UNSCANNABLE`` means the media could not be examined (corrupt, refused type, over a limit).
    It ranks between ``ALLOW`` and ``FLAG`` so that any real finding (a blocklist match on the raw
    bytes, say) still wins over it.
    """

    ALLOW = "allow"
    UNSCANNABLE = "unscannable"
    FLAG = "flag"
    QUARANTINE = "quarantine"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Action.ALLOW: 0, Action.UNSCANNABLE: 1, Action.FLAG: 2, Action.QUARANTINE: 3}


@dataclass(frozen=True, slots=True)
class Match:
    """One blocklist entry that lies within the matching distance of the media.

    ``distance``: 0 for exact hashes, Hamming bits for PDQ and pHash, cosine distance for
    ``clip`` embeddings. ``frame``: the sampled frame that matched.
    """

    entry_id: int
    algorithm: str
    distance: float
    guild_id: int | None = None
    allow: bool = False
    frame: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "algorithm": self.algorithm,
            "distance": self.distance,
            "scope": "instance" if self.guild_id is None else str(self.guild_id),
            "allow": self.allow,
            "frame": self.frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Match:
        """The inverse of :meth:`to_dict` (a stored case's verdict read back)."""
        scope = data.get("scope", "instance")
        return cls(
            entry_id=int(data["entry_id"]),
            algorithm=str(data["algorithm"]),
            distance=float(data["distance"]),
            guild_id=None if scope == "instance" else int(scope),
            allow=bool(data.get("allow", False)),
            frame=int(data.get("frame", 0)),
        )


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a verdict is what it is: the signal, the action it asks for, and its evidence."""

    signal: str
    action: Action
    message: str
    score: float | None = None
    distance: float | None = None
    entry_id: int | None = None
    member_id: int | None = None
    """The protected member a likeness reason is about."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "signal": self.signal,
            "action": self.action.value,
            "message": self.message,
        }
        if self.score is not None:
            out["score"] = round(self.score, 6)
        if self.distance is not None:
            out["distance"] = self.distance
        if self.entry_id is not None:
            out["entry_id"] = self.entry_id
        if self.member_id is not None:
            out["member_id"] = self.member_id
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reason:
        """The inverse of :meth:`to_dict`."""
        return cls(
            signal=str(data["signal"]),
            action=Action(data["action"]),
            message=str(data["message"]),
            score=data.get("score"),
            distance=data.get("distance"),
            entry_id=data.get("entry_id"),
            member_id=data.get("member_id"),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A scan's result: plain data the actioner acts on."""

    action: Action
    reasons: tuple[Reason, ...]
    sha256: str
    md5: str
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    frames_scanned: int = 0
    pdq: tuple[str, ...] = ()
    """PDQ hex of each sampled frame good enough to match: what a blocklist entry would hold."""
    phash: tuple[str, ...] = ()
    clip: tuple[str, ...] = field(default=(), repr=False)
    """CLIP embedding hex of the distinct-looking frames (not in ``to_dict``: 2 KiB each)."""
    matches: tuple[Match, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "reasons": [r.to_dict() for r in self.reasons],
            "matches": [m.to_dict() for m in self.matches],
            "scores": {k: round(v, 6) for k, v in sorted(self.scores.items())},
            "sha256": self.sha256,
            "md5": self.md5,
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "frames_scanned": self.frames_scanned,
            "pdq": list(self.pdq),
            "phash": list(self.phash),
            "cached": self.cached,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """The inverse of :meth:`to_dict` (without the CLIP embeddings it leaves out)."""
        return cls(
            action=Action(data["action"]),
            reasons=tuple(Reason.from_dict(r) for r in data.get("reasons", ())),
            sha256=str(data.get("sha256", "")),
            md5=str(data.get("md5", "")),
            media_type=data.get("media_type"),
            width=data.get("width"),
            height=data.get("height"),
            frames_scanned=int(data.get("frames_scanned", 0)),
            pdq=tuple(data.get("pdq", ())),
            phash=tuple(data.get("phash", ())),
            matches=tuple(Match.from_dict(m) for m in data.get("matches", ())),
            scores={str(k): float(v) for k, v in data.get("scores", {}).items()},
            cached=bool(data.get("cached", False)),
        )
