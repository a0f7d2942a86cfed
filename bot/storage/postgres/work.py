"""PostgreSQL durable record of work per message; workers claim with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Shared with the SQLite backend so that both give effects the same lease and names.
from bot.storage.base_work import EFFECT_LEASE, EFFECTS, Shards, WorkStore
from bot.storage.postgres._db import Database, Row, Transaction, now, stamp, utc
from bot.storage.postgres.audit import append_in
from bot.storage.records import Effects, WorkItem, WorkState

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence
    from datetime import datetime

    from bot.storage.records import NewWork

_COLUMNS = (
    "guild_id, channel_id, message_id, state, media, case_id, delete_due, alert_due, attempts,"
    " next_at, error, created_at, updated_at, ladder, repost_due, handoff"
)
_UNFINISHED = "state IN ('scan', 'act')"
_KEY = "guild_id = $1 AND message_id = $2"
_NONE_DUE = ("delete_due = FALSE", "alert_due = FALSE", "ladder = ''", "repost_due = FALSE")


def _item(row: Row) -> WorkItem:
    return WorkItem(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        state=WorkState(row["state"]),
        media=tuple(row["media"]),
        case_id=row["case_id"],
        delete_due=bool(row["delete_due"]),
        alert_due=bool(row["alert_due"]),
        ladder_due=row["ladder"],
        repost_due=bool(row["repost_due"]),
        attempts=row["attempts"],
        next_at=utc(row["next_at"]),
        error=row["error"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
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
    at = now()
    due = effects.delete or effects.alert or effects.ladder or effects.repost
    state = WorkState.ACT if due else WorkState.DONE
    await tx.execute(
        f"INSERT INTO work ({_COLUMNS})"
        " VALUES ($1, $2, $3, $4, '{}', $5, $6, $7, 1, $8, '', $9, $9, $10, $11, NULL)"
        " ON CONFLICT (guild_id, message_id) DO UPDATE SET state = excluded.state,"
        " case_id = excluded.case_id, delete_due = excluded.delete_due,"
        " alert_due = excluded.alert_due, ladder = excluded.ladder,"
        " repost_due = excluded.repost_due, attempts = 1,"
        " next_at = excluded.next_at, error = '', updated_at = excluded.updated_at,"
        " handoff = NULL",
        guild_id,
        channel_id,
        message_id,
        state.value,
        case_id,
        effects.delete,
        effects.alert,
        at + EFFECT_LEASE,
        at,
        effects.ladder,
        effects.repost,
    )


class PostgresWorkStore(WorkStore):
    """One row per (guild, message), keyed by both."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen_many(
        self, news: Sequence[NewWork], *, lease_until: datetime
    ) -> builtins.list[bool]:
        at, lease = now(), stamp(lease_until)
        # Rows are locked in key order, so two batches sharing messages never deadlock; the
        # answers still come back in the order asked.
        order = sorted(range(len(news)), key=lambda i: (news[i].guild_id, news[i].message_id))
        answers = [False] * len(news)
        async with self._db.transaction() as tx:
            for i in order:
                answers[i] = await _seen(tx, news[i], at, lease)
        return answers

    async def get(self, guild_id: int, message_id: int) -> WorkItem | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM work WHERE {_KEY}", guild_id, message_id
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
        wanted = _UNFINISHED if state is None else "state = $5"
        if shards is not None:
            at = 5 + len(params)
            wanted += f" AND ((guild_id >> 22) % ${at}) = ANY(${at + 1}::bigint[])"
            params = (*params, shards[0], list(shards[1]))
        async with self._db.transaction() as tx:
            # SKIP LOCKED: workers in other processes claiming at the same moment each take
            # different records instead of waiting for one another's rows.
            rows = await tx.fetch(
                "UPDATE work SET attempts = attempts + 1, next_at = $1, updated_at = $2"
                " WHERE (guild_id, message_id) IN (SELECT guild_id, message_id FROM work"
                f" WHERE {wanted} AND next_at <= $3 ORDER BY message_id LIMIT $4"
                f" FOR UPDATE SKIP LOCKED) RETURNING {_COLUMNS}",
                stamp(lease_until),
                stamp(now),
                stamp(now),
                limit,
                *params,
            )
        return sorted((_item(r) for r in rows), key=lambda w: w.message_id)

    async def extend(self, keys: Sequence[tuple[int, int]], *, until: datetime) -> None:
        if not keys:
            return
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE work SET next_at = $1 FROM unnest($2::bigint[], $3::bigint[])"
                " AS held(guild_id, message_id) WHERE work.guild_id = held.guild_id"
                " AND work.message_id = held.message_id AND work.state = 'scan'",
                stamp(until),
                [g for g, _ in keys],
                [m for _, m in keys],
            )

    async def postpone(
        self, guild_id: int, message_id: int, *, until: datetime, error: str
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE work SET next_at = $3, error = $4, updated_at = $5"
                f" WHERE {_KEY} AND {_UNFINISHED}",
                guild_id,
                message_id,
                stamp(until),
                error,
                now(),
            )

    async def finish(
        self, guild_id: int, message_id: int, state: WorkState, *, error: str = ""
    ) -> None:
        if not state.finished:
            raise ValueError(f"{state.value} is not a finished state")
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE work SET state = $3, delete_due = FALSE, alert_due = FALSE, ladder = '',"
                " repost_due = FALSE, error = $4, handoff = NULL, updated_at = $5"
                f" WHERE {_KEY} AND {_UNFINISHED}",
                guild_id,
                message_id,
                state.value,
                error,
                now(),
            )

    async def scanned(self, guild_id: int, message_id: int) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE work SET state = 'done', error = '', handoff = NULL, updated_at = $3"
                f" WHERE {_KEY} AND state = 'scan'",
                guild_id,
                message_id,
                now(),
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
        cleared = "ladder = ''" if effect == "ladder" else f"{effect}_due = FALSE"
        async with self._db.transaction() as tx:
            if alert is not None:
                # The case's row first, as every case transaction takes it before a work row:
                # a decision joining this message to its case cannot deadlock with this.
                await tx.execute(
                    "SELECT 1 FROM cases WHERE id = (SELECT case_id FROM work WHERE"
                    f" {_KEY}) FOR UPDATE",
                    guild_id,
                    message_id,
                )
            # One statement: its SET expressions all see the row as it was, so the new state
            # is computed from the other effects (this one is cleared by the same statement).
            others = " AND ".join(c for c in _NONE_DUE if c != cleared)
            row = await tx.fetchrow(
                f"UPDATE work SET {cleared}, error = '', updated_at = $3,"
                f" state = CASE WHEN state = 'act' AND {others} THEN 'done' ELSE state END"
                f" WHERE {_KEY} RETURNING {_COLUMNS}",
                guild_id,
                message_id,
                now(),
            )
            if row is None:
                return None
            item = _item(row)
            if item.case_id is not None and alert is not None:
                await tx.execute(
                    "UPDATE cases SET alert_channel_id = $1, alert_message_id = $2 WHERE id = $3",
                    *alert,
                    item.case_id,
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
            return await tx.execute(f"UPDATE work SET next_at = $1 WHERE {_UNFINISHED}", now())

    async def oldest_unfinished(self, guild_id: int) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT channel_id, min(message_id) AS oldest FROM work"
            f" WHERE guild_id = $1 AND {_UNFINISHED} GROUP BY channel_id",
            guild_id,
        )
        return {int(r["channel_id"]): int(r["oldest"]) for r in rows}

    async def unscanned(self, *, up_to_message: int) -> int:
        row = await self._db.fetchrow(
            "SELECT count(*) FROM work WHERE state = 'scan' AND message_id <= $1", up_to_message
        )
        return int(row[0]) if row is not None else 0

    async def held(self, now: datetime) -> int:
        row = await self._db.fetchrow(
            f"SELECT count(*) FROM work WHERE {_UNFINISHED} AND next_at > $1", stamp(now)
        )
        return int(row[0]) if row is not None else 0

    async def counts(self, guild_id: int | None = None) -> dict[WorkState, int]:
        where, params = ("WHERE guild_id = $1", (guild_id,)) if guild_id is not None else ("", ())
        rows = await self._db.fetch(
            f"SELECT state, count(*) AS n FROM work {where} GROUP BY state", *params
        )
        found = {WorkState(r["state"]): int(r["n"]) for r in rows}
        return {state: found.get(state, 0) for state in WorkState}

    async def stuck(self, guild_id: int, *, limit: int = 10) -> builtins.list[WorkItem]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM work WHERE guild_id = $1"
            f" AND ((state = 'failed') OR ({_UNFINISHED} AND error != ''))"
            " ORDER BY updated_at DESC LIMIT $2",
            guild_id,
            limit,
        )
        return [_item(r) for r in rows]

    async def forget_finished(self, before: datetime) -> int:
        async with self._db.transaction() as tx:
            return await tx.execute(
                f"DELETE FROM work WHERE NOT ({_UNFINISHED}) AND updated_at < $1", stamp(before)
            )


async def _seen(tx: Transaction, new: NewWork, at: datetime, lease: datetime) -> bool:
    inserted = await tx.execute(
        f"INSERT INTO work ({_COLUMNS})"
        " VALUES ($1, $2, $3, 'scan', $4, NULL, FALSE, FALSE, 0, $5, '', $6, $6, '', FALSE, $7)"
        " ON CONFLICT (guild_id, message_id) DO NOTHING",
        new.guild_id,
        new.channel_id,
        new.message_id,
        list(new.media),
        lease,
        at,
        new.handoff,
    )
    if inserted:
        return True
    # FOR UPDATE: a concurrent edit of the same message waits here instead of losing media.
    row = await tx.fetchrow(
        f"SELECT state, media FROM work WHERE {_KEY} FOR UPDATE", new.guild_id, new.message_id
    )
    assert row is not None  # the conflict was with this row, which is never deleted unfinished
    known = list(row["media"])
    added = [m for m in new.media if m not in known]
    if row["state"] == WorkState.SCAN.value:
        if added:  # edited while waiting: a worker is to scan the message as it is now
            await tx.execute(
                f"UPDATE work SET media = $3, handoff = $4 WHERE {_KEY}",
                new.guild_id,
                new.message_id,
                [*known, *added],
                new.handoff,
            )
        return True  # already waiting (a retry or a catch-up found it again)
    if not added or row["state"] == WorkState.ACT.value:
        # Nothing new, or effects are still due: the live scan of an edit needs no record.
        return bool(added)
    await tx.execute(
        "UPDATE work SET state = 'scan', media = $3, attempts = 0, next_at = $4, error = '',"
        f" updated_at = $5, handoff = $6 WHERE {_KEY}",
        new.guild_id,
        new.message_id,
        [*known, *added],
        lease,
        at,
        new.handoff,
    )
    return True
