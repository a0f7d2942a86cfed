"""SQLite durable record of work per message."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.storage.base_work import EFFECT_LEASE, EFFECTS, Shards, WorkStore
from bot.storage.records import Effects, WorkItem, WorkState
from bot.storage.sqlite._db import Database, Transaction, from_text, now, to_text
from bot.storage.sqlite.audit import append_in

if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import Sequence
    from datetime import datetime

    from bot.storage.records import NewWork

_COLUMNS = (
    "guild_id, channel_id, message_id, state, media, case_id, delete_due, alert_due, attempts,"
    " next_at, error, created_at, updated_at, ladder, repost_due, handoff"
)
_UNFINISHED = "state IN ('scan', 'act')"


def _item(row: sqlite3.Row) -> WorkItem:
    return WorkItem(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        state=WorkState(row["state"]),
        media=tuple(json.loads(row["media"])),
        case_id=row["case_id"],
        delete_due=bool(row["delete_due"]),
        alert_due=bool(row["alert_due"]),
        ladder_due=row["ladder"],
        repost_due=bool(row["repost_due"]),
        attempts=row["attempts"],
        next_at=from_text(row["next_at"]),
        error=row["error"],
        created_at=from_text(row["created_at"]),
        updated_at=from_text(row["updated_at"]),
        handoff=row["handoff"],
    )


async def act_in(
    tx: Transaction,
    *,
    guild_id: int,
    channel_id: int,
    message_id: int,
    case_id: int,
    effects: Effects,
) -> None:
    """Inside a case transaction: the message is decided, its case is ``case_id``, and
    ``effects`` are due (a record is created if the message was never recorded: a report).
    The caller carries them out at once, which counts as their first try; the lease keeps the
    backlog away meanwhile."""
    at = to_text(now())
    due = effects.delete or effects.alert or effects.ladder or effects.repost
    state = WorkState.ACT if due else WorkState.DONE
    await tx.execute(
        f"INSERT INTO work ({_COLUMNS})"
        " VALUES (?, ?, ?, ?, '[]', ?, ?, ?, 1, ?, '', ?, ?, ?, ?, NULL)"
        " ON CONFLICT (guild_id, message_id) DO UPDATE SET state = excluded.state,"
        " case_id = excluded.case_id, delete_due = excluded.delete_due,"
        " alert_due = excluded.alert_due, ladder = excluded.ladder,"
        " repost_due = excluded.repost_due, attempts = 1,"
        " next_at = excluded.next_at, error = '', updated_at = excluded.updated_at,"
        " handoff = NULL",
        (
            guild_id,
            channel_id,
            message_id,
            state.value,
            case_id,
            int(effects.delete),
            int(effects.alert),
            to_text(now() + EFFECT_LEASE),
            at,
            at,
            effects.ladder,
            int(effects.repost),
        ),
    )


class SQLiteWorkStore(WorkStore):
    """One row per (guild, message), in a WITHOUT ROWID table keyed by both."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen_many(
        self, news: Sequence[NewWork], *, lease_until: datetime
    ) -> builtins.list[bool]:
        at, lease = to_text(now()), to_text(lease_until)
        async with self._db.transaction() as tx:
            return [await _seen(tx, new, at, lease) for new in news]

    async def get(self, guild_id: int, message_id: int) -> WorkItem | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM work WHERE guild_id = ? AND message_id = ?",
            (guild_id, message_id),
        )
        return None if row is None else _item(row)

    async def claim(
        self,
        now: datetime,
        *,
        limit: int,
        lease_until: datetime,
        state: WorkState | None = None,
        shards: Shards | None = None,
    ) -> builtins.list[WorkItem]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        params: tuple[object, ...] = () if state is None else (state.value,)
        wanted = _UNFINISHED if state is None else "state = ?"
        if shards is not None:
            count, ids = shards
            marks = ", ".join("?" * len(ids))
            wanted += f" AND ((guild_id >> 22) % ?) IN ({marks})"
            params = (*params, count, *ids)
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                f"UPDATE work SET attempts = attempts + 1, next_at = ?, updated_at = ?"
                f" WHERE (guild_id, message_id) IN (SELECT guild_id, message_id FROM work"
                f" WHERE {wanted} AND next_at <= ?"
                f" ORDER BY message_id LIMIT ?) RETURNING {_COLUMNS}",
                (to_text(lease_until), to_text(now), *params, to_text(now), limit),
            )
        return sorted((_item(r) for r in rows), key=lambda w: w.message_id)

    async def extend(self, keys: Sequence[tuple[int, int]], *, until: datetime) -> None:
        if not keys:
            return
        async with self._db.transaction() as tx:
            for guild_id, message_id in keys:
                await tx.execute(
                    "UPDATE work SET next_at = ? WHERE guild_id = ? AND message_id = ?"
                    " AND state = 'scan'",
                    (to_text(until), guild_id, message_id),
                )

    async def postpone(
        self, guild_id: int, message_id: int, *, until: datetime, error: str
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE work SET next_at = ?, error = ?, updated_at = ?"
                f" WHERE guild_id = ? AND message_id = ? AND {_UNFINISHED}",
                (to_text(until), error, to_text(now()), guild_id, message_id),
            )

    async def finish(
        self, guild_id: int, message_id: int, state: WorkState, *, error: str = ""
    ) -> None:
        if not state.finished:
            raise ValueError(f"{state.value} is not a finished state")
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE work SET state = ?, delete_due = 0, alert_due = 0, ladder = '',"
                " repost_due = 0, error = ?, handoff = NULL,"
                f" updated_at = ? WHERE guild_id = ? AND message_id = ? AND {_UNFINISHED}",
                (state.value, error, to_text(now()), guild_id, message_id),
            )

    async def scanned(self, guild_id: int, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE work SET state = 'done', error = '', handoff = NULL, updated_at = ?"
                " WHERE guild_id = ? AND message_id = ? AND state = 'scan'",
                (to_text(now()), guild_id, message_id),
            )

    async def effect_done(
        self,
        guild_id: int,
        message_id: int,
        effect: str,
        *,
        audit: tuple[str, dict[str, Any]] | None = None,
        alert: tuple[int, int] | None = None,
    ) -> WorkItem | None:
        if effect not in EFFECTS:
            raise ValueError(f"unknown effect {effect!r}: expected one of {', '.join(EFFECTS)}")
        cleared = "ladder = ''" if effect == "ladder" else f"{effect}_due = 0"
        async with self._db.transaction() as tx:
            await tx.execute(
                f"UPDATE work SET {cleared}, error = '', updated_at = ?"
                " WHERE guild_id = ? AND message_id = ?",
                (to_text(now()), guild_id, message_id),
            )
            row = await tx.fetchone(
                "UPDATE work SET state = CASE WHEN state = 'act' AND delete_due = 0"
                " AND alert_due = 0 AND ladder = '' AND repost_due = 0 THEN 'done' ELSE state END"
                f" WHERE guild_id = ? AND message_id = ? RETURNING {_COLUMNS}",
                (guild_id, message_id),
            )
            if row is None:
                return None
            item = _item(row)
            if item.case_id is not None and alert is not None:
                await tx.execute(
                    "UPDATE cases SET alert_channel_id = ?, alert_message_id = ? WHERE id = ?",
                    (*alert, item.case_id),
                )
            if audit is not None:
                action, details = audit
                subject = f"case {item.case_id}" if item.case_id else f"message {message_id}"
                await append_in(
                    tx,
                    guild_id=guild_id,
                    actor="consentry",
                    action=action,
                    subject=subject,
                    details=details,
                )
        return item

    async def release(self) -> int:
        async with self._db.transaction() as tx:
            changed, _ = await tx.execute(
                f"UPDATE work SET next_at = ? WHERE {_UNFINISHED}", (to_text(now()),)
            )
        return changed

    async def oldest_unfinished(self, guild_id: int) -> dict[int, int]:
        rows = await self._db.fetchall(
            "SELECT channel_id, min(message_id) AS oldest FROM work"
            f" WHERE guild_id = ? AND {_UNFINISHED} GROUP BY channel_id",
            (guild_id,),
        )
        return {int(r["channel_id"]): int(r["oldest"]) for r in rows}

    async def unscanned(self, *, up_to_message: int) -> int:
        row = await self._db.fetchone(
            "SELECT count(*) FROM work WHERE state = 'scan' AND message_id <= ?", (up_to_message,)
        )
        return int(row[0]) if row is not None else 0

    async def held(self, now: datetime) -> int:
        row = await self._db.fetchone(
            f"SELECT count(*) FROM work WHERE {_UNFINISHED} AND next_at > ?", (to_text(now),)
        )
        return int(row[0]) if row is not None else 0

    async def counts(self, guild_id: int | None = None) -> dict[WorkState, int]:
        where, params = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        rows = await self._db.fetchall(
            f"SELECT state, count(*) AS n FROM work {where} GROUP BY state", params
        )
        found = {WorkState(r["state"]): int(r["n"]) for r in rows}
        return {state: found.get(state, 0) for state in WorkState}

    async def stuck(self, guild_id: int, *, limit: int = 10) -> builtins.list[WorkItem]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM work WHERE guild_id = ?"
            f" AND ((state = 'failed') OR ({_UNFINISHED} AND error != ''))"
            " ORDER BY updated_at DESC LIMIT ?",
            (guild_id, limit),
        )
        return [_item(r) for r in rows]

    async def forget_finished(self, before: datetime) -> int:
        async with self._db.transaction() as tx:
            changed, _ = await tx.execute(
                f"DELETE FROM work WHERE NOT ({_UNFINISHED}) AND updated_at < ?",
                (to_text(before),),
            )
        return changed


async def _seen(tx: Transaction, new: NewWork, at: str, lease: str) -> bool:
    inserted, _ = await tx.execute(
        f"INSERT INTO work ({_COLUMNS})"
        " VALUES (?, ?, ?, 'scan', ?, NULL, 0, 0, 0, ?, '', ?, ?, '', 0, ?)"
        " ON CONFLICT (guild_id, message_id) DO NOTHING",
        (
            new.guild_id,
            new.channel_id,
            new.message_id,
            json.dumps(list(new.media)),
            lease,
            at,
            at,
            new.handoff,
        ),
    )
    if inserted:
        return True
    row = await tx.fetchone(
        "SELECT state, media FROM work WHERE guild_id = ? AND message_id = ?",
        (new.guild_id, new.message_id),
    )
    assert row is not None  # the conflict was with this row, in this transaction
    known = json.loads(row["media"])
    added = [m for m in new.media if m not in known]
    if row["state"] == WorkState.SCAN.value:
        if added:  # edited while waiting: a worker is to scan the message as it is now
            await tx.execute(
                "UPDATE work SET media = ?, handoff = ? WHERE guild_id = ? AND message_id = ?",
                (json.dumps([*known, *added]), new.handoff, new.guild_id, new.message_id),
            )
        return True  # already waiting (a retry or a catch-up found it again)
    if not added or row["state"] == WorkState.ACT.value:
        # Nothing new, or effects are still due: the live scan of an edit needs no record.
        return bool(added)
    await tx.execute(
        "UPDATE work SET state = 'scan', media = ?, attempts = 0, next_at = ?, error = '',"
        " updated_at = ?, handoff = ? WHERE guild_id = ? AND message_id = ?",
        (json.dumps([*known, *added]), lease, at, new.handoff, new.guild_id, new.message_id),
    )
    return True
