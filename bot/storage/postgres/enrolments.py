"""PostgreSQL enrolments: one row per (server, member); each change commits with its audit
record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base_enrolments import EnrolmentStore
from bot.storage.postgres._db import Database, Row, now, utc
from bot.storage.postgres.audit import append_in
from bot.storage.postgres.notify import notify
from bot.storage.records import Enrolment, NewEnrolment

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator

_COLUMNS = (
    "guild_id, member_id, model, faces, key_id, nonce, ciphertext, notify, source, "
    "created_at, updated_at"
)
_BATCH = 1_000


def _enrolment(row: Row) -> Enrolment:
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
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


class PostgresEnrolmentStore(EnrolmentStore):
    """Enrolments in one table; audit records go in the same transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, enrolment: NewEnrolment, *, actor: str) -> Enrolment:
        at = now()
        async with self._db.transaction() as tx:
            # xmax = 0 only for a freshly inserted row: whether this replaced an enrolment,
            # decided by the same statement that wrote it (no race with a concurrent put).
            row = await tx.fetchrow(
                f"INSERT INTO enrolments ({_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
                " ON CONFLICT (guild_id, member_id) DO UPDATE SET model = excluded.model,"
                " faces = excluded.faces, key_id = excluded.key_id, nonce = excluded.nonce,"
                " ciphertext = excluded.ciphertext, notify = excluded.notify,"
                " source = excluded.source, updated_at = excluded.updated_at"
                f" RETURNING {_COLUMNS}, (xmax <> 0) AS replaced",
                enrolment.guild_id,
                enrolment.member_id,
                enrolment.model,
                enrolment.faces,
                enrolment.key_id,
                bytes(enrolment.nonce),
                bytes(enrolment.ciphertext),
                enrolment.notify,
                enrolment.source,
                at,
            )
            assert row is not None  # INSERT ... RETURNING always returns the row
            await append_in(
                tx,
                guild_id=enrolment.guild_id,
                actor=actor,
                action="enrolment.replaced" if row["replaced"] else "enrolment.created",
                subject=f"member {enrolment.member_id}",
                details={
                    "faces": enrolment.faces,
                    "model": enrolment.model,
                    "source": enrolment.source,
                    "notify": enrolment.notify,
                },
            )
            await notify(tx, f"enrolment:{enrolment.guild_id}:{enrolment.member_id}")
        return _enrolment(row)

    async def remove(
        self, guild_id: int, member_id: int, *, actor: str, why: str, reason: str = ""
    ) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "DELETE FROM enrolments WHERE guild_id = $1 AND member_id = $2",
                guild_id,
                member_id,
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
                await notify(tx, f"enrolment:{guild_id}:{member_id}")
        return changed > 0

    async def get(self, guild_id: int, member_id: int) -> Enrolment | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM enrolments WHERE guild_id = $1 AND member_id = $2",
            guild_id,
            member_id,
        )
        return None if row is None else _enrolment(row)

    async def list(self, guild_id: int) -> builtins.list[Enrolment]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM enrolments WHERE guild_id = $1 ORDER BY created_at, member_id",
            guild_id,
        )
        return [_enrolment(r) for r in rows]

    async def iter_all(self) -> AsyncIterator[Enrolment]:
        after = (-1, -1)
        while True:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM enrolments WHERE (guild_id, member_id) > ($1, $2)"
                " ORDER BY guild_id, member_id LIMIT $3",
                *after,
                _BATCH,
            )
            for row in rows:
                yield _enrolment(row)
            if len(rows) < _BATCH:
                return
            after = (int(rows[-1]["guild_id"]), int(rows[-1]["member_id"]))
