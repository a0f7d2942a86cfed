"""Per-server settings: defaults in code, only overrides stored, cached reads."""

from __future__ import annotations

import asyncio

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


async def test_a_read_racing_a_write_never_leaves_the_old_value_cached() -> None:
    async with await open_storage("sqlite::memory:") as storage:
        service = GuildSettingsService(storage.settings)
        loaded = asyncio.Event()
        release = asyncio.Event()
        real = storage.settings.get_overrides

        async def slow_read(guild_id: int) -> dict[str, object]:
            overrides = await real(guild_id)  # the old value, read before the write
            loaded.set()
            await release.wait()
            return overrides

        storage.settings.get_overrides = slow_read  # type: ignore[method-assign]
        reader = asyncio.create_task(service.get(1))
        await loaded.wait()
        storage.settings.get_overrides = real  # type: ignore[method-assign]
        # The write waits for the server's lock, held by the read under way...
        writer = asyncio.create_task(service.set(1, "dry_run", True))
        await asyncio.sleep(0.01)
        assert not writer.done()
        release.set()
        assert not (await reader).dry_run  # that read saw the old value...
        assert (await writer).dry_run  # ...then the write went through, and the cache with it
        assert (await service.get(1)).dry_run


async def test_another_processs_change_is_read_once_heard_or_at_the_checkpoint() -> None:
    async with await open_storage("sqlite::memory:") as storage:
        service = GuildSettingsService(storage.settings)
        assert not (await service.get(1)).dry_run
        assert not (await service.get(2)).dry_run
        # Another process writes both servers' settings: this one still serves its cache.
        await storage.settings.set_override(1, "dry_run", True)
        await storage.settings.set_override(2, "dry_run", True)
        assert not (await service.get(1)).dry_run
        service.forget(1)  # the notification for server 1
        assert (await service.get(1)).dry_run and not (await service.get(2)).dry_run
        service.forget_all()  # the periodic checkpoint (the notification for 2 was missed)
        assert (await service.get(2)).dry_run
