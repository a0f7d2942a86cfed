"""SQLite evidence: encrypted media bytes kept with a case until they expire."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import StorageError
from bot.storage.base_cases import EvidenceStore
from bot.storage.records import Evidence
from bot.storage.sqlite._db import Database, Transaction, from_text, to_text
from bot.storage.sqlite._db import now as clock  # the methods' ``now`` is the caller's time

if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import Sequence
    from datetime import datetime

    from bot.storage.records import NewEvidence

_COLUMNS = (
    "id, case_id, label, sha256, media_type, size, key_id, nonce, ciphertext,"
    " created_at, expires_at, purged_at"
)
# Well under SQLite's limit on bound parameters (999 before 3.32).
_IDS_PER_STATEMENT = 500
# One primary-key lookup per candidate row.
_NOT_HELD = (
    "NOT EXISTS (SELECT 1 FROM cases WHERE cases.id = evidence.case_id AND cases.legal_hold = 1)"
)


def _evidence(row: sqlite3.Row) -> Evidence:
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
        created_at=from_text(row["created_at"]),
        expires_at=from_text(row["expires_at"]),
        purged_at=None if purged_at is None else from_text(purged_at),
    )


class SQLiteEvidenceStore(EvidenceStore):
    """One row per item, bytes as BLOBs; purging NULLs the bytes and keeps the row."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, case_id: int, items: Sequence[NewEvidence]) -> builtins.list[Evidence]:
        async with self._db.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM cases WHERE id = ?", (case_id,)) is None:
                raise StorageError(f"cannot store evidence: there is no case {case_id}")
            return await put_in(tx, case_id, items)

    async def for_case(self, case_id: int) -> builtins.list[Evidence]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM evidence WHERE case_id = ? ORDER BY id", (case_id,)
        )
        return [_evidence(r) for r in rows]

    async def due_for_purge(self, now: datetime, *, limit: int = 100) -> builtins.list[int]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = await self._db.fetchall(
            "SELECT id FROM evidence"
            f" WHERE purged_at IS NULL AND expires_at <= ? AND {_NOT_HELD}"
            " ORDER BY expires_at, id LIMIT ?",
            (to_text(now), limit),
        )
        return [int(r["id"]) for r in rows]

    async def purge(self, evidence_ids: Sequence[int], *, now: datetime) -> int:
        at = to_text(now)
        ids = list(dict.fromkeys(evidence_ids))
        if not ids:
            return 0
        purged = 0
        async with self._db.transaction() as tx:
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                chunk = ids[start : start + _IDS_PER_STATEMENT]
                marks = ", ".join("?" * len(chunk))
                purged += await _purge_where(tx, f"id IN ({marks}) AND {_NOT_HELD}", at, chunk)
        return purged

    async def purge_author(
        self, guild_id: int, author_id: int, *, now: datetime
    ) -> tuple[int, int]:
        at = to_text(now)
        cases = "SELECT id FROM cases WHERE guild_id = ? AND author_id = ? AND legal_hold = ?"
        async with self._db.transaction() as tx:
            purged = await _purge_where(tx, f"case_id IN ({cases})", at, [guild_id, author_id, 0])
            row = await tx.fetchone(
                f"SELECT count(*) FROM evidence WHERE purged_at IS NULL AND case_id IN ({cases})",
                (guild_id, author_id, 1),
            )
        kept = int(row[0]) if row is not None else 0
        return purged, kept

    async def stats(self, guild_id: int) -> dict[str, int]:
        row = await self._db.fetchone(
            "SELECT count(*) FILTER (WHERE purged_at IS NULL) AS stored,"
            " count(*) FILTER (WHERE purged_at IS NOT NULL) AS purged,"
            " coalesce(sum(length(ciphertext)), 0) AS bytes"
            " FROM evidence WHERE case_id IN (SELECT id FROM cases WHERE guild_id = ?)",
            (guild_id,),
        )
        if row is None:
            return {"stored": 0, "purged": 0, "bytes": 0}
        return {key: int(row[key]) for key in ("stored", "purged", "bytes")}

    async def key_ids(self) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT key_id, count(*) AS n FROM evidence WHERE purged_at IS NULL GROUP BY key_id"
        )
        return {str(r["key_id"]): int(r["n"]) for r in rows}


async def _purge_where(tx: Transaction, where: str, at: str, params: builtins.list[int]) -> int:
    """Drop the bytes of the unpurged items matching ``where``; return how many there were."""
    changed, _ = await tx.execute(
        "UPDATE evidence SET nonce = NULL, ciphertext = NULL, purged_at = ?"
        f" WHERE purged_at IS NULL AND {where}",
        (at, *params),
    )
    return changed


async def put_in(
    tx: Transaction, case_id: int, items: Sequence[NewEvidence]
) -> builtins.list[Evidence]:
    """Inside a transaction: store ``items`` for the existing case ``case_id``."""
    for item in items:
        if item.size < 0:
            raise ValueError(f"evidence size must not be negative, got {item.size}")
    created_at = to_text(clock())
    expiries = [to_text(item.expires_at) for item in items]  # refuses naive datetimes
    ids: list[int] = []
    for item, expires_at in zip(items, expiries, strict=True):
        _, evidence_id = await tx.execute(
            f"INSERT INTO evidence ({_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (
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
            ),
        )
        assert evidence_id is not None  # an INSERT into a rowid table always sets it
        ids.append(evidence_id)
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
            created_at=from_text(created_at),
            expires_at=from_text(expires_at),
            purged_at=None,
        )
        for evidence_id, item, expires_at in zip(ids, items, expiries, strict=True)
    ]
