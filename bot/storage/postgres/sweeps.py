"""PostgreSQL sweeps under way: one row per server."""

from __future__ import annotations

from typing import Any

from bot.storage.base_sweeps import SweepRecord, SweepStore
from bot.storage.postgres._db import Database, now
from bot.storage.postgres.audit import append_in


class PostgresSweepStore(SweepStore):
    """The ``sweeps`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def begin(self, sweep: SweepRecord, *, actor: str) -> bool:
        at = now()
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "INSERT INTO sweeps (guild_id, started_by, channel_ids, per_channel, reason,"
                " oldest_id, started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
                " ON CONFLICT DO NOTHING",
                sweep.guild_id,
                sweep.started_by,
                list(sweep.channel_ids),
                sweep.per_channel,
                sweep.reason,
                sweep.oldest_id,
                at,
            )
            if not changed:
                return False
            await append_in(
                tx,
                guild_id=sweep.guild_id,
                actor=actor,
                action="sweep.started",
                subject=f"guild {sweep.guild_id}",
                details={
                    "channels": list(sweep.channel_ids),
                    "per_channel": sweep.per_channel,
                    **({"reason": sweep.reason} if sweep.reason else {}),
                },
            )
        return True

    async def save(self, sweep: SweepRecord) -> None:
        notice = sweep.notice or (None, None)
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE sweeps SET channel_index = $2, before_id = $3, taken = $4, scanned = $5,"
                " acted = $6, notice_channel_id = $7, notice_message_id = $8, updated_at = $9"
                " WHERE guild_id = $1",
                sweep.guild_id,
                sweep.channel_index,
                sweep.before_id,
                sweep.taken,
                sweep.scanned,
                sweep.acted,
                *notice,
                now(),
            )

    async def end(self, sweep: SweepRecord, state: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM sweeps WHERE guild_id = $1", sweep.guild_id)
            await append_in(
                tx,
                guild_id=sweep.guild_id,
                actor="consentry",
                action="sweep.finished",
                subject=f"guild {sweep.guild_id}",
                details={"state": state, "scanned": sweep.scanned, "cases": sweep.acted},
            )

    async def under_way(self) -> list[SweepRecord]:
        rows = await self._db.fetch("SELECT * FROM sweeps ORDER BY started_at, guild_id")
        return [_record(row) for row in rows]


def _record(row: Any) -> SweepRecord:
    channel, message = row["notice_channel_id"], row["notice_message_id"]
    return SweepRecord(
        guild_id=int(row["guild_id"]),
        started_by=int(row["started_by"]),
        channel_ids=tuple(int(c) for c in row["channel_ids"]),
        per_channel=int(row["per_channel"]),
        notice=(int(channel), int(message)) if channel is not None else None,
        channel_index=int(row["channel_index"]),
        before_id=int(row["before_id"]),
        taken=int(row["taken"]),
        scanned=int(row["scanned"]),
        acted=int(row["acted"]),
        reason=row["reason"],
        oldest_id=int(row["oldest_id"]),
    )
