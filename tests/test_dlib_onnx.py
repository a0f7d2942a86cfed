"""Converting dlib's face recognition ResNet to ONNX: same descriptors, same bytes, clear refusals.

The real weights (``dlib_face_recognition_resnet_model_v1.dat``, 22 MB, public domain) are not
part of the repository: set ``CONSENTRY_TEST_DLIB_DAT`` to the file to run the tests that need
it. ``CONSENTRY_TEST_FACE_IMAGES`` names a folder holding ``obama.jpg``, ``obama2.jpg`` and
``biden.jpg`` (face_recognition's test images) for the aligned-chip checks, which also need
``shape_predictor_5_face_landmarks.dat`` beside the ``.dat``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from bot.core.faces.dlib_onnx import (
    CHIP_SIZE,
    DESCRIPTOR_DIM,
    INPUT_NAME,
    OUTPUT_NAME,
    ConversionError,
    convert,
)
from tests.faces_support import face_manifest, photos_dir
from tests.imagery import photo

ort = pytest.importorskip("onnxruntime")

_DAT_VARIABLE = "CONSENTRY_TEST_DLIB_DAT"
_IMAGES_VARIABLE = "CONSENTRY_TEST_FACE_IMAGES"
_LANDMARKS_NAME = "shape_predictor_5_face_landmarks.dat"
_TOLERANCE = 1e-4
"""Euclidean distance allowed between dlib's and the ONNX descriptor (measured: ~1e-6)."""


def _dat_path() -> Path:
    value = os.environ.get(_DAT_VARIABLE)
    if not value:  # the shipped model's weights, fetched as every model test does
        return face_manifest().file
    path = Path(value)
    if not path.is_file():
        pytest.skip(f"{_DAT_VARIABLE}={value} is not a file")
    return path


@pytest.fixture(scope="module")
def dat() -> Path:
    return _dat_path()


@pytest.fixture(scope="module")
def onnx_model(dat: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dlib_onnx") / "face_resnet.onnx"
    convert(dat, path)
    return path


@pytest.fixture(scope="module")
def session(onnx_model: Path) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(onnx_model), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def dlib_net(dat: Path) -> Any:
    dlib = pytest.importorskip("dlib")
    return dlib.face_recognition_model_v1(str(dat))


def _describe(session: Any, chips: np.ndarray) -> np.ndarray:
    result: np.ndarray = session.run([OUTPUT_NAME], {INPUT_NAME: chips})[0]
    return result


def _astronaut_chip() -> np.ndarray:
    """Eileen Collins's face from scikit-image's astronaut photo, cropped and resized by Pillow."""
    face = photo("astronaut").crop((150, 30, 290, 170))
    return np.asarray(face.resize((CHIP_SIZE, CHIP_SIZE), Image.Resampling.BILINEAR))


def _drawn_chip() -> np.ndarray:
    """A 150x150 picture made with Pillow alone: a gradient with a few shapes on it."""
    ramp = np.linspace(0, 255, CHIP_SIZE, dtype=np.float64)
    pixels = np.stack(
        [np.add.outer(ramp, ramp) / 2, np.add.outer(ramp[::-1], ramp) / 2, np.tile(ramp, (150, 1))],
        axis=-1,
    ).astype(np.uint8)
    pixels[40:60, 30:60] = (20, 20, 20)
    pixels[40:60, 90:120] = (20, 20, 20)
    pixels[100:115, 45:105] = (200, 40, 40)
    return pixels


# --- the conversion matches dlib ---------------------------------------------------------------


@pytest.mark.parametrize("make_chip", [_astronaut_chip, _drawn_chip], ids=["astronaut", "drawn"])
def test_onnx_descriptors_equal_dlibs_for_the_same_chip(
    session: Any, dlib_net: Any, make_chip: Any
) -> None:
    chip = make_chip()
    expected = np.asarray(dlib_net.compute_face_descriptor(chip), dtype=np.float64)
    got = _describe(session, chip[None])
    assert got.shape == (1, DESCRIPTOR_DIM)
    assert got.dtype == np.float32
    assert np.linalg.norm(got[0] - expected) < _TOLERANCE
    # dlib does not L2-normalise its descriptors, and neither does the model.
    assert abs(np.linalg.norm(got[0]) - 1.0) > 0.05


def test_a_batch_describes_each_chip_as_alone(session: Any) -> None:
    chips = np.stack([_astronaut_chip(), _drawn_chip()])
    batch = _describe(session, chips)
    for row, chip in zip(batch, chips, strict=True):
        np.testing.assert_allclose(row, _describe(session, chip[None])[0], atol=1e-6)


def test_the_model_takes_uint8_rgb_chips_and_gives_128_floats(session: Any) -> None:
    (model_input,) = session.get_inputs()
    (model_output,) = session.get_outputs()
    assert (model_input.name, model_input.type) == (INPUT_NAME, "tensor(uint8)")
    assert model_input.shape[1:] == [CHIP_SIZE, CHIP_SIZE, 3]
    assert (model_output.name, model_output.shape[1:]) == (OUTPUT_NAME, [DESCRIPTOR_DIM])


def test_converting_twice_writes_the_same_bytes(
    dat: Path, onnx_model: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again.onnx"
    convert(dat, again)
    assert again.read_bytes() == onnx_model.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def _aligned_chips(dat: Path) -> dict[str, np.ndarray]:
    value = os.environ.get(_IMAGES_VARIABLE) or str(photos_dir())
    landmarks = dat.with_name(_LANDMARKS_NAME)
    if not landmarks.is_file():
        pytest.skip(f"no {_LANDMARKS_NAME} beside {dat}")
    dlib = pytest.importorskip("dlib")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(landmarks))
    chips = {}
    for name in ("obama", "obama2", "biden"):
        image = np.asarray(Image.open(Path(value) / f"{name}.jpg").convert("RGB"))
        (face,) = detector(image, 0)
        chips[name] = np.asarray(dlib.get_face_chip(image, predictor(image, face), CHIP_SIZE, 0.25))
    return chips


def test_aligned_photo_chips_match_dlib_and_tell_people_apart(
    dat: Path, session: Any, dlib_net: Any
) -> None:
    chips = _aligned_chips(dat)
    got = dict(zip(chips, _describe(session, np.stack(list(chips.values()))), strict=True))
    for name, chip in chips.items():
        expected = np.asarray(dlib_net.compute_face_descriptor(chip))
        assert np.linalg.norm(got[name] - expected) < _TOLERANCE, name
    # dlib's rule: the same person within 0.6, different people beyond it.
    assert np.linalg.norm(got["obama"] - got["obama2"]) < 0.6
    assert np.linalg.norm(got["obama"] - got["biden"]) > 0.6
    assert np.linalg.norm(got["obama2"] - got["biden"]) > 0.6


# --- files that are not the network are refused --------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "truncated"),
        (b"not a dlib network at all", "integer control byte"),
        (b"\x01\x02", "loss layer wrapper version 2"),
    ],
    ids=["empty", "text", "wrong-wrapper-version"],
)
def test_bytes_that_are_no_dlib_network_raise_conversion_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    source = tmp_path / "bad.dat"
    source.write_bytes(content)
    target = tmp_path / "out.onnx"
    with pytest.raises(ConversionError, match=message):
        convert(source, target)
    assert not target.exists()


def test_conversion_error_is_a_value_error() -> None:
    assert issubclass(ConversionError, ValueError)


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _append(data: bytes) -> bytes:
    return data + b"\x00"


def _replace(old: bytes, new: bytes) -> Any:
    def mutate(data: bytes) -> bytes:
        assert old in data, f"{old!r} not in the .dat: has its layout changed?"
        return data.replace(old, new, 1)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_truncate, r"file truncated while reading"),
        (_append, r"1 unexpected bytes after the network"),
        (
            _replace(b"loss_metric_2", b"loss_metric_9"),
            r"loss layer version .* found 'loss_metric_9'",
        ),
        (
            _replace(b"\x01\x96\x01\x96\x01\x05con_4", b"\x01\x97\x01\x96\x01\x05con_4"),
            r"input rows: expected 150, found 151",
        ),
        (_replace(b"\x05con_4", b"\x05con_9"), r"con layer 0 version .* found 'con_9'"),
        (
            _replace(b"\x04fc_2\x01\x80", b"\x04fc_2\x01\x7f"),
            r"fc layer \d+ outputs: expected 128, found 127",
        ),
        (
            # The first convolution's filter shape claims 4 input channels instead of 3.
            _replace(
                b"\x01\x01\x01\x20\x01\x03\x01\x07\x01\x07",
                b"\x01\x01\x01\x20\x01\x04\x01\x07\x01\x07",
            ),
            r"con layer 0 parameter count: expected 6304, found 4736",
        ),
    ],
    ids=[
        "truncated",
        "trailing-byte",
        "loss-version",
        "input-size",
        "con-version",
        "fc-width",
        "filter-shape",
    ],
)
def test_an_altered_dat_raises_conversion_error_naming_the_fault(
    dat: Path, tmp_path: Path, mutate: Any, message: str
) -> None:
    source = tmp_path / "altered.dat"
    source.write_bytes(mutate(dat.read_bytes()))
    target = tmp_path / "out.onnx"
    with pytest.raises(ConversionError, match=message) as caught:
        convert(source, target)
    assert "at byte" in str(caught.value)
    assert not target.exists()
