"""PostgreSQL blocklist store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.blocklist import Algorithm, BlocklistEntry, MatchRow, NewEntry
from bot.core.hash_lists import Removal
from bot.storage import rows
from bot.storage.base import BlocklistStore
from bot.storage.postgres._db import (
    BLOCKLIST_LOCK,
    Database,
    Row,
    Transaction,
    now,
    scope_filter,
    stamp,
    utc,
)
from bot.storage.postgres.notify import notify
from bot.storage.records import ALL, AddResult, ApplyResult, BlocklistChanges, GuildScope

if TYPE_CHECKING:
    import builtins
    from collections.abc import AsyncIterator, Sequence
    from datetime import datetime

ENTRY_COLUMNS = "id, algorithm, value, guild_id, source, reason, added_by, added_at, allow"
_MATCH_COLUMNS = "id, algorithm, value, guild_id, allow"
_REVISION = "blocklist_revision"

_Identity = tuple[str, str, int | None, bool, str]

# One statement for a whole batch: arrays in, one row each out, in the order given (so that
# the first of repeated rows is the one that goes in, as in SQLite).
_INSERT = (
    "INSERT INTO blocklist (algorithm, value, guild_id, source, reason, added_by, added_at, allow)"
    " SELECT a, v, g, s, r, b, $7, w FROM unnest($1::text[], $2::text[], $3::bigint[],"
    " $4::text[], $5::text[], $6::text[], $8::boolean[])"
    " WITH ORDINALITY AS t(a, v, g, s, r, b, w, n)"
    " ORDER BY n ON CONFLICT DO NOTHING"
)


def _by_hash(entry: NewEntry) -> tuple[str, str]:
    return entry.algorithm.value, entry.value


def _identity(entry: NewEntry | BlocklistEntry) -> _Identity:
    return (entry.algorithm.value, entry.value, entry.guild_id, entry.allow, entry.source)


def row_entry(row: Row) -> BlocklistEntry:
    """A stored entry from a row of :data:`ENTRY_COLUMNS`."""
    return rows.entry(row, utc)


def _match_row(row: Row) -> MatchRow:
    return MatchRow(row[0], row[1], row[2], row[3], bool(row[4]))


def _check_page(limit: int, after_id: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if after_id < 0:
        raise ValueError(f"after_id must not be negative, got {after_id}")


class PostgresBlocklistStore(BlocklistStore):
    """Blocklist entries in one table; a unique index on (algorithm, value, scope, allow,
    source). Writers serialise on an advisory lock (see :data:`BLOCKLIST_LOCK`)."""

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
                    "algorithm = $1 AND value = $2 AND NOT allow"
                    " AND coalesce(guild_id, 0) = coalesce($3::bigint, 0) AND source = $4",
                    (removal.algorithm.value, removal.value, removal.guild_id, removal.source),
                )
                if not rows:
                    missing.append(removal)
                removed.extend(rows)
        return ApplyResult(added.count, added.duplicates, removed, missing)

    async def remove(self, entry_id: int) -> BlocklistEntry | None:
        async with self._db.transaction() as tx:
            rows = await delete_in(tx, "id = $1", (entry_id,))
        return rows[0] if rows else None

    async def removed_since(
        self, since: datetime, sources: Sequence[str]
    ) -> builtins.list[tuple[Algorithm, str, datetime]]:
        rows = await self._db.fetch(
            "SELECT algorithm, value, max(removed_at) AS at FROM blocklist_removed"
            " WHERE removed_at >= $1 AND source = ANY($2::text[]) GROUP BY algorithm, value"
            " ORDER BY at",
            stamp(since),
            list(sources),
        )
        return [(Algorithm(r["algorithm"]), r["value"], utc(r["at"])) for r in rows]

    async def get(self, entry_id: int) -> BlocklistEntry | None:
        row = await self._db.fetchrow(
            f"SELECT {ENTRY_COLUMNS} FROM blocklist WHERE id = $1", entry_id
        )
        return None if row is None else row_entry(row)

    async def list(
        self, *, guild_id: GuildScope = ALL, limit: int = 100, after_id: int = 0
    ) -> builtins.list[BlocklistEntry]:
        _check_page(limit, after_id)
        scope, params = scope_filter(guild_id, 3)
        rows = await self._db.fetch(
            f"SELECT {ENTRY_COLUMNS} FROM blocklist WHERE id > $1{scope} ORDER BY id LIMIT $2",
            after_id,
            limit,
            *params,
        )
        return [row_entry(r) for r in rows]

    async def iter_all(self, batch_size: int = 10_000) -> AsyncIterator[BlocklistEntry]:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        after_id = 0
        while True:
            # A pooled connection is taken per batch, never across a yield: the consumer may
            # use the same Storage between items.
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
            rows = await self._db.fetch(
                f"SELECT {_MATCH_COLUMNS} FROM blocklist WHERE id > $1 ORDER BY id LIMIT $2",
                after_id,
                batch_size,
            )
            if rows:
                yield [_match_row(r) for r in rows]
            if len(rows) < batch_size:
                return
            after_id = rows[-1][0]

    async def count(self) -> dict[str, int]:
        counts = {algorithm.value: 0 for algorithm in Algorithm}
        counts["allow"] = 0
        rows = await self._db.fetch(
            "SELECT algorithm, allow, count(*) AS n FROM blocklist GROUP BY algorithm, allow"
        )
        for row in rows:
            key = "allow" if row["allow"] else row["algorithm"]
            counts[key] = counts.get(key, 0) + int(row["n"])
        return counts

    async def changes_since(
        self, revision: int, *, limit: int = 100_000
    ) -> BlocklistChanges | None:
        # One snapshot: the feed, the rows and the revision agree.
        async with self._db.transaction(isolation="repeatable_read", readonly=True) as tx:
            found = await tx.fetchrow(
                "SELECT (SELECT value FROM counters WHERE name = $1),"
                " (SELECT value FROM counters WHERE name = 'blocklist_feed_from')",
                _REVISION,
            )
            assert found is not None
            latest, feed_from = int(found[0]), int(found[1] or 0)
            if revision < feed_from or revision > latest:
                return None
            changes = await tx.fetch(
                "SELECT first_id, last_id, removed FROM blocklist_changes WHERE revision > $1"
                " ORDER BY revision",
                revision,
            )
            added = sum(c["last_id"] - c["first_id"] + 1 for c in changes if not c["removed"])
            if added > limit:
                return None
            removed = [int(c["first_id"]) for c in changes if c["removed"]]
            rows: builtins.list[MatchRow] = []
            for change in changes:
                if change["removed"]:
                    continue
                found_rows = await tx.fetch(
                    f"SELECT {_MATCH_COLUMNS} FROM blocklist WHERE id BETWEEN $1 AND $2"
                    " ORDER BY id",
                    change["first_id"],
                    change["last_id"],
                )
                rows += [_match_row(r) for r in found_rows]
        return BlocklistChanges(latest, tuple(rows), tuple(removed))

    async def revision(self) -> int:
        row = await self._db.fetchrow("SELECT value FROM counters WHERE name = $1", _REVISION)
        return int(row["value"]) if row is not None else 0


async def _record_changes(tx: Transaction, ranges: Sequence[tuple[int, int, bool]]) -> None:
    """Bump the revision once per (first_id, last_id, removed) range and record each in the
    change feed, in order."""
    if not ranges:
        return
    await notify(tx, "blocklist")
    row = await tx.fetchrow(
        "UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value",
        _REVISION,
        len(ranges),
    )
    assert row is not None  # the counter is created with the schema
    first = int(row[0]) - len(ranges) + 1
    await tx.execute(
        "INSERT INTO blocklist_changes (revision, first_id, last_id, removed)"
        " SELECT $1 + n - 1, f, l, r FROM unnest($2::bigint[], $3::bigint[], $4::boolean[])"
        " WITH ORDINALITY AS t(f, l, r, n)",
        first,
        [r[0] for r in ranges],
        [r[1] for r in ranges],
        [r[2] for r in ranges],
    )


async def delete_in(
    tx: Transaction, where: str, params: tuple[object, ...]
) -> list[BlocklistEntry]:
    """Delete the entries ``where`` selects (its placeholders numbered from $1) inside ``tx``:
    each removal goes to the change feed (for the live index, one revision each, as in SQLite)
    and to ``blocklist_removed`` (for published feeds) with it."""
    await tx.lock(BLOCKLIST_LOCK)
    rows = await tx.fetch(f"DELETE FROM blocklist WHERE {where} RETURNING {ENTRY_COLUMNS}", *params)
    if not rows:
        return []
    rows.sort(key=lambda r: int(r["id"]))
    await _record_changes(tx, [(int(r["id"]), int(r["id"]), True) for r in rows])
    await tx.execute(
        "INSERT INTO blocklist_removed (algorithm, value, guild_id, source, removed_at)"
        " SELECT a, v, g, s, $5 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])"
        " AS t(a, v, g, s)",
        [r["algorithm"] for r in rows],
        [r["value"] for r in rows],
        [r["guild_id"] for r in rows],
        [r["source"] for r in rows],
        now(),
    )
    return [row_entry(r) for r in rows]


async def add_in(tx: Transaction, entries: Sequence[NewEntry], *, keep: bool = True) -> AddResult:
    """Add ``entries`` inside ``tx`` (see :meth:`BlocklistStore.add`): with a case's decision
    and its audit record, they commit together or not at all. ``keep=False``: the stored entries
    are only counted (``AddResult.count``), not returned (a big import needs no million
    objects)."""
    if not entries:
        return AddResult()
    await tx.lock(BLOCKLIST_LOCK)
    at = now()
    # The lock is held, so every row with an id above this one is ours.
    row = await tx.fetchrow("SELECT coalesce(max(id), 0) FROM blocklist")
    before = int(row[0]) if row is not None else 0
    # Inserted in hash order (a stable sort: of repeated rows the first still goes in), so the
    # unique index grows at its end instead of at random places.
    ordered = sorted(entries, key=_by_hash) if len(entries) > 1000 else entries
    inserted = await tx.execute(
        _INSERT,
        [e.algorithm.value for e in ordered],
        [e.value for e in ordered],
        [e.guild_id for e in ordered],
        [e.source for e in ordered],
        [e.reason for e in ordered],
        [e.added_by for e in ordered],
        at,
        [e.allow for e in ordered],
    )
    if not keep and inserted == len(entries):  # nothing was a duplicate: nothing to find
        if inserted:
            last = await tx.fetchrow("SELECT max(id) FROM blocklist")
            assert last is not None
            await _record_changes(tx, [(before + 1, int(last[0]), False)])
        return AddResult(count=inserted)
    # Only the identity and id of each new row are read back: the rest is what was given.
    rows = await tx.fetch(
        "SELECT id, algorithm, value, guild_id, allow, source FROM blocklist WHERE id > $1"
        " ORDER BY id",
        before,
    )
    if rows:
        await _record_changes(tx, [(int(rows[0][0]), int(rows[-1][0]), False)])
    fresh = {(r[1], r[2], r[3], bool(r[4]), r[5]): int(r[0]) for r in rows}
    # The first occurrence of each identity is the one that went in; any other is a duplicate.
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
