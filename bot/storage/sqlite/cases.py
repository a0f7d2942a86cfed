"""SQLite moderation cases and their timelines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.storage.base_cases import CaseStore, TransitionRefused
from bot.storage.records import Case, CaseEvent, CaseStatus, CopyWork, Effects, NewCase
from bot.storage.sqlite._db import Database, Params, Transaction, from_text, now, to_text
from bot.storage.sqlite.audit import append_in
from bot.storage.sqlite.blocklist import add_in
from bot.storage.sqlite.evidence import put_in
from bot.storage.sqlite.work import act_in

if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import Callable, Collection, Sequence

    from bot.core.blocklist import NewEntry
    from bot.storage.records import NewEvidence

_COLUMNS = (
    "id, guild_id, channel_id, message_id, author_id, sha256, action, verdict, status,"
    " created_at, updated_at, media, legal_hold, alert_channel_id, alert_message_id"
)
_SELECT = f"SELECT {_COLUMNS} FROM cases"
_EVENT_COLUMNS = "id, case_id, at, actor, status, previous, note"
HOLD_PLACED = "legal hold placed"
HOLD_LIFTED = "legal hold lifted"


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
        media=json.loads(row["media"]),
        legal_hold=bool(row["legal_hold"]),
        alert_channel_id=row["alert_channel_id"],
        alert_message_id=row["alert_message_id"],
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


def _json(value: object) -> str:
    # allow_nan=False: NaN is not JSON, and PostgreSQL's jsonb would refuse it.
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _filter(guild_id: int, author_id: int | None, status: CaseStatus | None) -> tuple[str, Params]:
    where = "guild_id = ?"
    params: Params = (guild_id,)
    if author_id is not None:
        where += " AND author_id = ?"
        params += (author_id,)
    if status is not None:
        where += " AND status = ?"
        params += (status.value,)
    return where, params


class SQLiteCaseStore(CaseStore):
    """Cases in one table, their events in another (cascade-deleted with the case)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def open(
        self,
        new: NewCase,
        *,
        actor: str = "consentry",
        seal: Callable[[int], Sequence[NewEvidence]] | None = None,
        audit: tuple[str, dict[str, Any]] | None = None,
        work: Effects | None = None,
    ) -> Case:
        verdict, media = _json(new.verdict), _json(new.media)
        at = to_text(now())
        async with self._db.transaction() as tx:
            _, case_id = await tx.execute(
                f"INSERT INTO cases ({_COLUMNS})"
                " VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL)",
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
                    media,
                ),
            )
            assert case_id is not None  # an INSERT into a rowid table always sets it
            await _record(tx, case_id, at, actor, CaseStatus.OPEN, None, "")
            if seal is not None:
                await put_in(tx, case_id, seal(case_id))
            if audit is not None:
                action, details = audit
                await append_in(
                    tx,
                    guild_id=new.guild_id,
                    actor="consentry",
                    action=action,
                    subject=f"case {case_id}",
                    details=details,
                )
            if work is not None:
                await act_in(
                    tx,
                    guild_id=new.guild_id,
                    channel_id=new.channel_id,
                    message_id=new.message_id,
                    case_id=case_id,
                    effects=work,
                )
            row = await tx.fetchone(f"{_SELECT} WHERE id = ?", (case_id,))
        assert row is not None
        return _case(row)

    async def get(self, case_id: int) -> Case | None:
        row = await self._db.fetchone(f"{_SELECT} WHERE id = ?", (case_id,))
        return None if row is None else _case(row)

    async def list(
        self, guild_id: int, *, status: CaseStatus | None = None, limit: int = 25, offset: int = 0
    ) -> builtins.list[Case]:
        return await self._page(*_filter(guild_id, None, status), limit, offset)

    async def count(self, guild_id: int, *, status: CaseStatus | None = None) -> int:
        return await self._count(*_filter(guild_id, None, status))

    async def find_by_message(self, guild_id: int, message_id: int) -> Case | None:
        row = await self._db.fetchone(
            f"{_SELECT} WHERE guild_id = ? AND message_id = ? ORDER BY id DESC LIMIT 1",
            (guild_id, message_id),
        )
        return None if row is None else _case(row)

    async def list_by_author(
        self, guild_id: int, author_id: int, *, limit: int = 100
    ) -> builtins.list[Case]:
        return await self._page(*_filter(guild_id, author_id, None), limit, 0)

    async def count_by_author(
        self, guild_id: int, author_id: int, *, status: CaseStatus | None = None
    ) -> int:
        return await self._count(*_filter(guild_id, author_id, status))

    async def _page(
        self, where: str, params: Params, limit: int, offset: int
    ) -> builtins.list[Case]:
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit} and {offset}")
        rows = await self._db.fetchall(
            f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?", (*params, limit, offset)
        )
        return [_case(r) for r in rows]

    async def _count(self, where: str, params: Params) -> int:
        row = await self._db.fetchone(f"SELECT count(*) FROM cases WHERE {where}", params)
        return int(row[0]) if row is not None else 0

    async def transition(
        self,
        case_id: int,
        *,
        expected: Collection[CaseStatus],
        status: CaseStatus,
        actor: str,
        note: str = "",
        entries: Sequence[NewEntry] = (),
        audit: tuple[str, dict[str, Any]] | None = None,
        work: CopyWork | None = None,
    ) -> Case | None:
        at = to_text(now())
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT guild_id, status FROM cases WHERE id = ?", (case_id,))
            if row is None:
                return None
            previous = CaseStatus(row["status"])
            if previous not in expected:
                raise TransitionRefused(case_id, previous)
            await tx.execute(
                "UPDATE cases SET status = ?, updated_at = ? WHERE id = ?",
                (status.value, at, case_id),
            )
            await _record(tx, case_id, at, actor, status, previous, note)
            await add_in(tx, entries)
            if work is not None:
                await _join_in(tx, row["guild_id"], case_id, work)
            if audit is not None:
                action, details = audit
                await append_in(
                    tx,
                    guild_id=row["guild_id"],
                    actor=actor,
                    action=action,
                    subject=f"case {case_id}",
                    details=details,
                )
            updated = await tx.fetchone(f"{_SELECT} WHERE id = ?", (case_id,))
        assert updated is not None
        return _case(updated)

    async def set_legal_hold(self, case_id: int, hold: bool, *, actor: str) -> Case | None:
        at = to_text(now())
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT status FROM cases WHERE id = ?", (case_id,))
            if row is None:
                return None
            status = CaseStatus(row["status"])
            await tx.execute(
                "UPDATE cases SET legal_hold = ?, updated_at = ? WHERE id = ?",
                (int(hold), at, case_id),
            )
            note = HOLD_PLACED if hold else HOLD_LIFTED
            await _record(tx, case_id, at, actor, status, status, note)
            updated = await tx.fetchone(f"{_SELECT} WHERE id = ?", (case_id,))
        assert updated is not None
        return _case(updated)

    async def add_note(
        self, case_id: int, *, actor: str, note: str, work: CopyWork | None = None
    ) -> CaseEvent | None:
        at = to_text(now())
        async with self._db.transaction() as tx:
            row = await tx.fetchone("SELECT guild_id, status FROM cases WHERE id = ?", (case_id,))
            if row is None:
                return None
            status = CaseStatus(row["status"])
            if work is not None:
                await _join_in(tx, row["guild_id"], case_id, work)
            await tx.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (at, case_id))
            event_id = await _record(tx, case_id, at, actor, status, status, note)
            event = await tx.fetchone(
                f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE id = ?", (event_id,)
            )
        assert event is not None
        return _event(event)

    async def attach_alert(self, case_id: int, channel_id: int, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE cases SET alert_channel_id = ?, alert_message_id = ? WHERE id = ?",
                (channel_id, message_id, case_id),
            )

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
) -> int:
    """Append one event to a case's timeline; return its id."""
    _, event_id = await tx.execute(
        f"INSERT INTO case_events ({_EVENT_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?)",
        (case_id, at, actor, status.value, None if previous is None else previous.value, note),
    )
    assert event_id is not None
    return event_id


async def _join_in(tx: Transaction, guild_id: int, case_id: int, work: CopyWork) -> None:
    """Another message's work record joins case ``case_id`` with the effects due on it."""
    await act_in(
        tx,
        guild_id=guild_id,
        channel_id=work.channel_id,
        message_id=work.message_id,
        case_id=case_id,
        effects=work.effects,
    )
