"""Real photos of real people for the face tests (``bot.sample_faces``), and the face model.

The tests that need them skip, saying why, only when the package index cannot be reached.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import sample_faces
from bot.core.detectors.manifest import ModelManifest
from bot.sample_faces import OTHER_PERSON, PHOTOS, SAME_PERSON
from tests.test_real_models import _fetched

__all__ = ["OTHER_PERSON", "PHOTOS", "SAME_PERSON", "face_manifest", "photo_bytes", "photos_dir"]


def photos_dir() -> Path:
    """The folder holding the photos, fetched on first use."""
    try:
        return sample_faces.photos_dir()
    except sample_faces.SampleFetchError as exc:
        pytest.skip(f"package index unreachable, face photos not fetched: {exc}")


def photo_bytes(name: str) -> bytes:
    """One test photo's bytes."""
    return (photos_dir() / name).read_bytes()


def face_manifest() -> ModelManifest:
    """The shipped face model, fetched into the cache if needed."""
    return _fetched("dlib-face")
