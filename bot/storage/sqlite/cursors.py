"""SQLite channel cursors: the newest message seen in each channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import CursorStore
from bot.storage.sqlite._db import Database

if TYPE_CHECKING:
    from collections.abc import Sequence

# max(): a cursor never moves back, whatever order the updates arrive in (PostgreSQL: GREATEST).
_ADVANCE = (
    "INSERT INTO channel_cursors (guild_id, channel_id, message_id) VALUES (?, ?, ?)"
    " ON CONFLICT (guild_id, channel_id)"
    " DO UPDATE SET message_id = max(message_id, excluded.message_id)"
)


class SQLiteCursorStore(CursorStore):
    """One row per (guild, channel)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def advance(self, guild_id: int, channel_id: int, message_id: int) -> None:
        await self.advance_many([(guild_id, channel_id, message_id)])

    async def advance_many(self, items: Sequence[tuple[int, int, int]]) -> None:
        if not items:
            return
        async with self._db.transaction() as tx:
            await tx.executemany(_ADVANCE, items)

    async def get(self, guild_id: int) -> dict[int, int]:
        rows = await self._db.fetchall(
            "SELECT channel_id, message_id FROM channel_cursors WHERE guild_id = ?", (guild_id,)
        )
        return {int(r["channel_id"]): int(r["message_id"]) for r in rows}

    async def forget_channel(self, channel_id: int) -> bool:
        async with self._db.transaction() as tx:
            changed, _ = await tx.execute(
                "DELETE FROM channel_cursors WHERE channel_id = ?", (channel_id,)
            )
        return changed > 0
