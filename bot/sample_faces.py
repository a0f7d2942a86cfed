"""Photos of real people for the demo and the face tests, fetched from the package index.

face_recognition's source distribution ships ``tests/test_images/``: several benign portraits of
one person (obama, obama2, obama3, two partial faces) and one of another (biden). They are
downloaded once (3 MB, pinned by version) into the user's cache, never committed, and fetched
the way model weights are (``bot.model_store.download_package``): nothing is installed.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from bot.config import default_models_dir
from bot.model_store import ModelFetchError, download_package

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
FETCH_TIMEOUT = 300.0


class SampleFetchError(Exception):
    """The photos could not be fetched; the message says why."""


def photos_dir() -> Path:
    """The folder holding the photos, fetched on first use (SampleFetchError if it cannot be)."""
    folder = default_models_dir().parent / "test-data" / "face_recognition-1.3.0"
    if all((folder / name).is_file() for name in PHOTOS):
        return folder
    with tempfile.TemporaryDirectory(prefix="consentry-faces-") as scratch:
        try:
            archive = download_package(REQUIREMENT, Path(scratch), (), FETCH_TIMEOUT, sdist=True)
        except ModelFetchError as exc:
            raise SampleFetchError(str(exc)) from None
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                name = info.name.rpartition("/")[2]
                if "/tests/test_images/" in info.name and name in PHOTOS and info.isfile():
                    source = tar.extractfile(info)
                    if source is not None:
                        partial = folder / f"{name}.partial"
                        partial.write_bytes(source.read())
                        partial.replace(folder / name)
    missing = [name for name in PHOTOS if not (folder / name).is_file()]
    if missing:
        raise SampleFetchError(f"{REQUIREMENT} holds no {missing[0]}")
    return folder


def photo_bytes(name: str) -> bytes:
    """One photo's bytes."""
    return (photos_dir() / name).read_bytes()
