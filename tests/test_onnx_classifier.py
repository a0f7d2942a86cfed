"""The generic ONNX classifier: loading from a manifest, preprocessing, scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.core.detectors.manifest import InputSpec, ManifestError, load_manifest
from bot.core.detectors.onnx_classifier import OnnxClassifier, preprocess
from bot.core.executor import BoundedExecutor
from bot.core.hashes import MediaHashes
from bot.core.media import Frame, Media, MediaType
from tests.imagery import photo
from tests.tiny_model import write_manifest


def _media(*arrays: np.ndarray) -> Media:
    frames = tuple(Frame(i, a) for i, a in enumerate(arrays))
    h, w = arrays[0].shape[:2]
    kind = MediaType.GIF if len(arrays) > 1 else MediaType.PNG
    return Media(b"", kind, w, h, len(arrays), frames)


def _solid(rgb: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> np.ndarray:
    return np.asarray(Image.new("RGB", size, rgb))


NO_HASHES = MediaHashes("0" * 64, "0" * 32)


@pytest.fixture
async def executor():
    pool = BoundedExecutor(2)
    yield pool
    pool.shutdown()


async def test_a_red_image_scores_high_and_a_photo_low(tmp_path: Path, executor) -> None:
    classifier = OnnxClassifier.load(load_manifest(write_manifest(tmp_path)), executor)
    red = await classifier.detect(_media(_solid((255, 0, 0))), NO_HASHES)
    astronaut = await classifier.detect(_media(np.asarray(photo("astronaut"))), NO_HASHES)
    assert classifier.labels == ("other", "red")
    assert red.scores["red"] > 0.99
    assert astronaut.scores["red"] < 0.3
    assert red.scores["red"] + red.scores["other"] == pytest.approx(1.0, abs=1e-5)


async def test_scores_are_deterministic(tmp_path: Path, executor) -> None:
    classifier = OnnxClassifier.load(load_manifest(write_manifest(tmp_path)), executor)
    media = _media(np.asarray(photo("coffee")))
    first = await classifier.detect(media, NO_HASHES)
    second = await classifier.detect(media, NO_HASHES)
    assert first.scores == second.scores


async def test_an_animation_scores_its_most_telling_frame(tmp_path: Path, executor) -> None:
    classifier = OnnxClassifier.load(load_manifest(write_manifest(tmp_path)), executor)
    media = _media(_solid((0, 0, 255)), _solid((255, 0, 0)), _solid((0, 255, 0)))
    detection = await classifier.detect(media, NO_HASHES)
    assert detection.scores["red"] > 0.99


async def test_a_model_with_a_fixed_batch_of_one_runs_frame_by_frame(
    tmp_path: Path, executor
) -> None:
    (tmp_path / "dynamic").mkdir()
    (tmp_path / "fixed").mkdir()
    dynamic_manifest = load_manifest(write_manifest(tmp_path / "dynamic"))
    fixed_manifest = load_manifest(write_manifest(tmp_path / "fixed", batch=1))
    dynamic = OnnxClassifier.load(dynamic_manifest, executor)
    fixed = OnnxClassifier.load(fixed_manifest, executor)
    frames = [np.asarray(photo(n)) for n in ("astronaut", "rocket", "chelsea")]
    np.testing.assert_allclose(dynamic.score_frames(frames), fixed.score_frames(frames), atol=1e-6)


def test_preprocessing_scales_normalises_and_transposes() -> None:
    pixels = _solid((255, 0, 51), (8, 4))
    spec = InputSpec(width=4, height=2, mean=(0.5, 0.0, 0.0), std=(0.5, 1.0, 0.1))
    tensor = preprocess(pixels, spec)
    assert tensor.shape == (1, 3, 2, 4)
    assert tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, :, 0, 0], [1.0, 0.0, 2.0], atol=1e-5)


def test_preprocessing_can_feed_bgr_and_nhwc() -> None:
    pixels = _solid((255, 0, 0), (4, 4))
    spec = InputSpec(width=4, height=4, layout="NHWC", channel_order="BGR")
    tensor = preprocess(pixels, spec)
    assert tensor.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(tensor[0, 0, 0], [0.0, 0.0, 1.0], atol=1e-6)


def test_letterbox_keeps_the_aspect_ratio_and_pads_evenly() -> None:
    pixels = _solid((255, 255, 255), (40, 10))  # 4:1
    spec = InputSpec(width=8, height=8, resize="letterbox", scale=1.0, pad_value=0)
    tensor = preprocess(pixels, spec)[0, 0]
    assert tensor[0].sum() == 0 and tensor[-1].sum() == 0  # padded rows top and bottom
    assert tensor[3:5].min() == 255  # the image band in the middle


def test_center_crop_fills_the_input_without_padding() -> None:
    pixels = _solid((10, 20, 30), (40, 10))
    spec = InputSpec(width=8, height=8, resize="center_crop", scale=1.0)
    tensor = preprocess(pixels, spec)[0]
    assert tensor.shape == (3, 8, 8)
    np.testing.assert_allclose(tensor[:, :, :].reshape(3, -1).mean(axis=1), [10, 20, 30], atol=0.5)


def test_a_corrupt_weight_file_is_refused_with_its_checksum(tmp_path: Path, executor) -> None:
    manifest = load_manifest(write_manifest(tmp_path))
    manifest.file.write_bytes(manifest.file.read_bytes()[:-10])
    with pytest.raises(ManifestError, match="sha256"):
        OnnxClassifier.load(manifest, executor)


def test_a_missing_weight_file_is_named(tmp_path: Path, executor) -> None:
    manifest = load_manifest(write_manifest(tmp_path))
    manifest.file.unlink()
    with pytest.raises(ManifestError, match="does not exist"):
        OnnxClassifier.load(manifest, executor)


def test_garbage_weights_without_a_checksum_fail_to_load_clearly(tmp_path: Path, executor) -> None:
    manifest = load_manifest(write_manifest(tmp_path, sha256=False))
    manifest.file.write_bytes(b"not an onnx model")
    with pytest.raises(ManifestError, match="cannot load"):
        OnnxClassifier.load(manifest, executor)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('labels = ["other", "red"]', 'labels = ["other", "red", "c"]'), "3 labels"),
        (("width = 32", "width = 64"), "does not fit"),
        (('positive = "red"', 'positive = "blue"'), "not one of"),
        (("[thresholds]", "colour = 1\n[thresholds]"), "unknown key"),
        (("flag = 0.5", "flag = 1.5"), "between 0 and 1"),
        (('layout = "NCHW"', 'layout = "CHW"'), "layout"),
    ],
)
def test_manifest_mistakes_are_reported_by_key(
    tmp_path: Path, executor, edit: tuple[str, str], message: str
) -> None:
    path = write_manifest(tmp_path)
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(ManifestError, match=message):
        OnnxClassifier.load(load_manifest(path), executor)


def test_a_manifest_that_is_not_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("name = [unclosed")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(path)
