"""Per-server settings: defaults in code, only overrides stored, cached reads."""

from __future__ import annotations

import pytest

from bot.guild_settings import GuildSettings, GuildSettingsService
from bot.storage import open_storage


async def test_defaults_apply_until_a_value_is_set_and_only_overrides_are_stored() -> None:
    async with await open_storage("sqlite::memory:") as storage:
        service = GuildSettingsService(storage.settings)
        assert await service.get(1) == GuildSettings()
        assert not (await service.get(1)).setup_complete
        updated = await service.set(1, "alert_channel_id", 42)
        assert updated.alert_channel_id == 42 and updated.setup_complete
        await service.set(1, "exempt_channel_ids", frozenset({7, 3}))
        assert await storage.settings.get_overrides(1) == {
            "alert_channel_id": 42,
            "exempt_channel_ids": [3, 7],
        }
        assert (await service.get(1)).exempt_channel_ids == frozenset({3, 7})
        await service.set(1, "exempt_channel_ids", frozenset())  # back to the default
        assert "exempt_channel_ids" not in await storage.settings.get_overrides(1)
        assert await service.get(2) == GuildSettings()


async def test_a_mistyped_setting_name_is_refused() -> None:
    async with await open_storage("sqlite::memory:") as storage:
        with pytest.raises(AttributeError):
            await GuildSettingsService(storage.settings).set(1, "alert_chanel_id", 5)


def test_settings_of_other_features_are_ignored_when_reading() -> None:
    settings = GuildSettings.from_overrides({"policy.rules": [], "scan_bots": True})
    assert settings.scan_bots and settings == GuildSettings(scan_bots=True)
