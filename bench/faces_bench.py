"""Likeness protection: the face stage, matching at 10,000 members, enrolment.

Run alone with ``python -m bench.faces_bench``; ``python -m bench`` includes it.

- ``stage_ms``: ``FaceStage.run`` on one explicit frame (the frame's explicit score is given, as
  the scanner hands it over), finding the face with BlazeFace (the default), with dlib's HOG
  detector, and taking the face box NudeNet already found; each aligns and describes the face.
  Photos: face_recognition's test photos, decoded as the scanner decodes them. Target: <= 150 ms
  (the default, BlazeFace).
- ``match_ms``: one server with 10,000 protected members, 3 descriptors each, matched against
  1 face and against 8 (a video's worth). Target: <= 1 ms for one face. Also what re-enrolling
  one member costs there (the owner rebuilds that server's matrix).
- ``enrol_ms``: ``ProtectionService.enrol_photos`` with 3 photos (decode, vet, describe, seal,
  store with its audit record) on a SQLite file. Target: <= 2 s.
- ``distances``: same-person and different-person descriptor distances on the test photos,
  against the default match distance.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.detectors.base import Detection
from bot.core.evidence import EvidenceKey
from bot.core.executor import BoundedExecutor
from bot.core.faces.embedder import FaceModel
from bot.core.faces.face import FaceFinding
from bot.core.faces.likeness import DEFAULT_MAX_DISTANCE, Enrolled, Gallery, ProtectedFaces
from bot.core.faces.stage import FaceStage, Trigger
from bot.core.limits import MediaLimits
from bot.core.media import Media, load_media
from bot.protection import ProtectionService
from bot.storage import open_storage

MEMBERS = 10_000
PER_MEMBER = 3


def _stats(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3),
        "runs": len(ordered),
    }


def _time(call: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def _stage(
    model: FaceModel, hog_model: FaceModel, media: Sequence[Media], runs: int
) -> dict[str, Any]:
    executor = BoundedExecutor(1)
    try:
        stages = {
            name: FaceStage(chosen, executor, [Trigger("explicit-model", 0.5)])
            for name, chosen in (("blazeface", model), ("hog", hog_model), ("given_box", model))
        }
        plain = [Detection("explicit-model", frame_scores=(0.9,)) for _ in media]
        boxes = []
        for item in media:
            (box, _), *_ = model.find(item.frames[0].pixels)
            boxes.append(
                Detection(
                    "explicit-model",
                    frame_scores=(0.9,),
                    face_boxes=(((box.x, box.y, box.width, box.height),),),
                )
            )
        results: dict[str, Any] = {}
        for name, detections in (("blazeface", plain), ("hog", plain), ("given_box", boxes)):
            samples = []
            stage = stages[name]
            for _ in range(runs):
                for item, detection in zip(media, detections, strict=True):
                    started = time.perf_counter()
                    found = await stage.run(item, [detection])
                    samples.append((time.perf_counter() - started) * 1000)
                    assert len(found) == 1, "every test photo shows one face"
            results[name] = _stats(samples)
        results["frame_sizes"] = sorted({f"{m.width}x{m.height}" for m in media})
        return results
    finally:
        executor.shutdown()


def _match(runs: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)

    def unit(n: int) -> np.ndarray:
        rows = rng.normal(size=(n, 128)).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True) * 1.38

    members = [Enrolled(i, unit(PER_MEMBER)) for i in range(MEMBERS)]
    started = time.perf_counter()
    gallery = Gallery(members)
    build_ms = (time.perf_counter() - started) * 1000
    one = [FaceFinding(0, _box(), unit(1)[0], ("m",))]
    eight = [FaceFinding(i, _box(), unit(1)[0], ("m",)) for i in range(8)]
    gallery.match(one, DEFAULT_MAX_DISTANCE)  # warm-up
    owner = ProtectedFaces()
    owner.install({1: members})
    return {
        "members": MEMBERS,
        "descriptors": MEMBERS * PER_MEMBER,
        "one_face": _stats(_time(lambda: gallery.match(one, DEFAULT_MAX_DISTANCE), runs * 50)),
        "eight_faces": _stats(_time(lambda: gallery.match(eight, DEFAULT_MAX_DISTANCE), runs * 20)),
        "build_ms": round(build_ms, 1),
        "re_enrol_one_ms": _stats(
            _time(lambda: owner.put(1, Enrolled(5, unit(PER_MEMBER))), max(3, runs // 2))
        ),
        "matrix_mb": round(MEMBERS * PER_MEMBER * 128 * 4 / 1e6, 1),
    }


def _box() -> Any:
    from bot.core.faces.face import FaceBox

    return FaceBox(0, 0, 100, 100)


async def _enrol(model: FaceModel, photos: Sequence[bytes], runs: int) -> dict[str, Any]:
    executor = BoundedExecutor(2)
    key = EvidenceKey.generate()[0]
    with tempfile.TemporaryDirectory() as folder:
        async with await open_storage(f"sqlite:///{Path(folder) / 'bench.db'}") as storage:
            service = ProtectionService(
                storage, key, model, ProtectedFaces(), executor, MediaLimits()
            )
            named = [(f"photo{i}.jpg", data) for i, data in enumerate(photos)]
            samples = []
            for member in range(runs):
                started = time.perf_counter()
                outcome = await service.enrol_photos(1, member, named, notify=False)
                samples.append((time.perf_counter() - started) * 1000)
                assert outcome.usable == len(photos), [p.problem for p in outcome.photos]
    executor.shutdown()
    return {"photos": len(photos), **_stats(samples)}


def _distances(model: FaceModel, media: dict[str, Media]) -> dict[str, Any]:
    vectors = {}
    for name, item in media.items():
        pixels = item.frames[0].pixels
        (box, _), *_ = model.find(pixels)
        vectors[name] = model.describe(pixels, [box])[0].descriptor
    same_names = [n for n in vectors if n.startswith("obama")]
    same = [
        float(np.linalg.norm(vectors[a] - vectors[b]))
        for i, a in enumerate(same_names)
        for b in same_names[i + 1 :]
    ]
    other = [float(np.linalg.norm(vectors[a] - vectors["biden.jpg"])) for a in same_names]
    return {
        "same_person": [round(min(same), 3), round(max(same), 3)],
        "different_people": [round(min(other), 3), round(max(other), 3)],
        "max_distance": DEFAULT_MAX_DISTANCE,
    }


def run(runs: int = 10) -> dict[str, Any]:
    """Measure everything; returns a JSON-serialisable dict."""
    from tests.faces_support import PHOTOS, face_manifest, photo_bytes
    from tests.test_real_models import _fetched

    model = FaceModel.load(face_manifest(), finder=_fetched("blazeface"))
    hog_model = FaceModel.load(face_manifest())
    limits = MediaLimits()
    media = {name: load_media(photo_bytes(name), limits) for name in PHOTOS}
    whole = [media[n] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]
    results: dict[str, Any] = {
        "stage_ms": asyncio.run(_stage(model, hog_model, whole, runs)),
        "match_ms": _match(runs),
        "enrol_ms": asyncio.run(
            _enrol(model, [photo_bytes(n) for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")], 5)
        ),
        "distances": _distances(model, media),
    }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
