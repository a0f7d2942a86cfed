"""SQLite hash-list subscriptions (schema 10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage import rows
from bot.storage.base_feeds import Feed, FeedRefresh, FeedStore, NewFeed
from bot.storage.records import ALL, GuildScope
from bot.storage.sqlite._db import Database, Transaction, from_text, now, to_text
from bot.storage.sqlite.audit import append_in
from bot.storage.sqlite.blocklist import add_in, delete_in

if TYPE_CHECKING:
    import builtins
    from collections.abc import Sequence
    from datetime import datetime

    from bot.core.blocklist import NewEntry
    from bot.core.hash_lists import Removal

_COLUMNS = (
    "id, guild_id, url, name, public_key, format, refresh_seconds, etag, last_modified, next_at,"
    " last_ok_at, last_error, last_error_at, entry_count, added_by, created_at, checkpoint,"
    " failures, max_pdq_distance, max_phash_distance"
)


class SQLiteFeedStore(FeedStore):
    """The ``feeds`` table; a feed's entries are the blocklist rows of its source."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def subscribe(self, new: NewFeed) -> Feed | None:
        at = to_text(now())
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO feeds (guild_id, url, name, public_key, format, refresh_seconds,"
                " next_at, added_by, created_at, max_pdq_distance, max_phash_distance)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                (
                    new.guild_id,
                    new.url,
                    new.name,
                    new.public_key,
                    new.format,
                    new.refresh_seconds,
                    at,
                    new.added_by,
                    at,
                    new.max_pdq_distance,
                    new.max_phash_distance,
                ),
            )
            if row is None:
                return None
            feed = _feed(row)
            await _audit(tx, feed, new.added_by, "feed.subscribed", {"url": feed.url})
        return feed

    async def unsubscribe(self, feed_id: int, *, actor: str) -> Feed | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                f"DELETE FROM feeds WHERE id = ? RETURNING {_COLUMNS}", (feed_id,)
            )
            if row is None:
                return None
            feed = _feed(row)
            removed = await delete_in(tx, "source = ?", (feed.source,))
            details = {"url": feed.url, "entries_removed": len(removed)}
            await _audit(tx, feed, actor, "feed.unsubscribed", details)
        return feed

    async def get(self, feed_id: int) -> Feed | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM feeds WHERE id = ?", (feed_id,))
        return None if row is None else _feed(row)

    async def list(self, guild_id: GuildScope) -> builtins.list[Feed]:
        if guild_id is ALL:
            rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM feeds ORDER BY id")
        else:
            rows = await self._db.fetchall(
                f"SELECT {_COLUMNS} FROM feeds WHERE coalesce(guild_id, 0) = coalesce(?, 0)"
                " ORDER BY id",
                (guild_id,),
            )
        return [_feed(r) for r in rows]

    async def due(self, at: datetime) -> builtins.list[Feed]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM feeds WHERE next_at <= ? ORDER BY next_at", (to_text(at),)
        )
        return [_feed(r) for r in rows]

    async def refreshed(
        self,
        feed_id: int,
        entries: Sequence[NewEntry],
        removals: Sequence[Removal],
        *,
        etag: str,
        last_modified: str,
        next_at: datetime,
    ) -> FeedRefresh:
        withdrawn = {(r.algorithm.value, r.value) for r in removals}
        kept = [e for e in entries if (e.algorithm.value, e.value) not in withdrawn]
        async with self._db.transaction() as tx:
            feed = await _locked(tx, feed_id)
            # The copy is the whole list: what it no longer lists goes, found by one anti-join
            # against a temporary table rather than a Python set of every stored hash.
            await tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS feed_copy (algorithm TEXT, value TEXT,"
                " PRIMARY KEY (algorithm, value)) WITHOUT ROWID"
            )
            await tx.execute("DELETE FROM feed_copy")
            await tx.executemany(
                "INSERT OR IGNORE INTO feed_copy VALUES (?, ?)",
                ((e.algorithm.value, e.value) for e in kept),
            )
            gone = await delete_in(
                tx,
                "source = ? AND NOT EXISTS (SELECT 1 FROM feed_copy c WHERE"
                " c.algorithm = blocklist.algorithm AND c.value = blocklist.value)",
                (feed.source,),
            )
            added = await add_in(tx, kept, keep=False)
            await tx.execute("DELETE FROM feed_copy")
            count = await _count(tx, feed)
            await tx.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, next_at = ?, last_ok_at = ?,"
                " last_error = '', failures = 0, entry_count = ? WHERE id = ?",
                (etag, last_modified, to_text(next_at), to_text(now()), count, feed_id),
            )
            result = FeedRefresh(added.count, len(gone), count)
            details = {"added": result.added, "removed": result.removed, "entries": count}
            await _audit(tx, feed, "consentry", "feed.refreshed", details)
        return result

    async def delta(
        self,
        feed_id: int,
        entries: Sequence[NewEntry],
        removals: Sequence[Removal],
        *,
        checkpoint: int,
        next_at: datetime | None,
        note: str = "",
    ) -> FeedRefresh:
        async with self._db.transaction() as tx:
            feed = await _locked(tx, feed_id)
            added = await add_in(tx, entries, keep=False)
            gone = 0
            for removal in removals:
                gone += len(
                    await delete_in(
                        tx,
                        "source = ? AND algorithm = ? AND value = ?",
                        (feed.source, removal.algorithm.value, removal.value),
                    )
                )
            count = await _count(tx, feed)
            # While pages follow, the feed stays due: the next page is fetched at once.
            due = to_text(next_at) if next_at is not None else to_text(feed.next_at)
            await tx.execute(
                "UPDATE feeds SET checkpoint = ?, next_at = ?, last_ok_at = ?, last_error = ?,"
                " last_error_at = CASE WHEN ? = '' THEN last_error_at ELSE ? END,"
                " failures = 0, entry_count = ? WHERE id = ?",
                (checkpoint, due, to_text(now()), note[:500], note, to_text(now()), count, feed_id),
            )
            result = FeedRefresh(added.count, gone, count)
            details = {"added": result.added, "removed": gone, "entries": count}
            details["checkpoint"] = checkpoint
            await _audit(tx, feed, "consentry", "feed.refreshed", details)
        return result

    async def not_modified(self, feed_id: int, *, next_at: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE feeds SET next_at = ?, last_ok_at = ?, last_error = '', failures = 0"
                " WHERE id = ?",
                (to_text(next_at), to_text(now()), feed_id),
            )

    async def failed(
        self, feed_id: int, error: str, *, next_at: datetime, skip_to: int | None = None
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE feeds SET next_at = ?, last_error = ?, last_error_at = ?,"
                " failures = CASE WHEN ? IS NULL THEN failures + 1 ELSE 0 END,"
                " checkpoint = coalesce(?, checkpoint) WHERE id = ?",
                (to_text(next_at), error[:500], to_text(now()), skip_to, skip_to, feed_id),
            )


async def _locked(tx: Transaction, feed_id: int) -> Feed:
    row = await tx.fetchone(f"SELECT {_COLUMNS} FROM feeds WHERE id = ?", (feed_id,))
    if row is None:
        raise KeyError(f"feed {feed_id} is gone")
    return _feed(row)


async def _count(tx: Transaction, feed: Feed) -> int:
    row = await tx.fetchone("SELECT count(*) FROM blocklist WHERE source = ?", (feed.source,))
    return int(row[0]) if row is not None else 0


async def _audit(
    tx: Transaction, feed: Feed, actor: str, action: str, details: dict[str, Any]
) -> None:
    await append_in(
        tx,
        guild_id=feed.guild_id,
        actor=actor,
        action=action,
        subject=f"feed {feed.id}",
        details=details,
    )


def _feed(row: Any) -> Feed:
    return rows.feed(row, from_text)
