"""Per-server settings: typed values over stored overrides, with defaults kept here in code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, fields
from typing import Any

from bot.storage import SettingsStore


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """One server's settings. Only values that differ from these defaults are stored."""

    alert_channel_id: int | None = None
    """Where alerts go. Until it is set, setup is incomplete (see ``setup_complete``)."""
    exempt_channel_ids: frozenset[int] = frozenset()
    """Channels (and their threads) that are never scanned."""
    exempt_role_ids: frozenset[int] = frozenset()
    """Members holding any of these roles are never scanned."""
    scan_bots: bool = False
    """Scan media posted by other bots."""
    scan_webhooks: bool = True
    """Scan media posted through webhooks (bridges and feeds are a common way in)."""
    alert_unscannable: bool = False
    """Alert moderators about media that could not be scanned (corrupt, unsupported, too big)."""
    setup_notice_sent: bool = False
    """The one-time "setup is missing" notice has been posted in the system channel."""
    dry_run: bool = False
    """Alert only, saying what would have happened; never delete or punish."""
    retention_days: int = 30
    """Days encrypted evidence is kept before it is purged (unless under legal hold)."""
    moderator_role_id: int | None = None
    """Members with this role may review cases, besides those with Manage Messages."""
    action_ladder: tuple[str, ...] = ()
    """What a confirmed case does to its author, by how many they have had: each step is
    ``none``, ``timeout:<minutes>``, ``kick`` or ``ban``; the last step repeats."""
    share_confirmed: bool = False
    """Take part in sharing on this instance: hashes this server's moderators confirm are
    matched in the other participating servers, and theirs here."""
    share_ignored_guild_ids: frozenset[int] = frozenset()
    """Participating servers whose confirmations this server ignores."""

    @property
    def setup_complete(self) -> bool:
        return self.alert_channel_id is not None

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any]) -> GuildSettings:
        """Build from stored overrides; unknown keys (other features' settings) are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                value = overrides[f.name]
                if f.name.endswith("_ids"):
                    value = frozenset(value)
                elif isinstance(value, list):
                    value = tuple(value)
                values[f.name] = value
        return cls(**values)


class GuildSettingsService:
    """Reads settings through a cache that every write through this service writes through.

    Each server has a lock, held by a write (store, then reload into the cache) and by a read
    that loads a missing entry, so a read racing a write can never cache the old value.
    """

    def __init__(self, store: SettingsStore) -> None:
        self._store = store
        self._cache: dict[int, GuildSettings] = {}
        # One per server the bot has settings for: bounded by the servers it is in.
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, guild_id: int) -> GuildSettings:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        async with self._lock(guild_id):
            cached = self._cache.get(guild_id)
            if cached is None:
                cached = await self._load(guild_id)
            return cached

    async def set(self, guild_id: int, key: str, value: Any) -> GuildSettings:
        """Store ``key`` (a GuildSettings field); storing the default removes the override.
        Returns the server's settings as now stored (and cached)."""
        default = getattr(GuildSettings(), key)  # AttributeError names a mistyped key
        async with self._lock(guild_id):
            try:
                await self._write(guild_id, key, value, default)
            finally:
                # Even a failed write may have landed: never keep serving the old value.
                self._cache.pop(guild_id, None)
            return await self._load(guild_id)

    def forget(self, guild_id: int) -> None:
        """Another process changed the server's settings: read them afresh next time."""
        self._cache.pop(guild_id, None)

    def forget_all(self) -> None:
        """Read every server's settings afresh next time (the checkpoint, in case another
        process's change went unheard)."""
        self._cache.clear()

    def _lock(self, guild_id: int) -> asyncio.Lock:
        return self._locks.setdefault(guild_id, asyncio.Lock())

    async def _load(self, guild_id: int) -> GuildSettings:
        loaded = GuildSettings.from_overrides(await self._store.get_overrides(guild_id))
        self._cache[guild_id] = loaded
        return loaded

    async def _write(self, guild_id: int, key: str, value: Any, default: Any) -> None:
        if value == default:
            await self._store.clear_override(guild_id, key)
        else:
            if isinstance(value, frozenset | set):
                stored: Any = sorted(value)
            elif isinstance(value, tuple):
                stored = list(value)
            else:
                stored = value
            await self._store.set_override(guild_id, key, stored)
