"""NudeNet's 320n YOLOv8 detector: boxes for 18 body and face classes, decoded here.

The upstream wrapper feeds the model BGR pixels; this module does its own preprocessing (RGB,
letterboxed) and a vectorised decode with per-class non-maximum suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.core.detectors.base import Detection, Detector
from bot.core.detectors.manifest import ManifestError, ModelManifest
from bot.core.detectors.onnx_classifier import open_session, preprocess
from bot.core.executor import BoundedExecutor
from bot.core.hashes import MediaHashes
from bot.core.media import Media

EXPLICIT = "explicit"
"""The summary label: the highest score of any exposed intimate body part."""
EXPLICIT_CLASSES = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
FACE_CLASSES = frozenset({"FACE_FEMALE", "FACE_MALE"})
"""Face boxes, handed to the face stage so it need not look for faces itself."""
MIN_SCORE = 0.2
MIN_FACE_SCORE = 0.3
"""Face boxes below this are not handed on (measured: real faces in face_recognition's test
photos scored 0.65-0.80)."""
IOU_LIMIT = 0.45

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Box:
    """One detection, in the frame's pixel coordinates."""

    label: str
    score: float
    x: int
    y: int
    width: int
    height: int


class NudeNetDetector(Detector):
    """Per-class scores (the best box of each class) plus an ``explicit`` summary score."""

    def __init__(self, manifest: ModelManifest, session: Any, executor: BoundedExecutor) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.classes = manifest.output.labels
        self.labels = (*self.classes, EXPLICIT)
        self._session = session
        self._input = session.get_inputs()[0].name
        self._executor = executor

    @classmethod
    def load(
        cls,
        manifest: ModelManifest,
        executor: BoundedExecutor,
        *,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> NudeNetDetector:
        """Verify the weights, open the session and check its output fits the 18 classes."""
        session = open_session(manifest, threads, providers)
        rows = session.get_outputs()[0].shape[1]
        if isinstance(rows, int) and rows != 4 + len(manifest.output.labels):
            raise ManifestError(
                f"model {manifest.name!r}: output has {rows} rows, expected 4 box values and "
                f"{len(manifest.output.labels)} class scores"
            )
        return cls(manifest, session, executor)

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        """The best score of each class over the sampled frames, and the ``explicit`` summary."""
        if not media.frames:
            return Detection(detector=self.name)
        found = await self._executor.run(self.boxes, [f.pixels for f in media.frames])
        scores = dict.fromkeys(self.labels, 0.0)
        for frame_boxes in found:
            for box in frame_boxes:
                scores[box.label] = max(scores[box.label], box.score)
        scores[EXPLICIT] = max(scores[c] for c in self.classes if c in EXPLICIT_CLASSES)
        return Detection(
            detector=self.name,
            scores=scores,
            frame_scores=tuple(
                max((b.score for b in boxes if b.label in EXPLICIT_CLASSES), default=0.0)
                for boxes in found
            ),
            face_boxes=tuple(
                tuple(
                    (b.x, b.y, b.width, b.height)
                    for b in boxes
                    if b.label in FACE_CLASSES and b.score >= MIN_FACE_SCORE
                )
                for boxes in found
            ),
        )

    def boxes(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[list[Box]]:
        """Blocking: detected boxes per frame, strongest first."""
        # One frame per run although the batch dimension is dynamic: on 2 cores a batch of 4-16
        # frames took 4-8% longer per frame at 1 thread (the default) and saved under 8% at 2,
        # for identical outputs.
        return [self._frame_boxes(frame) for frame in frames]

    def _frame_boxes(self, pixels: npt.NDArray[np.uint8]) -> list[Box]:
        spec = self.manifest.input
        raw = self._session.run(None, {self._input: preprocess(pixels, spec)})[0][0]
        height, width = pixels.shape[:2]
        ratio = min(spec.width / width, spec.height / height)
        # Undo the centred letterbox: model coordinates -> frame pixels.
        pad_x = (spec.width - round(width * ratio)) / 2
        pad_y = (spec.height - round(height * ratio)) / 2
        return decode(
            np.asarray(raw, np.float32), self.classes, ratio, (pad_x, pad_y), (width, height)
        )


def decode(
    raw: FloatArray,
    classes: Sequence[str],
    ratio: float,
    pad: tuple[float, float],
    size: tuple[int, int],
) -> list[Box]:
    """Turn a (4 + classes, anchors) YOLOv8 output into boxes after per-class NMS."""
    scores = raw[4:].T  # (anchors, classes)
    best = scores.argmax(axis=1)
    confidence = scores[np.arange(len(best)), best]
    keep = confidence >= MIN_SCORE
    if not keep.any():
        return []
    cx, cy, w, h = raw[:4, keep]
    x1 = np.clip((cx - w / 2 - pad[0]) / ratio, 0, size[0])
    y1 = np.clip((cy - h / 2 - pad[1]) / ratio, 0, size[1])
    x2 = np.clip((cx + w / 2 - pad[0]) / ratio, 0, size[0])
    y2 = np.clip((cy + h / 2 - pad[1]) / ratio, 0, size[1])
    corners = np.stack([x1, y1, x2, y2], axis=1)
    chosen = _nms(corners, confidence[keep], best[keep])
    order = chosen[np.argsort(-confidence[keep][chosen])]
    return [
        Box(
            label=classes[int(best[keep][i])],
            score=float(confidence[keep][i]),
            x=int(corners[i, 0]),
            y=int(corners[i, 1]),
            width=int(corners[i, 2] - corners[i, 0]),
            height=int(corners[i, 3] - corners[i, 1]),
        )
        for i in order
    ]


def _nms(
    corners: FloatArray, scores: FloatArray, classes: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    # Offsetting each class by more than the image size keeps classes apart, so one greedy pass
    # does per-class suppression.
    shifted = corners + (classes.astype(np.float32) * 1e5)[:, None]
    order = np.argsort(-scores)
    keep: list[int] = []
    while order.size:
        first, rest = order[0], order[1:]
        keep.append(int(first))
        x1 = np.maximum(shifted[first, 0], shifted[rest, 0])
        y1 = np.maximum(shifted[first, 1], shifted[rest, 1])
        x2 = np.minimum(shifted[first, 2], shifted[rest, 2])
        y2 = np.minimum(shifted[first, 3], shifted[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        area = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
        iou = inter / np.maximum(area[first] + area[rest] - inter, 1e-9)
        order = rest[iou <= IOU_LIMIT]
    return np.asarray(keep, dtype=np.intp)
