"""The face stage of a scan: describe the faces on frames that are already explicit.

A frame gets face work only when an explicit-content model scored it at or above that model's
flag level (its manifest's, the same for every server, since findings are shared by servers),
or, when the opt-in AI-generated rule is on, when an AI-generated model scored it at or above
its level. Media that is neither costs nothing here. Faces come from the frame's NudeNet face
boxes when NudeNet ran, else from dlib's detector.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.detectors.base import Detection
from bot.core.executor import BoundedExecutor
from bot.core.faces.embedder import FaceModel, Pixels, square
from bot.core.faces.face import SYNTHETIC_PREFIX, Descriptor, FaceBox, FaceFinding
from bot.core.media import Media

log = logging.getLogger(__name__)

MAX_FACES = 8
"""Faces described per piece of media at most (a crowd scene, or a video's many frames)."""
MIN_FACE_PIXELS = 40
"""Faces narrower than this in the frame are too small to describe reliably."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A model score that makes a frame eligible for face work."""

    detector: str
    level: float
    synthetic: bool = False

    @property
    def name(self) -> str:
        return f"{SYNTHETIC_PREFIX}{self.detector}" if self.synthetic else self.detector


class FaceStage:
    """Finds and describes faces on the eligible frames of one piece of media."""

    def __init__(
        self,
        model: FaceModel,
        executor: BoundedExecutor,
        triggers: Sequence[Trigger],
        *,
        max_faces: int = MAX_FACES,
    ) -> None:
        self.model = model
        self.triggers = tuple(triggers)
        self.max_faces = max_faces
        self._executor = executor

    def eligible(self, media: Media, detections: Sequence[Detection]) -> dict[int, list[str]]:
        """Frame position -> the triggers that fired on it (frames with none are left out)."""
        by_name = {d.detector: d for d in detections}
        fired: dict[int, list[str]] = {}
        for trigger in self.triggers:
            detection = by_name.get(trigger.detector)
            if detection is None:
                continue
            for position, score in enumerate(detection.frame_scores[: len(media.frames)]):
                if score >= trigger.level:
                    fired.setdefault(position, []).append(trigger.name)
        return dict(sorted(fired.items()))

    async def run(self, media: Media, detections: Sequence[Detection]) -> tuple[FaceFinding, ...]:
        """Describe the faces on every eligible frame, at most ``max_faces`` in all."""
        fired = self.eligible(media, detections)
        if not fired:
            return ()
        boxes = _given_boxes(detections)
        found: list[FaceFinding] = []
        for position, names in fired.items():
            if len(found) >= self.max_faces:
                break
            frame = media.frames[position]
            given = boxes.get(position)
            faces = await self._executor.run(
                self._frame_faces, frame.pixels, given, self.max_faces - len(found)
            )
            found.extend(
                FaceFinding(frame=frame.index, box=box, descriptor=vector, triggers=tuple(names))
                for box, vector in faces
            )
        return tuple(found)

    def _frame_faces(
        self, pixels: Pixels, given: Sequence[FaceBox] | None, limit: int
    ) -> list[tuple[FaceBox, Descriptor]]:
        height, width = pixels.shape[:2]
        if given:
            boxes = [square(b, width, height) for b in given]
        else:
            boxes = [box for box, _ in self.model.find(pixels)]
        boxes = [b for b in boxes if b.width >= MIN_FACE_PIXELS][:limit]
        return [(face.box, face.descriptor) for face in self.model.describe(pixels, boxes)]


def _given_boxes(detections: Sequence[Detection]) -> Mapping[int, list[FaceBox]]:
    """Face boxes another detector already found, by frame position (first detector wins)."""
    for detection in detections:
        if detection.face_boxes is not None:
            return {
                i: [FaceBox(*b) for b in frame]
                for i, frame in enumerate(detection.face_boxes)
                if frame
            }
    return {}
