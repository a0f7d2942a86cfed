"""PostgreSQL evidence: encrypted media bytes kept with a case until they expire."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import StorageError
from bot.storage.base_cases import EvidenceStore
from bot.storage.postgres._db import Database, Row, Transaction, stamp, utc
from bot.storage.postgres._db import now as clock  # the methods' ``now`` is the caller's time
from bot.storage.records import Evidence

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence
    from datetime import datetime

    from bot.storage.records import NewEvidence

_COLUMNS = (
    "id, case_id, label, sha256, media_type, size, key_id, nonce, ciphertext,"
    " created_at, expires_at, purged_at"
)
# One primary-key lookup per candidate row.
_NOT_HELD = (
    "NOT EXISTS (SELECT 1 FROM cases WHERE cases.id = evidence.case_id AND cases.legal_hold)"
)


def _evidence(row: Row) -> Evidence:
    purged_at = row["purged_at"]
    return Evidence(
        id=row["id"],
        case_id=row["case_id"],
        label=row["label"],
        sha256=row["sha256"],
        media_type=row["media_type"],
        size=row["size"],
        key_id=row["key_id"],
        nonce=row["nonce"],
        ciphertext=row["ciphertext"],
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
        purged_at=None if purged_at is None else utc(purged_at),
    )


class PostgresEvidenceStore(EvidenceStore):
    """One row per item, bytes as BYTEA; purging NULLs the bytes and keeps the row."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, case_id: int, items: Sequence[NewEvidence]) -> builtins.list[Evidence]:
        async with self._db.transaction() as tx:
            # FOR SHARE: the case cannot be deleted under the evidence being stored for it.
            found = await tx.fetchrow("SELECT 1 FROM cases WHERE id = $1 FOR SHARE", case_id)
            if found is None:
                raise StorageError(f"cannot store evidence: there is no case {case_id}")
            return await put_in(tx, case_id, items)

    async def for_case(self, case_id: int) -> builtins.list[Evidence]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM evidence WHERE case_id = $1 ORDER BY id", case_id
        )
        return [_evidence(r) for r in rows]

    async def due_for_purge(self, now: datetime, *, limit: int = 100) -> builtins.list[int]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = await self._db.fetch(
            "SELECT id FROM evidence"
            f" WHERE purged_at IS NULL AND expires_at <= $1 AND {_NOT_HELD}"
            " ORDER BY expires_at, id LIMIT $2",
            stamp(now),
            limit,
        )
        return [int(r["id"]) for r in rows]

    async def purge(self, evidence_ids: Sequence[int], *, now: datetime) -> int:
        at = stamp(now)
        ids = list(dict.fromkeys(evidence_ids))
        if not ids:
            return 0
        async with self._db.transaction() as tx:
            # One array parameter, however many ids: no limit on bound parameters to split for.
            return await _purge_where(tx, f"id = ANY($2::bigint[]) AND {_NOT_HELD}", at, ids)

    async def purge_author(
        self, guild_id: int, author_id: int, *, now: datetime
    ) -> tuple[int, int]:
        at = stamp(now)
        cases = "SELECT id FROM cases WHERE guild_id = {} AND author_id = {} AND legal_hold = {}"
        async with self._db.transaction() as tx:
            purged = await _purge_where(
                tx, f"case_id IN ({cases.format('$2', '$3', '$4')})", at, guild_id, author_id, False
            )
            row = await tx.fetchrow(
                "SELECT count(*) FROM evidence WHERE purged_at IS NULL"
                f" AND case_id IN ({cases.format('$1', '$2', '$3')})",
                guild_id,
                author_id,
                True,
            )
        kept = int(row[0]) if row is not None else 0
        return purged, kept

    async def stats(self, guild_id: int) -> dict[str, int]:
        row = await self._db.fetchrow(
            "SELECT count(*) FILTER (WHERE purged_at IS NULL) AS stored,"
            " count(*) FILTER (WHERE purged_at IS NOT NULL) AS purged,"
            " coalesce(sum(octet_length(ciphertext)), 0) AS bytes"
            " FROM evidence WHERE case_id IN (SELECT id FROM cases WHERE guild_id = $1)",
            guild_id,
        )
        if row is None:
            return {"stored": 0, "purged": 0, "bytes": 0}
        return {key: int(row[key]) for key in ("stored", "purged", "bytes")}

    async def key_ids(self) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT key_id, count(*) AS n FROM evidence WHERE purged_at IS NULL GROUP BY key_id"
        )
        return {str(r["key_id"]): int(r["n"]) for r in rows}


async def _purge_where(tx: Transaction, where: str, at: datetime, *params: object) -> int:
    """Drop the bytes of the unpurged items matching ``where`` (placeholders from $2); return
    how many there were."""
    return await tx.execute(
        "UPDATE evidence SET nonce = NULL, ciphertext = NULL, purged_at = $1"
        f" WHERE purged_at IS NULL AND {where}",
        at,
        *params,
    )


async def put_in(
    tx: Transaction, case_id: int, items: Sequence[NewEvidence]
) -> builtins.list[Evidence]:
    """Inside a transaction: store ``items`` for the existing case ``case_id``."""
    for item in items:
        if item.size < 0:
            raise ValueError(f"evidence size must not be negative, got {item.size}")
    created_at = clock()
    expiries = [stamp(item.expires_at) for item in items]  # refuses naive datetimes
    ids: list[int] = []
    for item, expires_at in zip(items, expiries, strict=True):
        row = await tx.fetchrow(
            "INSERT INTO evidence (case_id, label, sha256, media_type, size, key_id, nonce,"
            " ciphertext, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " RETURNING id",
            case_id,
            item.label,
            item.sha256,
            item.media_type,
            item.size,
            item.key_id,
            bytes(item.nonce),
            bytes(item.ciphertext),
            created_at,
            expires_at,
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        ids.append(int(row[0]))
    # Built from what was written rather than read back: the ciphertext may be large.
    return [
        Evidence(
            id=evidence_id,
            case_id=case_id,
            label=item.label,
            sha256=item.sha256,
            media_type=item.media_type,
            size=item.size,
            key_id=item.key_id,
            nonce=bytes(item.nonce),
            ciphertext=bytes(item.ciphertext),
            created_at=created_at,
            expires_at=expires_at,
            purged_at=None,
        )
        for evidence_id, item, expires_at in zip(ids, items, expiries, strict=True)
    ]
