"""PostgreSQL reviews of shared entries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage import rows
from bot.storage.base_reviews import Feedback, Opinion, ReviewStore
from bot.storage.postgres._db import Database, now, utc
from bot.storage.postgres.audit import append_in

if TYPE_CHECKING:
    import builtins

    from bot.core.blocklist import BlocklistEntry

INSTANCE = 0
"""``guild_id`` of an instance-wide review (Discord ids are never 0)."""

_FEEDBACK_COLUMNS = "entry_id, guild_id, source, algorithm, value, opinion, note, at"


class PostgresReviewStore(ReviewStore):
    """The ``entry_reviews`` and ``entry_feedback`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, entry: BlocklistEntry, reason: str) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "INSERT INTO entry_reviews (entry_id, guild_id, state, reason, at)"
                " VALUES ($1, $2, 'held', $3, $4) ON CONFLICT DO NOTHING",
                entry.id,
                INSTANCE,
                reason[:500],
                now(),
            )
            if changed:
                await append_in(
                    tx,
                    guild_id=entry.guild_id,
                    actor="consentry",
                    action="entry.held",
                    subject=f"entry {entry.id}",
                    details={"source": entry.source, "reason": reason},
                )
        return changed > 0

    async def review(
        self, entry: BlocklistEntry, guild_id: int, opinion: Opinion, *, actor: str, note: str
    ) -> None:
        at = now()
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO entry_reviews (entry_id, guild_id, state, reason, at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (entry_id, guild_id) DO UPDATE SET"
                " state = excluded.state, reason = excluded.reason, at = excluded.at",
                entry.id,
                guild_id,
                opinion,
                note[:500],
                at,
            )
            await tx.execute(
                "INSERT INTO entry_feedback (entry_id, guild_id, source, algorithm, value,"
                " opinion, note, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                entry.id,
                guild_id,
                entry.source,
                entry.algorithm.value,
                entry.value,
                opinion,
                note[:500],
                actor,
                at,
            )
            await append_in(
                tx,
                guild_id=guild_id,
                actor=actor,
                action=f"entry.{opinion}",
                subject=f"entry {entry.id}",
                details={"source": entry.source, "note": note},
            )

    async def state(self, entry_id: int, guild_id: int | None) -> tuple[str, str] | None:
        rows = await self._db.fetch(
            "SELECT guild_id, state, reason FROM entry_reviews WHERE entry_id = $1"
            " AND guild_id IN ($2, $3)",
            entry_id,
            INSTANCE,
            guild_id or INSTANCE,
        )
        mine = {int(r["guild_id"]): (str(r["state"]), str(r["reason"])) for r in rows}
        if guild_id is not None and guild_id in mine:
            return mine[guild_id]
        return mine.get(INSTANCE)

    async def feedback(self, source: str | None = None) -> builtins.list[Feedback]:
        where, params = ("WHERE source = $1", (source,)) if source is not None else ("", ())
        rows = await self._db.fetch(
            f"SELECT {_FEEDBACK_COLUMNS} FROM entry_feedback {where} ORDER BY id", *params
        )
        return [_feedback(r) for r in rows]


def _feedback(row: Any) -> Feedback:
    return rows.feedback(row, utc)
