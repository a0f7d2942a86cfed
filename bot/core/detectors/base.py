"""The detector interface: one signal source that looks at decoded media."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.core.hashes import MediaHashes
from bot.core.media import Media
from bot.core.verdict import Match


@dataclass(frozen=True, slots=True)
class Detection:
    """What one detector found in one piece of media.

    ``scores`` maps each label to a probability in [0, 1]; for animations it is the highest score
    over the sampled frames, since one explicit frame is enough. ``matches`` is used by detectors
    that match against lists rather than score. ``embeddings`` holds an embedding model's unit
    vectors, one row per sampled frame, which the scanner matches against ``clip`` entries.
    ``frame_scores`` is the score of the model's positive label on each sampled frame, in
    frame order (what decides which frames get face work); ``face_boxes`` holds the faces a
    detector model saw on each frame, as (x, y, width, height), when it finds faces at all.
    """

    detector: str
    scores: Mapping[str, float] = field(default_factory=dict)
    matches: tuple[Match, ...] = ()
    embeddings: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)
    frame_scores: tuple[float, ...] = field(default=(), compare=False, repr=False)
    face_boxes: tuple[tuple[tuple[int, int, int, int], ...], ...] | None = field(
        default=None, compare=False, repr=False
    )


class Detector(abc.ABC):
    """A signal source. Implementations run their CPU work in the scanner's bounded executor."""

    name: str
    """Stable name used in policy rules (``<name>.<label>``) and in verdict reasons."""
    labels: tuple[str, ...]
    """Labels whose scores ``detect`` returns (empty for list matchers)."""

    @abc.abstractmethod
    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        """Examine ``media`` (already decoded, with its hashes) and report what was found."""

    async def close(self) -> None:  # noqa: B027 - optional hook, most detectors hold nothing
        """Release resources (model sessions). Called once at shutdown."""
