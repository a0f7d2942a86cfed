"""PostgreSQL channel cursors: the newest message seen in each channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import CursorStore
from bot.storage.postgres._db import Database

if TYPE_CHECKING:
    from collections.abc import Sequence

# GREATEST: a cursor never moves back, whatever order the updates arrive in.
_ADVANCE = (
    "INSERT INTO channel_cursors (guild_id, channel_id, message_id) VALUES ($1, $2, $3)"
    " ON CONFLICT (guild_id, channel_id)"
    " DO UPDATE SET message_id = GREATEST(channel_cursors.message_id, excluded.message_id)"
)


class PostgresCursorStore(CursorStore):
    """One row per (guild, channel)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def advance(self, guild_id: int, channel_id: int, message_id: int) -> None:
        await self.advance_many([(guild_id, channel_id, message_id)])

    async def advance_many(self, items: Sequence[tuple[int, int, int]]) -> None:
        if not items:
            return
        # Sorted, so two batches touching the same channels lock their rows in one order and
        # never deadlock each other.
        async with self._db.transaction() as tx:
            await tx.executemany(_ADVANCE, sorted(items, key=lambda i: (i[0], i[1])))

    async def get(self, guild_id: int) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT channel_id, message_id FROM channel_cursors WHERE guild_id = $1", guild_id
        )
        return {int(r["channel_id"]): int(r["message_id"]) for r in rows}

    async def forget_channel(self, channel_id: int) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM channel_cursors WHERE channel_id = $1", channel_id
            )
        return changed > 0
