"""SQLite enrolments: one row per (server, member); each change commits with its audit record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base_enrolments import EnrolmentStore
from bot.storage.records import Enrolment, NewEnrolment
from bot.storage.sqlite._db import Database, from_text, now, to_text
from bot.storage.sqlite.audit import append_in

if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import AsyncIterator

_COLUMNS = (
    "guild_id, member_id, model, faces, key_id, nonce, ciphertext, notify, source, "
    "created_at, updated_at"
)
_BATCH = 1_000


def _enrolment(row: sqlite3.Row) -> Enrolment:
    return Enrolment(
        guild_id=row["guild_id"],
        member_id=row["member_id"],
        model=row["model"],
        faces=row["faces"],
        key_id=row["key_id"],
        nonce=bytes(row["nonce"]),
        ciphertext=bytes(row["ciphertext"]),
        notify=bool(row["notify"]),
        source=row["source"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


class SQLiteEnrolmentStore(EnrolmentStore):
    """Enrolments in one table; audit records go in the same BEGIN IMMEDIATE transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, enrolment: NewEnrolment, *, actor: str) -> Enrolment:
        at = to_text(now())
        async with self._db.transaction() as tx:
            old = await tx.fetchone(
                "SELECT created_at FROM enrolments WHERE guild_id = ? AND member_id = ?",
                (enrolment.guild_id, enrolment.member_id),
            )
            await tx.execute(
                f"INSERT INTO enrolments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (guild_id, member_id) DO UPDATE SET model = excluded.model,"
                " faces = excluded.faces, key_id = excluded.key_id, nonce = excluded.nonce,"
                " ciphertext = excluded.ciphertext, notify = excluded.notify,"
                " source = excluded.source, updated_at = excluded.updated_at",
                (
                    enrolment.guild_id,
                    enrolment.member_id,
                    enrolment.model,
                    enrolment.faces,
                    enrolment.key_id,
                    enrolment.nonce,
                    enrolment.ciphertext,
                    int(enrolment.notify),
                    enrolment.source,
                    at,
                    at,
                ),
            )
            await append_in(
                tx,
                guild_id=enrolment.guild_id,
                actor=actor,
                action="enrolment.replaced" if old else "enrolment.created",
                subject=f"member {enrolment.member_id}",
                details={
                    "faces": enrolment.faces,
                    "model": enrolment.model,
                    "source": enrolment.source,
                    "notify": enrolment.notify,
                },
            )
            row = await tx.fetchone(
                f"SELECT {_COLUMNS} FROM enrolments WHERE guild_id = ? AND member_id = ?",
                (enrolment.guild_id, enrolment.member_id),
            )
        assert row is not None  # written in this very transaction
        return _enrolment(row)

    async def remove(
        self, guild_id: int, member_id: int, *, actor: str, why: str, reason: str = ""
    ) -> bool:
        async with self._db.transaction() as tx:
            changed, _ = await tx.execute(
                "DELETE FROM enrolments WHERE guild_id = ? AND member_id = ?",
                (guild_id, member_id),
            )
            if changed:
                await append_in(
                    tx,
                    guild_id=guild_id,
                    actor=actor,
                    action=f"enrolment.{why}",
                    subject=f"member {member_id}",
                    details={"reason": reason} if reason else {},
                )
        return changed > 0

    async def get(self, guild_id: int, member_id: int) -> Enrolment | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM enrolments WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return None if row is None else _enrolment(row)

    async def list(self, guild_id: int) -> builtins.list[Enrolment]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM enrolments WHERE guild_id = ? ORDER BY created_at, member_id",
            (guild_id,),
        )
        return [_enrolment(r) for r in rows]

    async def iter_all(self) -> AsyncIterator[Enrolment]:
        after = (-1, -1)
        while True:
            rows = await self._db.fetchall(
                f"SELECT {_COLUMNS} FROM enrolments WHERE (guild_id, member_id) > (?, ?)"
                " ORDER BY guild_id, member_id LIMIT ?",
                (*after, _BATCH),
            )
            for row in rows:
                yield _enrolment(row)
            if len(rows) < _BATCH:
                return
            after = (int(rows[-1]["guild_id"]), int(rows[-1]["member_id"]))
