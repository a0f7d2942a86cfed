"""PostgreSQL per-server settings overrides."""

from __future__ import annotations

import json
from typing import Any

from bot.storage.base import SettingsStore
from bot.storage.postgres._db import Database, now
from bot.storage.postgres.notify import notify


class PostgresSettingsStore(SettingsStore):
    """Overrides as JSON text, one row per (guild, key)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_overrides(self, guild_id: int) -> dict[str, Any]:
        rows = await self._db.fetch(
            "SELECT key, value FROM guild_settings WHERE guild_id = $1 ORDER BY key", guild_id
        )
        return {row["key"]: json.loads(row["value"]) for row in rows}

    async def set_override(self, guild_id: int, key: str, value: Any) -> None:
        if not key:
            raise ValueError("a setting key must not be empty")
        # allow_nan=False: NaN is not JSON (and the SQLite backend refuses it too).
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        async with self._db.transaction() as tx:
            await notify(tx, f"settings:{guild_id}")
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, key, value, updated_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id, key)"
                " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                guild_id,
                key,
                text,
                now(),
            )

    async def clear_override(self, guild_id: int, key: str) -> bool:
        async with self._db.transaction() as tx:
            await notify(tx, f"settings:{guild_id}")
            changed = await tx.execute(
                "DELETE FROM guild_settings WHERE guild_id = $1 AND key = $2", guild_id, key
            )
        return changed > 0

    async def clear_all(self, guild_id: int) -> int:
        async with self._db.transaction() as tx:
            await notify(tx, f"settings:{guild_id}")
            return await tx.execute("DELETE FROM guild_settings WHERE guild_id = $1", guild_id)
