"""Evidence encryption and reviewer previews."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from bot.core.evidence import EvidenceError, EvidenceKey, evidence_context
from bot.core.preview import CELLS, PREVIEW_SIDE, blurred_preview
from tests.imagery import photo

DATA = b"\xff\xd8\xff" + bytes(range(256)) * 40


def test_sealed_evidence_opens_only_with_its_key_and_context() -> None:
    key, _ = EvidenceKey.generate()
    context = evidence_context(7, "ab" * 32)
    sealed = key.seal(DATA, context)
    assert DATA not in sealed.ciphertext
    assert key.open(sealed, context) == DATA
    with pytest.raises(EvidenceError, match="integrity"):
        key.open(sealed, evidence_context(8, "ab" * 32))  # moved to another case
    tampered = type(sealed)(sealed.key_id, sealed.nonce, sealed.ciphertext[:-1] + b"\x00")
    with pytest.raises(EvidenceError, match="integrity"):
        key.open(tampered, context)
    other, _ = EvidenceKey.generate()
    with pytest.raises(EvidenceError, match="sealed with key"):
        other.open(sealed, context)


def test_each_seal_uses_a_fresh_nonce() -> None:
    key, _ = EvidenceKey.generate()
    first, second = key.seal(DATA, "c"), key.seal(DATA, "c")
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


@pytest.mark.parametrize("form", ["base64", "urlsafe", "hex"])
def test_a_key_is_read_from_its_text_forms(form: str) -> None:
    raw = bytes(range(32))
    text = {
        "base64": base64.b64encode(raw).decode(),
        "urlsafe": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
    }[form]
    assert EvidenceKey.parse(text).key_id == EvidenceKey(raw).key_id


@pytest.mark.parametrize("text", ["short", "!!!not base64!!!", "QUJD"])
def test_a_bad_key_is_refused_with_how_to_make_one(text: str) -> None:
    with pytest.raises(EvidenceError, match="evidence key"):
        EvidenceKey.parse(text)


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENTRY_EVIDENCE_KEY", raising=False)
    assert EvidenceKey.from_env() is None
    _, text = EvidenceKey.generate()
    monkeypatch.setenv("CONSENTRY_EVIDENCE_KEY", text)
    assert EvidenceKey.from_env() is not None


def test_the_preview_keeps_no_detail_beyond_a_coarse_grid() -> None:
    original = np.asarray(photo("astronaut"))
    preview = Image.open(io.BytesIO(blurred_preview(original)))
    assert preview.format == "JPEG" and max(preview.size) == PREVIEW_SIDE
    # Reducing the preview to the grid and back loses almost nothing: there was nothing finer.
    grid = preview.resize((CELLS, CELLS), Image.Resampling.BOX).resize(preview.size)
    difference = np.abs(np.asarray(preview, float) - np.asarray(grid, float)).mean()
    small = photo("astronaut").resize(preview.size)
    coarse = photo("astronaut").resize((CELLS, CELLS), Image.Resampling.BOX).resize(preview.size)
    detail = np.abs(np.asarray(small, float) - np.asarray(coarse, float)).mean()
    assert difference < detail / 3


def test_regions_given_to_the_preview_are_blacked_out_before_the_blur() -> None:
    white = np.full((240, 320, 3), 255, dtype=np.uint8)
    plain = np.asarray(Image.open(io.BytesIO(blurred_preview(white))), float)
    masked = np.asarray(Image.open(io.BytesIO(blurred_preview(white, [(0, 0, 160, 240)]))), float)
    half = masked.shape[1] // 2
    assert masked[:, : half - 20].mean() < 40  # the box is dark in the preview
    assert masked[:, half + 20 :].mean() > 215  # the rest keeps its (blurred) colour
    assert plain.mean() > 240
