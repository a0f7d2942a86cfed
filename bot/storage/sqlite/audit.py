"""SQLite tamper-evident audit log."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bot.storage.audit_chain import (
    GENESIS_HASH,
    ChainVerifier,
    canonical_json,
    normalise_details,
    record_hash,
)
from bot.storage.base import AuditLog
from bot.storage.records import ALL, AuditRecord, AuditVerification, GuildScope
from bot.storage.sqlite._db import Database, Transaction, from_text, now, scope_filter, to_text

if TYPE_CHECKING:
    import builtins
    import sqlite3

_COLUMNS = "id, at, guild_id, actor, action, subject, details, prev_hash, hash"
_VERIFY_BATCH = 5_000


def _record(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=from_text(row["at"]),
        guild_id=row["guild_id"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class SQLiteAuditLog(AuditLog):
    """The chain in one table. Appends run under BEGIN IMMEDIATE, SQLite's single write lock, so
    reading the tail and inserting after it cannot interleave with another process's append."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self,
        *,
        guild_id: int | None,
        actor: str,
        action: str,
        subject: str,
        details: dict[str, Any],
    ) -> AuditRecord:
        async with self._db.transaction() as tx:
            return await append_in(
                tx, guild_id=guild_id, actor=actor, action=action, subject=subject, details=details
            )

    async def list(
        self, *, guild_id: GuildScope = ALL, limit: int = 100, after_id: int = 0
    ) -> builtins.list[AuditRecord]:
        if limit < 1 or after_id < 0:
            raise ValueError(f"need limit >= 1 and after_id >= 0, got {limit} and {after_id}")
        scope, params = scope_filter(guild_id)
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM audit_log WHERE id > ?{scope} ORDER BY id LIMIT ?",
            (after_id, *params, limit),
        )
        return [_record(r) for r in rows]

    async def verify(self) -> AuditVerification:
        verifier = ChainVerifier()
        after_id = 0
        while True:
            rows = await self._db.fetchall(
                f"SELECT {_COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, _VERIFY_BATCH),
            )
            for row in rows:
                try:
                    record = _record(row)
                except (ValueError, TypeError):
                    # Unparseable JSON or timestamp: edited by hand, so tampered with too.
                    verifier.reject(int(row["id"]))
                    return verifier.result()
                if not verifier.check(record):
                    return verifier.result()
            if len(rows) < _VERIFY_BATCH:
                return verifier.result()
            after_id = int(rows[-1]["id"])


async def append_in(
    tx: Transaction,
    *,
    guild_id: int | None,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
) -> AuditRecord:
    """Append one audit record inside ``tx``: a change and its record commit together or not
    at all. ``tx`` holds SQLite's write lock (BEGIN IMMEDIATE), so reading the chain's tail and
    inserting after it cannot interleave with another process's append."""
    details = normalise_details(details)
    # Truncate to what the text form keeps, so the returned record hashes like the stored one.
    at = from_text(to_text(now()))
    tail = await tx.fetchone("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    # The id is part of the hashed fields, so it is chosen here rather than by SQLite.
    record_id = 1 if tail is None else int(tail["id"]) + 1
    prev_hash = GENESIS_HASH if tail is None else str(tail["hash"])
    digest = record_hash(
        prev_hash,
        id=record_id,
        at=at,
        guild_id=guild_id,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
    )
    await tx.execute(
        f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record_id,
            to_text(at),
            guild_id,
            actor,
            action,
            subject,
            canonical_json(details),
            prev_hash,
            digest,
        ),
    )
    return AuditRecord(
        id=record_id,
        at=at,
        guild_id=guild_id,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        hash=digest,
    )
