"""PostgreSQL moderation cases and their timelines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.storage.base_cases import CaseStore, TransitionRefused
from bot.storage.postgres._db import Database, Params, Row, Transaction, now, utc
from bot.storage.postgres.audit import append_in
from bot.storage.postgres.blocklist import add_in
from bot.storage.postgres.evidence import put_in
from bot.storage.postgres.notify import notify
from bot.storage.postgres.work import act_in
from bot.storage.records import Case, CaseEvent, CaseStatus, CopyWork, Effects, NewCase

if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Collection, Sequence
    from datetime import datetime

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


def _case(row: Row) -> Case:
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
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        media=json.loads(row["media"]),
        legal_hold=bool(row["legal_hold"]),
        alert_channel_id=row["alert_channel_id"],
        alert_message_id=row["alert_message_id"],
    )


def _event(row: Row) -> CaseEvent:
    previous = row["previous"]
    return CaseEvent(
        id=row["id"],
        case_id=row["case_id"],
        at=utc(row["at"]),
        actor=row["actor"],
        status=CaseStatus(row["status"]),
        previous=None if previous is None else CaseStatus(previous),
        note=row["note"],
    )


def _json(value: object) -> str:
    # allow_nan=False: NaN is not JSON (and the SQLite backend refuses it too).
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _filter(guild_id: int, author_id: int | None, status: CaseStatus | None) -> tuple[str, Params]:
    where = "guild_id = $1"
    params: Params = (guild_id,)
    if author_id is not None:
        params += (author_id,)
        where += f" AND author_id = ${len(params)}"
    if status is not None:
        params += (status.value,)
        where += f" AND status = ${len(params)}"
    return where, params


class PostgresCaseStore(CaseStore):
    """Cases in one table, their events in another (cascade-deleted with the case). A case's
    row is locked (``FOR UPDATE``) by every change, so concurrent decisions are checked one
    after the other, as SQLite's single writer checks them."""

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
        at = now()
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO cases (guild_id, channel_id, message_id, author_id, sha256, action,"
                " verdict, status, created_at, updated_at, media)"
                f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING {_COLUMNS}",
                new.guild_id,
                new.channel_id,
                new.message_id,
                new.author_id,
                new.sha256,
                new.action,
                verdict,
                CaseStatus.OPEN.value,
                at,
                media,
            )
            assert row is not None  # INSERT ... RETURNING always returns the row
            case_id = int(row["id"])
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
        return _case(row)

    async def get(self, case_id: int) -> Case | None:
        row = await self._db.fetchrow(f"{_SELECT} WHERE id = $1", case_id)
        return None if row is None else _case(row)

    async def list(
        self, guild_id: int, *, status: CaseStatus | None = None, limit: int = 25, offset: int = 0
    ) -> builtins.list[Case]:
        return await self._page(*_filter(guild_id, None, status), limit, offset)

    async def count(self, guild_id: int, *, status: CaseStatus | None = None) -> int:
        return await self._count(*_filter(guild_id, None, status))

    async def find_by_message(self, guild_id: int, message_id: int) -> Case | None:
        row = await self._db.fetchrow(
            f"{_SELECT} WHERE guild_id = $1 AND message_id = $2 ORDER BY id DESC LIMIT 1",
            guild_id,
            message_id,
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
        n = len(params)
        rows = await self._db.fetch(
            f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
            *params,
            limit,
            offset,
        )
        return [_case(r) for r in rows]

    async def _count(self, where: str, params: Params) -> int:
        row = await self._db.fetchrow(f"SELECT count(*) FROM cases WHERE {where}", *params)
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
        async with self._db.transaction() as tx:
            row = await _locked(tx, case_id)
            if row is None:
                return None
            at = now()
            previous = CaseStatus(row["status"])
            if previous not in expected:
                raise TransitionRefused(case_id, previous)
            await tx.execute(
                "UPDATE cases SET status = $1, updated_at = $2 WHERE id = $3",
                status.value,
                at,
                case_id,
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
            updated = await tx.fetchrow(f"{_SELECT} WHERE id = $1", case_id)
            await notify(tx, f"case:{case_id}")  # other processes' copies of it are stale now
        assert updated is not None
        return _case(updated)

    async def set_legal_hold(self, case_id: int, hold: bool, *, actor: str) -> Case | None:
        async with self._db.transaction() as tx:
            row = await _locked(tx, case_id)
            if row is None:
                return None
            at = now()
            status = CaseStatus(row["status"])
            updated = await tx.fetchrow(
                f"UPDATE cases SET legal_hold = $1, updated_at = $2 WHERE id = $3"
                f" RETURNING {_COLUMNS}",
                hold,
                at,
                case_id,
            )
            note = HOLD_PLACED if hold else HOLD_LIFTED
            await _record(tx, case_id, at, actor, status, status, note)
        assert updated is not None
        return _case(updated)

    async def add_note(
        self, case_id: int, *, actor: str, note: str, work: CopyWork | None = None
    ) -> CaseEvent | None:
        async with self._db.transaction() as tx:
            row = await _locked(tx, case_id)
            if row is None:
                return None
            at = now()
            status = CaseStatus(row["status"])
            if work is not None:
                await _join_in(tx, row["guild_id"], case_id, work)
            await tx.execute("UPDATE cases SET updated_at = $1 WHERE id = $2", at, case_id)
            event_id = await _record(tx, case_id, at, actor, status, status, note)
            event = await tx.fetchrow(
                f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE id = $1", event_id
            )
        assert event is not None
        return _event(event)

    async def attach_alert(self, case_id: int, channel_id: int, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE cases SET alert_channel_id = $1, alert_message_id = $2 WHERE id = $3",
                channel_id,
                message_id,
                case_id,
            )

    async def events(self, case_id: int) -> builtins.list[CaseEvent]:
        rows = await self._db.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY id", case_id
        )
        return [_event(r) for r in rows]


async def _locked(tx: Transaction, case_id: int) -> Row | None:
    """A case's guild and status, its row locked until ``tx`` ends (a concurrent decision
    waits, then sees this one's outcome)."""
    return await tx.fetchrow("SELECT guild_id, status FROM cases WHERE id = $1 FOR UPDATE", case_id)


async def _record(
    tx: Transaction,
    case_id: int,
    at: datetime,
    actor: str,
    status: CaseStatus,
    previous: CaseStatus | None,
    note: str,
) -> int:
    """Append one event to a case's timeline; return its id."""
    row = await tx.fetchrow(
        "INSERT INTO case_events (case_id, at, actor, status, previous, note)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        case_id,
        at,
        actor,
        status.value,
        None if previous is None else previous.value,
        note,
    )
    assert row is not None
    return int(row[0])


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
