"""PostgreSQL hash-list subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage import rows
from bot.storage.base_feeds import Feed, FeedRefresh, FeedStore, NewFeed
from bot.storage.postgres._db import Database, Transaction, now, stamp, utc
from bot.storage.postgres.audit import append_in
from bot.storage.postgres.blocklist import add_in, delete_in
from bot.storage.records import ALL, GuildScope

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
# What a good copy no longer lists: an anti-join against the copy passed as two arrays (the
# planner hashes them), rather than a Python set of every stored hash.
_NOT_IN_COPY = (
    "source = $1 AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS c(a, v)"
    " WHERE c.a = blocklist.algorithm AND c.v = blocklist.value)"
)


class PostgresFeedStore(FeedStore):
    """The ``feeds`` table; a feed's entries are the blocklist rows of its source."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def subscribe(self, new: NewFeed) -> Feed | None:
        at = now()
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO feeds (guild_id, url, name, public_key, format, refresh_seconds,"
                " next_at, added_by, created_at, max_pdq_distance, max_phash_distance)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $9, $10)"
                f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                new.guild_id,
                new.url,
                new.name,
                new.public_key,
                new.format,
                new.refresh_seconds,
                at,
                new.added_by,
                new.max_pdq_distance,
                new.max_phash_distance,
            )
            if row is None:
                return None
            feed = _feed(row)
            await _audit(tx, feed, new.added_by, "feed.subscribed", {"url": feed.url})
        return feed

    async def unsubscribe(self, feed_id: int, *, actor: str) -> Feed | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                f"DELETE FROM feeds WHERE id = $1 RETURNING {_COLUMNS}", feed_id
            )
            if row is None:
                return None
            feed = _feed(row)
            removed = await delete_in(tx, "source = $1", (feed.source,))
            details = {"url": feed.url, "entries_removed": len(removed)}
            await _audit(tx, feed, actor, "feed.unsubscribed", details)
        return feed

    async def get(self, feed_id: int) -> Feed | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM feeds WHERE id = $1", feed_id)
        return None if row is None else _feed(row)

    async def list(self, guild_id: GuildScope) -> builtins.list[Feed]:
        if guild_id is ALL:
            rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM feeds ORDER BY id")
        else:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM feeds"
                " WHERE coalesce(guild_id, 0) = coalesce($1::bigint, 0) ORDER BY id",
                guild_id,
            )
        return [_feed(r) for r in rows]

    async def due(self, at: datetime) -> builtins.list[Feed]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM feeds WHERE next_at <= $1 ORDER BY next_at, id", stamp(at)
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
            gone = await delete_in(
                tx,
                _NOT_IN_COPY,
                (feed.source, [e.algorithm.value for e in kept], [e.value for e in kept]),
            )
            added = await add_in(tx, kept, keep=False)
            count = await _count(tx, feed)
            await tx.execute(
                "UPDATE feeds SET etag = $1, last_modified = $2, next_at = $3, last_ok_at = $4,"
                " last_error = '', failures = 0, entry_count = $5 WHERE id = $6",
                etag,
                last_modified,
                stamp(next_at),
                now(),
                count,
                feed_id,
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
                        "source = $1 AND algorithm = $2 AND value = $3",
                        (feed.source, removal.algorithm.value, removal.value),
                    )
                )
            count = await _count(tx, feed)
            # While pages follow, the feed stays due: the next page is fetched at once.
            due = stamp(next_at) if next_at is not None else feed.next_at
            at = now()
            await tx.execute(
                "UPDATE feeds SET checkpoint = $1, next_at = $2, last_ok_at = $3,"
                " last_error = $4,"
                " last_error_at = CASE WHEN $5 = '' THEN last_error_at ELSE $3 END,"
                " failures = 0, entry_count = $6 WHERE id = $7",
                checkpoint,
                due,
                at,
                note[:500],
                note,
                count,
                feed_id,
            )
            result = FeedRefresh(added.count, gone, count)
            details = {"added": result.added, "removed": gone, "entries": count}
            details["checkpoint"] = checkpoint
            await _audit(tx, feed, "consentry", "feed.refreshed", details)
        return result

    async def not_modified(self, feed_id: int, *, next_at: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE feeds SET next_at = $1, last_ok_at = $2, last_error = '', failures = 0"
                " WHERE id = $3",
                stamp(next_at),
                now(),
                feed_id,
            )

    async def failed(
        self, feed_id: int, error: str, *, next_at: datetime, skip_to: int | None = None
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE feeds SET next_at = $1, last_error = $2, last_error_at = $3,"
                " failures = CASE WHEN $4::bigint IS NULL THEN failures + 1 ELSE 0 END,"
                " checkpoint = coalesce($4::bigint, checkpoint) WHERE id = $5",
                stamp(next_at),
                error[:500],
                now(),
                skip_to,
                feed_id,
            )


async def _locked(tx: Transaction, feed_id: int) -> Feed:
    """The feed, its row locked until ``tx`` ends: two processes refreshing one feed at once
    apply their copies one after the other."""
    row = await tx.fetchrow(f"SELECT {_COLUMNS} FROM feeds WHERE id = $1 FOR UPDATE", feed_id)
    if row is None:
        raise KeyError(f"feed {feed_id} is gone")
    return _feed(row)


async def _count(tx: Transaction, feed: Feed) -> int:
    row = await tx.fetchrow("SELECT count(*) FROM blocklist WHERE source = $1", feed.source)
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
    return rows.feed(row, utc)
