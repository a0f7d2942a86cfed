"""PostgreSQL leases on background jobs (schema 4)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from bot.storage.base_jobs import FORGET_PROCESSES, JobLeases, ProcessBeat
from bot.storage.postgres._db import Database, stamp, utc

if TYPE_CHECKING:
    from datetime import datetime


class PostgresJobLeases(JobLeases):
    """The ``job_leases`` table; the upsert's row lock makes each claim atomic."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, name: str, holder: str, *, until: datetime, now: datetime) -> bool:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $3)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " until = excluded.until WHERE job_leases.until < $4 OR job_leases.holder = $2"
                " RETURNING holder",
                name,
                holder,
                until,
                now,
            )
        return row is not None and row["holder"] == holder

    async def release(self, name: str, holder: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM job_leases WHERE name = $1 AND holder = $2", name, holder)

    async def beat(self, process: ProcessBeat) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO processes"
                " (holder, role, detail, version, started_at, beat_at, until)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (holder) DO UPDATE SET"
                " role = excluded.role, detail = excluded.detail, version = excluded.version,"
                " started_at = excluded.started_at, beat_at = excluded.beat_at,"
                " until = excluded.until",
                process.holder,
                process.role,
                process.detail,
                process.version,
                stamp(process.started_at),
                stamp(process.beat_at),
                stamp(process.until),
            )
            gone = stamp(process.beat_at - FORGET_PROCESSES)
            await tx.execute("DELETE FROM processes WHERE until < $1", gone)

    async def processes(
        self, now: datetime, *, role: str | None = None
    ) -> builtins.list[ProcessBeat]:
        rows = await self._db.fetch(
            "SELECT holder, role, detail, version, started_at, beat_at, until FROM processes"
            " WHERE until >= $1 AND ($2::text IS NULL OR role = $2) ORDER BY started_at, holder",
            stamp(now),
            role,
        )
        return [
            ProcessBeat(
                r["holder"],
                r["role"],
                r["detail"],
                r["version"],
                utc(r["started_at"]),
                utc(r["beat_at"]),
                utc(r["until"]),
            )
            for r in rows
        ]

    async def leave(self, holder: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM processes WHERE holder = $1", holder)
