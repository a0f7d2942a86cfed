"""SQLite leases on background jobs (schema 16)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base_jobs import JobLeases
from bot.storage.sqlite._db import Database, to_text

if TYPE_CHECKING:
    from datetime import datetime


class SQLiteJobLeases(JobLeases):
    """The ``job_leases`` table; the write lock makes each claim atomic."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, name: str, holder: str, *, until: datetime, now: datetime) -> bool:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO job_leases (name, holder, until) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " until = excluded.until WHERE job_leases.until < ? OR job_leases.holder = ?",
                (name, holder, to_text(until), to_text(now), holder),
            )
            row = await tx.fetchone("SELECT holder FROM job_leases WHERE name = ?", (name,))
        return row is not None and row[0] == holder

    async def release(self, name: str, holder: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM job_leases WHERE name = ? AND holder = ?", (name, holder))
