"""Records from database rows, the same for every backend: each backend passes how its
timestamps read back (SQLite: ISO text; PostgreSQL: ``timestamptz``). A row is anything read by
column name (``sqlite3.Row``, ``asyncpg.Record``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from bot.core.blocklist import Algorithm, BlocklistEntry
from bot.storage.base_campaigns import Campaign
from bot.storage.base_feeds import Feed
from bot.storage.base_reviews import Feedback, Opinion

When = Callable[[Any], datetime]
"""A backend's stored timestamp as an aware UTC datetime."""


def entry(row: Any, when: When) -> BlocklistEntry:
    """A blocklist entry."""
    return BlocklistEntry(
        id=row["id"],
        algorithm=Algorithm(row["algorithm"]),
        value=row["value"],
        guild_id=row["guild_id"],
        source=row["source"],
        reason=row["reason"],
        added_by=row["added_by"],
        added_at=when(row["added_at"]),
        allow=bool(row["allow"]),
    )


def feed(row: Any, when: When) -> Feed:
    """A subscription."""

    def maybe(key: str) -> datetime | None:
        return None if row[key] is None else when(row[key])

    return Feed(
        id=int(row["id"]),
        guild_id=row["guild_id"],
        url=row["url"],
        name=row["name"],
        public_key=row["public_key"],
        format=row["format"],
        refresh_seconds=int(row["refresh_seconds"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        next_at=when(row["next_at"]),
        last_ok_at=maybe("last_ok_at"),
        last_error=row["last_error"],
        last_error_at=maybe("last_error_at"),
        entry_count=int(row["entry_count"]),
        added_by=row["added_by"],
        created_at=when(row["created_at"]),
        checkpoint=int(row["checkpoint"]),
        failures=int(row["failures"]),
        max_pdq_distance=row["max_pdq_distance"],
        max_phash_distance=row["max_phash_distance"],
    )


def feedback(row: Any, when: When) -> Feedback:
    """A moderator's opinion of an entry."""
    return Feedback(
        entry_id=int(row["entry_id"]),
        guild_id=row["guild_id"],
        source=row["source"],
        algorithm=row["algorithm"],
        value=row["value"],
        opinion=cast(Opinion, row["opinion"]),
        note=row["note"],
        at=when(row["at"]),
    )


def campaign(row: Any, when: When) -> Campaign:
    """A campaign's spread."""
    return Campaign(
        id=int(row["id"]),
        posts=int(row["posts"]),
        authors=int(row["authors"]),
        servers=int(row["servers"]),
        first_at=when(row["first_at"]),
        last_at=when(row["last_at"]),
    )
