"""SQLite moderation cases and their timelines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot.storage.base import CaseStore
from bot.storage.records import Case, CaseEvent, CaseStatus, NewCase
from bot.storage.sqlite._db import Database, Params, Transaction, from_text, now, to_text

if TYPE_CHECKING:
    import builtins
    import sqlite3

_COLUMNS = (
    "id, guild_id, channel_id, message_id, author_id, sha256, action, verdict, status,"
    " created_at, updated_at"
)
_EVENT_COLUMNS = "id, case_id, at, actor, status, previous, note"


def _case(row: sqlite3.Row) -> Case:
    return Case(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        author_id=row["author_id"],
        sha256=row["sha256"],
        action=row["action"],
        verdict=json.loads(row["verdict"]),
        status=CaseStatus(row["status"]),
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
    )


def _event(row: sqlite3.Row) -> CaseEvent:
    previous = row["previous"]
    return CaseEvent(
        id=row["id"],
        case_id=row["case_id"],
        at=from_text(row["at"]),
        actor=row["actor"],
        status=CaseStatus(row["status"]),
        previous=None if previous is None else CaseStatus(previous),
        note=row["note"],
    )


class SQLiteCaseStore(CaseStore):
    """Cases in one table, their events in another (cascade-deleted with the case)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(self, new: NewCase, *, actor: str = "consentry") -> Case:
        verdict = json.dumps(new.verdict, allow_nan=False, ensure_ascii=False)
        at = to_text(now())
        async with self._db.transaction() as tx:
            _, case_id = await tx.execute(
                f"INSERT INTO cases ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.guild_id,
                    new.channel_id,
                    new.message_id,
                    new.author_id,
                    new.sha256,
                    new.action,
                    verdict,
                    CaseStatus.OPEN.value,
                    at,
                    at,
                ),
            )
            assert case_id is not None  # an INSERT into a rowid table always sets it
            await _record(tx, case_id, at, actor, CaseStatus.OPEN, None, "")
            row = await tx.fetchone(f"SELECT {_COLUMNS} FROM cases WHERE id = ?", (case_id,))
        assert row is not None
        return _case(row)

    async def get(self, case_id: int) -> Case | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM cases WHERE id = ?", (case_id,))
        return None if row is None else _case(row)

    async def list(
        self, guild_id: int, *, status: CaseStatus | None = None, limit: int = 25, offset: int = 0
    ) -> builtins.list[Case]:
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit} and {offset}")
        where = "guild_id = ?"
        params: Params = (guild_id,)
        if status is not None:
            where += " AND status = ?"
            params += (status.value,)
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM cases WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_case(r) for r in rows]

    async def set_status(
        self, case_id: int, status: CaseStatus, *, actor: str, note: str = ""
    ) -> Case | None:
        at = to_text(now())
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT status FROM cases WHERE id = ?", (case_id,))
            if row is None:
                return None
            previous = CaseStatus(row["status"])
            await tx.execute(
                "UPDATE cases SET status = ?, updated_at = ? WHERE id = ?",
                (status.value, at, case_id),
            )
            await _record(tx, case_id, at, actor, status, previous, note)
            updated = await tx.fetchone(f"SELECT {_COLUMNS} FROM cases WHERE id = ?", (case_id,))
        assert updated is not None
        return _case(updated)

    async def events(self, case_id: int) -> builtins.list[CaseEvent]:
        rows = await self._db.fetchall(
            f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE case_id = ? ORDER BY id", (case_id,)
        )
        return [_event(r) for r in rows]


async def _record(
    tx: Transaction,
    case_id: int,
    at: str,
    actor: str,
    status: CaseStatus,
    previous: CaseStatus | None,
    note: str,
) -> None:
    await tx.execute(
        f"INSERT INTO case_events ({_EVENT_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?)",
        (case_id, at, actor, status.value, None if previous is None else previous.value, note),
    )
