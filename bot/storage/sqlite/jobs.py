"""SQLite leases on background jobs (schema 16)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from bot.storage.base_jobs import FORGET_PROCESSES, JobLeases, ProcessBeat
from bot.storage.sqlite._db import Database, from_text, to_text

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

    async def beat(self, process: ProcessBeat) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT OR REPLACE INTO processes"
                " (holder, role, detail, version, started_at, beat_at, until)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    process.holder,
                    process.role,
                    process.detail,
                    process.version,
                    to_text(process.started_at),
                    to_text(process.beat_at),
                    to_text(process.until),
                ),
            )
            gone = to_text(process.beat_at - FORGET_PROCESSES)
            await tx.execute("DELETE FROM processes WHERE until < ?", (gone,))

    async def processes(
        self, now: datetime, *, role: str | None = None
    ) -> builtins.list[ProcessBeat]:
        rows = await self._db.fetchall(
            "SELECT holder, role, detail, version, started_at, beat_at, until FROM processes"
            " WHERE until >= ? AND (? IS NULL OR role = ?) ORDER BY started_at, holder",
            (to_text(now), role, role),
        )
        return [
            ProcessBeat(r[0], r[1], r[2], r[3], from_text(r[4]), from_text(r[5]), from_text(r[6]))
            for r in rows
        ]

    async def leave(self, holder: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM processes WHERE holder = ?", (holder,))
