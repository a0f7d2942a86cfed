"""The engine: opens everything from a config and keeps the live index in step with storage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.core.blocklist import Algorithm, NewEntry
from bot.core.detectors.manifest import ManifestError
from bot.core.fingerprint import fingerprint
from bot.core.limits import MediaLimits
from bot.core.verdict import Action
from bot.engine import open_engine
from bot.storage import open_storage
from tests.imagery import encode, photo
from tests.tiny_model import write_manifest

COFFEE = encode(photo("coffee"))


def _config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "config.toml"
    # Only the detectors a test names: without any, the shipped defaults would load.
    models = "" if "[[detectors]]" in extra else "detectors = []\n"
    path.write_text(f'{models}[likeness]\nenabled = false\n[storage]\nurl = "bot.db"\n{extra}')
    return load_config(path)


async def test_entries_added_by_another_process_take_effect_on_refresh(tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with open_engine(config) as engine:
        assert (await engine.scan(COFFEE)).action is Action.ALLOW
        assert not await engine.refresh_blocklist()  # nothing changed: no rebuild
        async with await open_storage(config.storage_url) as other:  # e.g. the CLI
            hashes = fingerprint(COFFEE, MediaLimits(), 50).hashes
            await other.blocklist.add([NewEntry(a, v, reason="test") for a, v in hashes])
        generation = engine.matcher.generation
        assert await engine.refresh_blocklist()
        assert engine.matcher.generation == generation + 1
        assert (await engine.scan(COFFEE)).action is Action.QUARANTINE


async def test_a_change_is_applied_incrementally_without_rebuilding_the_base(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    async with open_engine(config) as engine:
        base = engine.matcher.snapshot.base
        hashes = fingerprint(COFFEE, MediaLimits(), 50).hashes
        added = await engine.storage.blocklist.add([NewEntry(a, v) for a, v in hashes])
        assert await engine.refresh_blocklist()
        assert engine.matcher.snapshot.base is base  # only the delta was built
        assert (await engine.scan(COFFEE)).action is Action.QUARANTINE
        for item in added.added:
            await engine.storage.blocklist.remove(item.id)
        assert await engine.refresh_blocklist()
        assert engine.matcher.snapshot.base is base
        assert (await engine.scan(COFFEE)).action is Action.ALLOW
        assert len(engine.matcher.snapshot) == 0


async def test_concurrent_refreshes_are_merged_and_generations_only_rise(tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with open_engine(config) as engine:
        hashes = fingerprint(COFFEE, MediaLimits(), 50).hashes
        await engine.storage.blocklist.add([NewEntry(a, v) for a, v in hashes])
        before = engine.matcher.generation
        results = await asyncio.gather(*(engine.refresh_blocklist() for _ in range(5)))
        assert results.count(True) == 1  # the others found the change already applied
        assert engine.matcher.generation == before + 1
        await asyncio.gather(engine.reload_blocklist(), engine.reload_blocklist())
        assert engine.matcher.generation == before + 3  # two rebuilds, two generations


async def test_server_overrides_apply_only_to_that_server(tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with open_engine(config) as engine:
        await engine.storage.blocklist.add(
            [NewEntry(Algorithm.SHA256, fingerprint(COFFEE, MediaLimits(), 50).sha256)]
        )
        await engine.reload_blocklist()
        rules = [{"signal": "blocklist", "action": "flag"}]
        await engine.storage.settings.set_override(1, "policy.rules", rules)
        assert (await engine.scan(COFFEE, guild_id=1)).action is Action.FLAG
        assert (await engine.scan(COFFEE, guild_id=2)).action is Action.QUARANTINE


async def test_configured_models_are_loaded_and_drive_the_default_policy(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    config = _config(tmp_path, '[[detectors]]\nmanifest = "redness.toml"\n')
    async with open_engine(config) as engine:
        assert [m.name for m in engine.manifests] == ["redness"]
        signals = {(r.signal, r.action) for r in engine.policy.rules}
        assert ("redness.red", Action.FLAG) in signals
        assert ("redness.red", Action.QUARANTINE) in signals


async def test_a_disabled_model_is_not_loaded(tmp_path: Path, caplog) -> None:
    write_manifest(tmp_path)
    config = _config(tmp_path, '[[detectors]]\nmanifest = "redness.toml"\nenabled = false\n')
    async with open_engine(config) as engine:
        assert engine.manifests == ()
    assert "disabled" in caplog.text


async def test_a_broken_model_stops_the_start_and_releases_the_database(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path)
    (tmp_path / "redness.onnx").write_bytes(b"broken")
    config = _config(tmp_path, f'[[detectors]]\nmanifest = "{manifest.name}"\n')
    with pytest.raises(ManifestError, match="sha256"):
        async with open_engine(config):
            pass
    async with await open_storage(config.storage_url) as storage:  # not left locked
        result = await storage.blocklist.add([NewEntry(Algorithm.MD5, "0" * 32)])
        assert len(result.added) == 1


async def test_an_unavailable_execution_provider_is_named_at_start(tmp_path: Path) -> None:
    write_manifest(tmp_path)
    config = _config(
        tmp_path,
        '[[detectors]]\nmanifest = "redness.toml"\nproviders = ["NoSuchExecutionProvider"]\n',
    )
    assert config.detectors[0].providers == ("NoSuchExecutionProvider",)
    with pytest.raises(ManifestError, match="NoSuchExecutionProvider is not available here"):
        async with open_engine(config):
            pass
