"""Finding, aligning and describing faces: a face detector, dlib's landmarks, a 128-d descriptor.

Faces are found by BlazeFace full range (``bot.core.faces.blazeface``, about 17 ms a 1024x768
frame, faces down to about 60 px), or, without it, by dlib's HOG frontal detector on a copy of
the frame scaled to at most ``DETECT_MAX_SIDE`` pixels (about 80 ms, faces from about 80 px at
that scale); or they are taken from boxes another model already found (NudeNet's face classes).
Measured side by side in ``bench/face_detectors.py``: on 42 pictures BlazeFace found 39 faces,
HOG 28, NudeNet 31, with equally good boxes for the descriptor. Each face is aligned by dlib's
5-point landmarks into a 150x150 chip, which the descriptor network turns into a 128-d vector.
Everything here is blocking: run it in the executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import dlib
import numpy as np
import numpy.typing as npt
from PIL import Image

from bot.core.detectors.manifest import ManifestError, ModelManifest
from bot.core.faces.blazeface import BlazeFace
from bot.core.faces.face import DESCRIPTOR_SIZE, Descriptor, FaceBox

DETECT_MAX_SIDE = 800
"""Longest side of the copy the HOG detector scans. Faces narrower than about 80 px at this
scale (10% of the picture's longest side) are not found."""
CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""dlib's alignment for its face recognition network (``get_face_chip(img, shape, 150, 0.25)``)."""

Pixels = npt.NDArray[np.uint8]


class Describer(Protocol):
    """Turns aligned 150x150 RGB face chips into descriptors, one row each."""

    def describe(self, chips: Sequence[Pixels]) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class Face:
    """A described face: where it is, its descriptor, and how sharp its region is."""

    box: FaceBox
    descriptor: Descriptor
    sharpness: float
    """Variance of the Laplacian of the face region (grey, 150 px wide): low means blurred."""
    detector_score: float = 0.0


class FaceModel:
    """dlib's face detector and 5-point landmarks plus a descriptor network."""

    def __init__(
        self,
        manifest: ModelManifest,
        landmarks: Any,
        describer: Describer,
        finder: BlazeFace | None = None,
    ) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.finder = finder
        """The face detector model; None: dlib's HOG detector."""
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = landmarks
        self._describer = describer

    @classmethod
    def load(
        cls,
        manifest: ModelManifest,
        describer: Describer | None = None,
        *,
        finder: ModelManifest | None = None,
    ) -> FaceModel:
        """Verify the weights and the landmark model, and open them.

        ``describer`` defaults to the descriptor network of ``manifest`` run by onnxruntime
        (converted from dlib's file on first use, see :mod:`bot.core.faces.describer`).
        ``finder`` is the face detector's manifest (BlazeFace); None uses dlib's HOG detector.
        """
        if manifest.kind != "face":
            raise ManifestError(f"model {manifest.name!r} is a {manifest.kind}, not a face model")
        if "landmarks" not in manifest.aux:
            raise ManifestError(
                f"model {manifest.name!r}: [aux] must name the 5-point 'landmarks' model"
            )
        manifest.verify_weights()
        try:
            landmarks = dlib.shape_predictor(str(manifest.aux["landmarks"].file))
        except RuntimeError as exc:
            raise ManifestError(f"model {manifest.name!r}: cannot read landmarks: {exc}") from exc
        if describer is None:
            from bot.core.faces.describer import OnnxDescriber

            describer = OnnxDescriber.load(manifest)
        blazeface = None
        if finder is not None:
            if finder.kind != "face_detector":
                raise ManifestError(
                    f"model {finder.name!r} is a {finder.kind}, not a face detector"
                )
            blazeface = BlazeFace.load(finder.file, finder.sha256)
        return cls(manifest, landmarks, describer, blazeface)

    def find(self, pixels: Pixels, *, upsample: int = 0) -> list[tuple[FaceBox, float]]:
        """Blocking: faces found in ``pixels`` (their coordinates), best first, as square boxes.

        ``upsample`` makes the HOG detector look for faces half as small (at 3-4 times the
        cost); BlazeFace needs none."""
        height, width = pixels.shape[:2]
        if self.finder is not None:
            return [(square(box, width, height), s) for box, s in self.finder.find(pixels)]
        scale = min(1.0, DETECT_MAX_SIDE / max(width, height))
        small = pixels
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        found = [
            (_box_from_rect(rect, 1.0 / scale), float(score))
            for rect, score in zip(rects, scores, strict=True)
        ]
        return sorted(found, key=lambda item: -item[1])

    def describe(self, pixels: Pixels, boxes: Sequence[FaceBox]) -> list[Face]:
        """Blocking: align and describe the faces at ``boxes`` (one descriptor each)."""
        if not boxes:
            return []
        frame = np.ascontiguousarray(pixels)
        chips = [
            dlib.get_face_chip(frame, self._landmarks(frame, _rect(box)), CHIP_SIZE, CHIP_PADDING)
            for box in boxes
        ]
        vectors = self._describer.describe(chips)
        if vectors.shape != (len(boxes), DESCRIPTOR_SIZE):
            raise ValueError(f"descriptor network returned shape {vectors.shape}")
        return [Face(box, vectors[i].copy(), sharpness(frame, box)) for i, box in enumerate(boxes)]


def square(box: FaceBox, width: int, height: int) -> FaceBox:
    """A square box around ``box``'s centre with its mean side, for boxes from other detectors:
    the landmark model was trained on dlib's square detections."""
    side = max(1, round((box.width + box.height) / 2))
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    x, y = round(cx - side / 2), round(cy - side / 2)
    del width, height  # landmarks tolerate boxes past the frame's edge, as dlib's own do
    return FaceBox(x, y, side, side)


def sharpness(pixels: Pixels, box: FaceBox) -> float:
    """Variance of the Laplacian of the face region inside the frame, grey and 150 px wide.

    Measured on face_recognition's test photos: sharp faces score 79-1250, the same photos with
    a Gaussian blur of 4 px 7-10 (with 2 px, 23-50).
    """
    height, width = pixels.shape[:2]
    x1, y1 = max(0, box.x), max(0, box.y)
    x2, y2 = min(width, box.x + box.width), min(height, box.y + box.height)
    if x2 - x1 < 3 or y2 - y1 < 3:
        return 0.0
    region = Image.fromarray(pixels[y1:y2, x1:x2]).convert("L")
    scale = CHIP_SIZE / region.width
    region = region.resize((CHIP_SIZE, max(3, round(region.height * scale))))
    grey = np.asarray(region, dtype=np.float32)
    laplacian = (
        4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    )
    return float(laplacian.var())


def _box_from_rect(rect: Any, factor: float) -> FaceBox:
    return FaceBox(
        round(rect.left() * factor),
        round(rect.top() * factor),
        max(1, round(rect.width() * factor)),
        max(1, round(rect.height() * factor)),
    )


def _rect(box: FaceBox) -> Any:
    return dlib.rectangle(box.x, box.y, box.x + box.width - 1, box.y + box.height - 1)


class DlibDescriber:
    """dlib's own network, run by dlib: the reference the ONNX conversion is checked against.

    It holds the GIL while it runs (about 110-180 ms a face here), so the bot never uses it on
    the event loop's process; tests and the conversion check do.
    """

    def __init__(self, manifest: ModelManifest) -> None:
        self._net = dlib.face_recognition_model_v1(str(manifest.file))

    def describe(self, chips: Sequence[Pixels]) -> npt.NDArray[np.float32]:
        if not chips:
            return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        rows = [np.asarray(self._net.compute_face_descriptor(chip)) for chip in chips]
        return np.asarray(rows, dtype=np.float32)
