"""NudeNet 320n: our own preprocessing and YOLOv8 decoding, on benign photographs only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.config import Config, DetectorConfig, LikenessConfig, default_models_dir
from bot.core.detectors.nudenet import EXPLICIT, EXPLICIT_CLASSES, NudeNetDetector, decode
from bot.core.executor import BoundedExecutor
from bot.core.verdict import Action
from bot.engine import open_engine
from bot.model_store import MODELS_DIR
from tests.imagery import GREY_PHOTO_NAMES, PHOTO_NAMES, encode, photo
from tests.test_real_models import _fetched

CLASSES = ("A", "B")


def _raw(*anchors: tuple[float, float, float, float, float, float]) -> np.ndarray:
    """A fake (4 + 2 classes, anchors) output from (cx, cy, w, h, score A, score B) tuples."""
    return np.asarray(anchors, dtype=np.float32).T


def test_decoding_keeps_the_best_of_overlapping_boxes_per_class() -> None:
    raw = _raw(
        (50, 50, 20, 20, 0.9, 0.0),
        (52, 50, 20, 20, 0.8, 0.0),  # overlaps the first, same class: suppressed
        (52, 50, 20, 20, 0.0, 0.7),  # same place, other class: kept
        (200, 200, 10, 10, 0.1, 0.1),  # below the minimum score
    )
    boxes = decode(raw, CLASSES, ratio=1.0, pad=(0, 0), size=(320, 320))
    assert [(b.label, round(b.score, 1)) for b in boxes] == [("A", 0.9), ("B", 0.7)]
    assert (boxes[0].x, boxes[0].y, boxes[0].width, boxes[0].height) == (40, 40, 20, 20)


def test_decoding_undoes_the_letterbox_into_frame_pixels() -> None:
    # A 640x320 frame letterboxed into 320x320: ratio 0.5, 80 pixels of padding top and bottom.
    raw = _raw((160, 160, 40, 20, 0.9, 0.0))
    [box] = decode(raw, CLASSES, ratio=0.5, pad=(0, 80), size=(640, 320))
    assert (box.x, box.y, box.width, box.height) == (280, 140, 80, 40)


@pytest.fixture(scope="module")
def nudenet():
    pool = BoundedExecutor(1)
    yield NudeNetDetector.load(_fetched("nudenet-320n"), pool)
    pool.shutdown()


def test_the_astronauts_face_is_found_where_it_is(nudenet: NudeNetDetector) -> None:
    [boxes] = nudenet.boxes([np.asarray(photo("astronaut"))])
    face = boxes[0]
    assert face.label == "FACE_FEMALE" and face.score > 0.6
    assert 140 < face.x + face.width / 2 < 260 and 80 < face.y + face.height / 2 < 180
    assert nudenet.boxes([np.asarray(photo("astronaut"))]) == [boxes]  # deterministic


def test_benign_photographs_have_no_exposed_classes(nudenet: NudeNetDetector) -> None:
    frames = [np.asarray(photo(n)) for n in PHOTO_NAMES + GREY_PHOTO_NAMES]
    for boxes in nudenet.boxes(frames):
        assert not [b for b in boxes if b.label in EXPLICIT_CLASSES]


async def test_the_engine_runs_nudenet_as_a_detector_with_an_explicit_score(tmp_path: Path) -> None:
    _fetched("nudenet-320n")
    config = Config(
        storage_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        detectors=(DetectorConfig(manifest=MODELS_DIR / "nudenet-320n.toml"),),
        likeness=LikenessConfig(enabled=False),
        models_cache_dir=default_models_dir(),
    )
    async with open_engine(config) as engine:
        verdict = await engine.scan(encode(photo("astronaut")))
    assert verdict.scores["nudenet-320n.FACE_FEMALE"] > 0.6
    assert verdict.scores[f"nudenet-320n.{EXPLICIT}"] == 0.0
    assert verdict.action is Action.ALLOW
    [rule] = [r for r in engine.policy.rules if r.signal.startswith("nudenet")]
    assert (rule.signal, rule.action, rule.min_score) == ("nudenet-320n.explicit", Action.FLAG, 0.5)
