"""Enrolment: a member's own photos become face descriptors; nothing else is kept.

Photos are vetted one by one (exactly one face, big enough, sharp enough), described in memory
and dropped. The descriptors are what an enrolment stores, sealed with the evidence key, or what
``consentry likeness enroll`` writes to an enrolment file on the member's own machine:

    {"format": "consentry-likeness", "version": 1,
     "model": {"name": "dlib-face", "version": "<sha256 of the weights, 16 digits>"},
     "faces": [[128 numbers], ...]}

The file holds the descriptors and the model's name and version, and nothing else.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.core.detectors.manifest import ModelManifest
from bot.core.evidence import EvidenceKey, Sealed
from bot.core.faces.embedder import FaceModel, Pixels
from bot.core.faces.face import DESCRIPTOR_SIZE

FILE_FORMAT = "consentry-likeness"
FILE_VERSION = 1
MAX_PHOTOS = 5
"""Photos (or descriptors in a file) one enrolment takes at most."""
MAX_FILE_BYTES = 64 * 1024
"""An enrolment file of 5 descriptors is under 15 KiB; anything past this is refused unread."""
MIN_FACE_PIXELS = 80
"""Narrowest face, in the photo's pixels (after large photos are reduced), that is enrolled."""
MIN_SHARPNESS = 15.0
"""Least Laplacian variance of the face region (see ``embedder.sharpness``): below is blurred."""
SECOND_FACE_SHARE = 0.5
"""Another face at least this share of the main face's width makes the photo ambiguous."""


class EnrolmentError(ValueError):
    """An enrolment file or request that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class VettedPhoto:
    """One photo's outcome: a descriptor, or the reason it was refused."""

    name: str
    descriptor: npt.NDArray[np.float32] | None = None
    problem: str | None = None


def model_version(manifest: ModelManifest) -> str:
    """The version an enrolment records: its weights' sha256 prefix (descriptors from other
    weights are not comparable)."""
    return (manifest.sha256 or "unverified")[:16]


def vet_photo(model: FaceModel, name: str, pixels: Pixels) -> VettedPhoto:
    """Blocking: describe the one face in a member's photo, or say why it cannot be used."""
    faces = model.find(pixels, upsample=1)
    if not faces:
        return VettedPhoto(name, problem="no face found")
    main = max(faces, key=lambda f: f[0].width)[0]
    others = [b for b, _ in faces if b != main and b.width >= SECOND_FACE_SHARE * main.width]
    if others:
        return VettedPhoto(
            name, problem=f"{len(others) + 1} faces: use a photo that shows only you"
        )
    if main.width < MIN_FACE_PIXELS:
        return VettedPhoto(
            name,
            problem=f"face too small ({main.width} px wide, at least {MIN_FACE_PIXELS} needed)",
        )
    face = model.describe(pixels, [main])[0]
    if face.sharpness < MIN_SHARPNESS:
        return VettedPhoto(name, problem="face too blurred: use a sharper photo")
    return VettedPhoto(name, descriptor=face.descriptor)


def write_file(manifest: ModelManifest, descriptors: npt.NDArray[np.float32]) -> bytes:
    """The enrolment file for ``descriptors`` (what ``consentry likeness enroll`` writes)."""
    _check_count(len(descriptors))
    document = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "model": {"name": manifest.name, "version": model_version(manifest)},
        "faces": [[round(float(v), 7) for v in row] for row in descriptors],
    }
    return (json.dumps(document, separators=(",", ":")) + "\n").encode()


def read_file(data: bytes, manifest: ModelManifest) -> npt.NDArray[np.float32]:
    """The descriptors of an enrolment file made for ``manifest``'s model; EnrolmentError with
    the reason for anything else."""
    if len(data) > MAX_FILE_BYTES:
        raise EnrolmentError(f"the file is over {MAX_FILE_BYTES // 1024} KiB: not an enrolment")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EnrolmentError("the file is not an enrolment file (not JSON)") from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise EnrolmentError(f"the file is not a {FILE_FORMAT} enrolment file")
    if document.get("version") != FILE_VERSION:
        raise EnrolmentError(f"enrolment file version {document.get('version')!r} is unknown")
    if set(document) != {"format", "version", "model", "faces"}:
        raise EnrolmentError("the file holds more than face descriptors and the model: refused")
    model = document["model"]
    wanted = {"name": manifest.name, "version": model_version(manifest)}
    if model != wanted:
        raise EnrolmentError(
            f"the file was made with model {_model_text(model)}, this bot runs "
            f"{wanted['name']} {wanted['version']}: make it again with this version"
        )
    faces = document["faces"]
    if not isinstance(faces, list):
        raise EnrolmentError("'faces' must be a list of descriptors")
    _check_count(len(faces))
    for i, row in enumerate(faces, 1):
        if (
            not isinstance(row, list)
            or len(row) != DESCRIPTOR_SIZE
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in row
            )
        ):
            raise EnrolmentError(f"face {i} is not {DESCRIPTOR_SIZE} finite numbers")
    vectors = np.asarray(faces, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    if not np.all((norms > 0.2) & (norms < 3.0)):
        raise EnrolmentError("the descriptors are not face descriptors (implausible length)")
    return vectors


def seal(
    key: EvidenceKey, guild_id: int, member_id: int, model: str, vectors: npt.NDArray[np.float32]
) -> Sealed:
    """Encrypt descriptors, bound to the server, the member and the model."""
    data = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
    return key.seal(data, enrolment_context(guild_id, member_id, model))


def unseal(
    key: EvidenceKey, sealed: Sealed, guild_id: int, member_id: int, model: str
) -> npt.NDArray[np.float32]:
    """Decrypt sealed descriptors (EvidenceError if the key differs or anything was altered)."""
    data = key.open(sealed, enrolment_context(guild_id, member_id, model))
    if len(data) % (4 * DESCRIPTOR_SIZE):
        raise EnrolmentError("sealed descriptors have the wrong length")
    return np.frombuffer(data, dtype="<f4").reshape(-1, DESCRIPTOR_SIZE).astype(np.float32)


def enrolment_context(guild_id: int, member_id: int, model: str) -> str:
    """The associated data binding sealed descriptors to one member of one server."""
    return f"consentry-enrolment:guild={guild_id}:member={member_id}:model={model}"


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_PHOTOS:
        raise EnrolmentError(f"an enrolment holds 1 to {MAX_PHOTOS} faces, not {count}")


def _model_text(model: object) -> str:
    if isinstance(model, dict):
        return f"{model.get('name')} {model.get('version')}"
    return repr(model)
