"""PostgreSQL leases on background jobs (schema 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base_jobs import JobLeases
from bot.storage.postgres._db import Database

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
