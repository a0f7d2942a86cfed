"""Findings: what the detectors saw in one file, before any server's policy is applied."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.detectors.base import Detection
from bot.core.faces.face import FaceFinding
from bot.core.verdict import Match

DETECTOR_FAILED = "detector_failed"
"""The code of a problem where a model raised (twice): moderators are told, nothing is cached."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why media could not be (fully) examined: a stable code and a message fit for a moderator."""

    source: str
    """``intake`` for decoding and limits, otherwise the name of the detector that failed."""
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Findings:
    """Everything a scan learned about one file; independent of which server posted it.

    Because findings do not depend on the server, they are what the scanner caches by sha256:
    the same image posted in several servers is decoded and scored once, and each server's policy
    is applied to the cached findings.
    """

    sha256: str
    md5: str
    detections: tuple[Detection, ...] = ()
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    frames_scanned: int = 0
    pdq: tuple[str, ...] = ()
    """PDQ hex of each sampled frame good enough to match (what a blocklist entry would hold)."""
    phash: tuple[str, ...] = ()
    """pHash hex of the same frames."""
    clip: tuple[str, ...] = ()
    """CLIP embeddings of the sampled frames as ``clip`` entry hex, when CLIP is loaded; frames
    within 0.02 of an earlier one are left out (a video's frames often look alike)."""
    faces: tuple[FaceFinding, ...] = ()
    """Faces described on frames that were explicit (or strongly AI-generated, when that rule
    is on): matched against each server's protected members when a policy is applied."""
    problems: tuple[Problem, ...] = ()
    """Why the media could not be fully examined (intake refusal, a detector failure)."""
    generation: int = 0
    """The blocklist index generation the matches were computed against."""

    def matches(self) -> tuple[Match, ...]:
        """Every blocklist and allow-list match, of every scope."""
        return tuple(m for d in self.detections for m in d.matches)

    def scores(self) -> dict[str, float]:
        """All scores keyed ``<detector>.<label>``."""
        return {
            f"{d.detector}.{label}": s for d in self.detections for label, s in d.scores.items()
        }
