"""PostgreSQL tamper-evident audit log."""

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
from bot.storage.postgres._db import AUDIT_LOCK, Database, Row, Transaction, now, scope_filter, utc
from bot.storage.records import ALL, AuditRecord, AuditVerification, GuildScope

if TYPE_CHECKING:
    import builtins

_COLUMNS = "id, at, guild_id, actor, action, subject, details, prev_hash, hash"
_VERIFY_BATCH = 5_000


def _record(row: Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=utc(row["at"]),
        guild_id=row["guild_id"],
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class PostgresAuditLog(AuditLog):
    """The chain in one table. Appends take an advisory lock first, so reading the head and
    inserting after it cannot interleave with another process's append."""

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
        scope, params = scope_filter(guild_id, 3)
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM audit_log WHERE id > $1{scope} ORDER BY id LIMIT $2",
            after_id,
            limit,
            *params,
        )
        return [_record(r) for r in rows]

    async def verify(self) -> AuditVerification:
        verifier = ChainVerifier()
        after_id = 0
        while True:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                after_id,
                _VERIFY_BATCH,
            )
            for row in rows:
                try:
                    record = _record(row)
                except (ValueError, TypeError):
                    # Unparseable JSON: edited by hand, so tampered with too.
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
    at all. The advisory lock is held until ``tx`` ends, and each statement of a READ COMMITTED
    transaction sees what committed before it, so the head read here is the latest one."""
    details = normalise_details(details)
    await tx.lock(AUDIT_LOCK)
    at = now()  # under the lock: times rise with ids
    tail = await tx.fetchrow("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
    # The id is part of the hashed fields, so it is chosen here rather than by the database.
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
        f"INSERT INTO audit_log ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        record_id,
        at,
        guild_id,
        actor,
        action,
        subject,
        canonical_json(details),
        prev_hash,
        digest,
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
