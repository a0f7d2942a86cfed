"""PostgreSQL registrations of members' own media."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.blocklist import NewEntry
from bot.storage.base_own_media import OWN_MEDIA_SOURCE, OwnMediaStore
from bot.storage.postgres._db import Database, now
from bot.storage.postgres.audit import append_in
from bot.storage.postgres.blocklist import ENTRY_COLUMNS, add_in, delete_in, row_entry

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence

    from bot.core.blocklist import Algorithm, BlocklistEntry

REASON = "registered by a protected member"


class PostgresOwnMediaStore(OwnMediaStore):
    """The ``own_media`` table beside the blocklist."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(
        self, guild_id: int, user_id: int, hashes: Sequence[tuple[Algorithm, str]]
    ) -> tuple[int, int]:
        entries = [
            NewEntry(a, v, guild_id, OWN_MEDIA_SOURCE, REASON, OWN_MEDIA_SOURCE) for a, v in hashes
        ]
        at = now()
        fresh = 0
        async with self._db.transaction() as tx:
            # add_in holds the blocklist lock from here on: no withdrawal can delete the
            # entries between their lookup and their registration below.
            await add_in(tx, entries)
            for entry in entries:
                row = await tx.fetchrow(
                    "SELECT id FROM blocklist WHERE algorithm = $1 AND value = $2"
                    " AND guild_id = $3 AND source = $4 AND NOT allow",
                    entry.algorithm.value,
                    entry.value,
                    guild_id,
                    OWN_MEDIA_SOURCE,
                )
                assert row is not None  # added just above, or there already
                fresh += await tx.execute(
                    "INSERT INTO own_media (guild_id, user_id, entry_id, created_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    guild_id,
                    user_id,
                    int(row[0]),
                    at,
                )
            await append_in(
                tx,
                guild_id=guild_id,
                actor=f"user:{user_id}",
                action="member.media_registered",
                subject="own media",
                details={"hashes": len(entries), "new": fresh},
            )
        return fresh, len(entries) - fresh

    async def listing(self, guild_id: int, user_id: int) -> builtins.list[BlocklistEntry]:
        columns = ", ".join(f"b.{c.strip()}" for c in ENTRY_COLUMNS.split(","))
        rows = await self._db.fetch(
            f"SELECT {columns} FROM own_media o JOIN blocklist b ON b.id = o.entry_id"
            " WHERE o.guild_id = $1 AND o.user_id = $2 ORDER BY b.id",
            guild_id,
            user_id,
        )
        return [row_entry(r) for r in rows]

    async def withdraw(self, guild_id: int, user_id: int, *, actor: str) -> int:
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "DELETE FROM own_media WHERE guild_id = $1 AND user_id = $2 RETURNING entry_id",
                guild_id,
                user_id,
            )
            ids = sorted(int(r[0]) for r in rows)
            for entry_id in ids:
                await delete_in(
                    tx,
                    "id = $1 AND NOT EXISTS (SELECT 1 FROM own_media o WHERE o.entry_id = $1)",
                    (entry_id,),
                )
            if ids:
                await append_in(
                    tx,
                    guild_id=guild_id,
                    actor=actor,
                    action="member.media_withdrawn",
                    subject="own media",
                    details={"registrations": len(ids)},
                )
        return len(ids)

    async def counts(self, guild_id: int) -> tuple[int, int]:
        row = await self._db.fetchrow(
            "SELECT count(DISTINCT user_id), count(DISTINCT entry_id) FROM own_media"
            " WHERE guild_id = $1",
            guild_id,
        )
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)
