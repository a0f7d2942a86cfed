"""SQLite blocklist store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.blocklist import Algorithm, BlocklistEntry, MatchRow, NewEntry
from bot.core.hash_lists import Removal
from bot.storage import rows
from bot.storage.base import BlocklistStore
from bot.storage.records import ALL, AddResult, ApplyResult, BlocklistChanges, GuildScope
from bot.storage.sqlite._db import (
    Database,
    Transaction,
    from_text,
    now,
    scope_filter,
    to_text,
)

if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import AsyncIterator, Sequence
    from datetime import datetime

ENTRY_COLUMNS = "id, algorithm, value, guild_id, source, reason, added_by, added_at, allow"
_REVISION = "blocklist_revision"

_Identity = tuple[str, str, int | None, bool, str]


def _by_hash(entry: NewEntry) -> tuple[str, str]:
    return entry.algorithm.value, entry.value


def _identity(entry: NewEntry | BlocklistEntry) -> _Identity:
    return (entry.algorithm.value, entry.value, entry.guild_id, entry.allow, entry.source)


def row_entry(row: sqlite3.Row) -> BlocklistEntry:
    """A stored entry from a row of :data:`ENTRY_COLUMNS`."""
    return rows.entry(row, from_text)


def _check_page(limit: int, after_id: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if after_id < 0:
        raise ValueError(f"after_id must not be negative, got {after_id}")


class SQLiteBlocklistStore(BlocklistStore):
    """Blocklist entries in one table; a unique index on (algorithm, value, scope, allow,
    source)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, entries: Sequence[NewEntry]) -> AddResult:
        if not entries:
            return AddResult()
        async with self._db.transaction() as tx:
            return await add_in(tx, entries)

    async def apply(self, entries: Sequence[NewEntry], removals: Sequence[Removal]) -> ApplyResult:
        async with self._db.transaction() as tx:
            added = await add_in(tx, entries, keep=False)
            removed: list[BlocklistEntry] = []
            missing: list[Removal] = []
            for removal in removals:
                rows = await delete_in(
                    tx,
                    "algorithm = ? AND value = ? AND allow = 0"
                    " AND coalesce(guild_id, 0) = coalesce(?, 0) AND source = ?",
                    (removal.algorithm.value, removal.value, removal.guild_id, removal.source),
                )
                if not rows:
                    missing.append(removal)
                removed.extend(rows)
        return ApplyResult(added.count, added.duplicates, removed, missing)

    async def remove(self, entry_id: int) -> BlocklistEntry | None:
        async with self._db.transaction() as tx:
            rows = await delete_in(tx, "id = ?", (entry_id,))
        return rows[0] if rows else None

    async def removed_since(
        self, since: datetime, sources: Sequence[str]
    ) -> builtins.list[tuple[Algorithm, str, datetime]]:
        marks = ", ".join("?" for _ in sources)
        rows = await self._db.fetchall(
            "SELECT algorithm, value, max(removed_at) AS at FROM blocklist_removed"
            f" WHERE removed_at >= ? AND source IN ({marks}) GROUP BY algorithm, value"
            " ORDER BY at",
            (to_text(since), *sources),
        )
        return [(Algorithm(r["algorithm"]), r["value"], from_text(r["at"])) for r in rows]

    async def get(self, entry_id: int) -> BlocklistEntry | None:
        row = await self._db.fetchone(
            f"SELECT {ENTRY_COLUMNS} FROM blocklist WHERE id = ?", (entry_id,)
        )
        return None if row is None else row_entry(row)

    async def list(
        self, *, guild_id: GuildScope = ALL, limit: int = 100, after_id: int = 0
    ) -> builtins.list[BlocklistEntry]:
        _check_page(limit, after_id)
        scope, params = scope_filter(guild_id)
        rows = await self._db.fetchall(
            f"SELECT {ENTRY_COLUMNS} FROM blocklist WHERE id > ?{scope} ORDER BY id LIMIT ?",
            (after_id, *params, limit),
        )
        return [row_entry(r) for r in rows]

    async def iter_all(self, batch_size: int = 10_000) -> AsyncIterator[BlocklistEntry]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        after_id = 0
        while True:
            # The connection lock is taken per batch, never across a yield: the consumer may use
            # the same Storage between items.
            batch = await self.list(limit=batch_size, after_id=after_id)
            for entry in batch:
                yield entry
            if len(batch) < batch_size:
                return
            after_id = batch[-1].id

    async def match_rows(self, batch_size: int = 50_000) -> AsyncIterator[builtins.list[MatchRow]]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        after_id = 0
        while True:
            rows = await self._db.fetchall(
                "SELECT id, algorithm, value, guild_id, allow FROM blocklist "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, batch_size),
            )
            if rows:
                yield [MatchRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]
            if len(rows) < batch_size:
                return
            after_id = rows[-1][0]

    async def count(self) -> dict[str, int]:
        counts = {algorithm.value: 0 for algorithm in Algorithm}
        counts["allow"] = 0
        rows = await self._db.fetchall(
            "SELECT algorithm, allow, count(*) AS n FROM blocklist GROUP BY algorithm, allow"
        )
        for row in rows:
            key = "allow" if row["allow"] else row["algorithm"]
            counts[key] = counts.get(key, 0) + int(row["n"])
        return counts

    async def changes_since(
        self, revision: int, *, limit: int = 100_000
    ) -> BlocklistChanges | None:
        async with self._db.transaction() as tx:  # one snapshot: feed, rows and revision agree
            found = await tx.fetchone(
                "SELECT (SELECT value FROM counters WHERE name = ?),"
                " (SELECT value FROM counters WHERE name = 'blocklist_feed_from')",
                (_REVISION,),
            )
            assert found is not None
            latest, feed_from = int(found[0]), int(found[1] or 0)
            if revision < feed_from or revision > latest:
                return None
            changes = await tx.fetchall(
                "SELECT first_id, last_id, removed FROM blocklist_changes WHERE revision > ?"
                " ORDER BY revision",
                (revision,),
            )
            added = sum(c["last_id"] - c["first_id"] + 1 for c in changes if not c["removed"])
            if added > limit:
                return None
            removed = [int(c["first_id"]) for c in changes if c["removed"]]
            rows: builtins.list[MatchRow] = []
            for change in changes:
                if change["removed"]:
                    continue
                found_rows = await tx.fetchall(
                    "SELECT id, algorithm, value, guild_id, allow FROM blocklist"
                    " WHERE id BETWEEN ? AND ? ORDER BY id",
                    (change["first_id"], change["last_id"]),
                )
                rows += [MatchRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in found_rows]
        return BlocklistChanges(latest, tuple(rows), tuple(removed))

    async def revision(self) -> int:
        row = await self._db.fetchone("SELECT value FROM counters WHERE name = ?", (_REVISION,))
        return int(row["value"]) if row is not None else 0


async def _record_change(tx: Transaction, first_id: int, last_id: int, *, removed: bool) -> None:
    """Bump the revision and record in the change feed what it changed."""
    row = await tx.fetchone(
        "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", (_REVISION,)
    )
    assert row is not None  # the counter is created with the schema
    await tx.execute(
        "INSERT INTO blocklist_changes (revision, first_id, last_id, removed) VALUES (?, ?, ?, ?)",
        (int(row[0]), first_id, last_id, int(removed)),
    )


async def delete_in(
    tx: Transaction, where: str, params: tuple[object, ...]
) -> list[BlocklistEntry]:
    """Delete the entries ``where`` selects inside ``tx``: each removal goes to the change feed
    (for the live index) and to ``blocklist_removed`` (for published feeds) with it."""
    rows = await tx.fetchall(
        f"DELETE FROM blocklist WHERE {where} RETURNING {ENTRY_COLUMNS}", params
    )
    at = to_text(now())
    for row in rows:
        await _record_change(tx, row["id"], row["id"], removed=True)
    await tx.executemany(
        "INSERT INTO blocklist_removed (algorithm, value, guild_id, source, removed_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [(r["algorithm"], r["value"], r["guild_id"], r["source"], at) for r in rows],
    )
    return [row_entry(r) for r in rows]


async def add_in(tx: Transaction, entries: Sequence[NewEntry], *, keep: bool = True) -> AddResult:
    """Add ``entries`` inside ``tx`` (see :meth:`BlocklistStore.add`): with a case's decision
    and its audit record, they commit together or not at all. ``keep=False``: the stored entries
    are only counted (``AddResult.count``), not returned (a big import needs no million
    objects)."""
    if not entries:
        return AddResult()
    at = now()
    added_at = to_text(at)
    # The write lock is held, so every row with an id above this one is ours. One executemany
    # plus one SELECT is far faster than a round trip per entry on big imports.
    row = await tx.fetchone("SELECT coalesce(max(id), 0), total_changes() FROM blocklist")
    before, changes_before = (int(row[0]), int(row[1])) if row is not None else (0, 0)
    # Inserted in hash order (a stable sort: of repeated rows the first still goes in), so the
    # unique index grows at its end instead of at random places: twice as fast for big imports.
    ordered = sorted(entries, key=_by_hash) if len(entries) > 1000 else entries
    await tx.executemany(
        f"INSERT INTO blocklist ({ENTRY_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (
            (
                e.algorithm.value,
                e.value,
                e.guild_id,
                e.source,
                e.reason,
                e.added_by,
                added_at,
                int(e.allow),
            )
            for e in ordered
        ),
    )
    changed = await tx.fetchone("SELECT total_changes()")
    inserted = int(changed[0]) - changes_before if changed is not None else 0
    if not keep and inserted == len(entries):  # nothing was a duplicate: nothing to find
        if inserted:
            last = await tx.fetchone("SELECT max(id) FROM blocklist")
            assert last is not None
            await _record_change(tx, before + 1, int(last[0]), removed=False)
        return AddResult(count=inserted)
    # Only the identity and id of each new row are read back: the rest is what was given
    # (a million imported rows would otherwise be parsed back, dates and all).
    rows = await tx.fetchall(
        "SELECT id, algorithm, value, guild_id, allow, source FROM blocklist WHERE id > ?"
        " ORDER BY id",
        (before,),
    )
    if rows:
        await _record_change(tx, rows[0][0], rows[-1][0], removed=False)
    fresh = {(r[1], r[2], r[3], bool(r[4]), r[5]): int(r[0]) for r in rows}
    # Rows were inserted in input order, so the first occurrence of each identity is the one
    # that went in; any other occurrence is a duplicate.
    added: list[BlocklistEntry] = []
    duplicates: list[NewEntry] = []
    for e in entries:
        entry_id = fresh.pop(_identity(e), None)
        if entry_id is None:
            duplicates.append(e)
        elif keep:
            added.append(
                BlocklistEntry(
                    entry_id,
                    e.algorithm,
                    e.value,
                    e.guild_id,
                    e.source,
                    e.reason,
                    e.added_by,
                    at,
                    e.allow,
                )
            )
    return AddResult(added=added, duplicates=duplicates, count=len(rows))
