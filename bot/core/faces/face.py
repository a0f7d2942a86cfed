"""Plain values of the face stage: a face found in a frame, and a match with a protected member."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

DESCRIPTOR_SIZE = 128
"""Length of a dlib face descriptor."""

Descriptor = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FaceBox:
    """Where a face lies in a frame, in the frame's pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class FaceFinding:
    """One face seen in a sampled frame of scanned media, with why the frame was looked at.

    ``triggers`` names the signals that made the frame eligible for face work: explicit models
    whose score reached their flag level (e.g. ``nudenet-320n``) or ``synthetic:<model>`` when the
    opt-in AI-generated rule looked at it. Findings hold no pixels.
    """

    frame: int
    box: FaceBox
    descriptor: Descriptor = field(compare=False, repr=False)
    triggers: tuple[str, ...] = ()

    @property
    def explicit(self) -> bool:
        """Whether an explicit-content model put this frame over its flag level."""
        return any(not t.startswith(SYNTHETIC_PREFIX) for t in self.triggers)


SYNTHETIC_PREFIX = "synthetic:"
"""Trigger prefix for frames looked at only because of a high AI-generated score."""


@dataclass(frozen=True, slots=True)
class LikenessMatch:
    """A face in scanned media that lies within the match distance of a protected member.

    ``distance`` is the Euclidean distance between descriptors (dlib's measure: the same person
    across photos measured 0.24-0.43, different people 0.81-0.87).
    """

    member_id: int
    distance: float
    frame: int
    triggers: tuple[str, ...]
    notify: bool = False
    """The member asked for a private notice when media showing them is removed."""

    @property
    def explicit(self) -> bool:
        """Whether the face was on a frame an explicit-content model flagged."""
        return any(not t.startswith(SYNTHETIC_PREFIX) for t in self.triggers)
