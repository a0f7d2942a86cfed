"""Publishing an instance's confirmed hashes as a signed feed (``consentry feed publish``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.core.blocklist import Algorithm
from bot.core.signed_feed import FeedItem, sign
from bot.storage import Storage

SHARED_SOURCES = ("case", "cli", "discord")
"""What a feed publishes by default: hashes this instance's moderators confirmed (``case``) or
added themselves (``cli``, ``discord``), never lists it got from elsewhere (feeds, imports)."""
REMOVALS_DAYS = 90
"""How far back a feed lists removals: a subscriber that refreshes at least this often sees
every one."""


async def publish(
    storage: Storage,
    key: Ed25519PrivateKey,
    *,
    publisher: str,
    label: str = "ncii",
    sources: Sequence[str] = SHARED_SOURCES,
    removals_days: int = REMOVALS_DAYS,
    at: datetime | None = None,
) -> tuple[str, int, int]:
    """The signed feed of ``sources``' blocking hashes (every scope, each hash once) and of those
    removed in the last ``removals_days`` days; with its entry and removal counts. Only hashes,
    ``label`` and timestamps are written: no media, reasons, user or server ids."""
    now = at or datetime.now(UTC)
    first_seen: dict[tuple[Algorithm, str], datetime] = {}
    async for entry in storage.blocklist.iter_all():
        if entry.source not in sources or entry.allow or entry.algorithm.semantic:
            continue
        key_ = (entry.algorithm, entry.value)
        if key_ not in first_seen or entry.added_at < first_seen[key_]:
            first_seen[key_] = entry.added_at
    since = now - timedelta(days=removals_days)
    removed = [
        FeedItem(algorithm, value, when)
        for algorithm, value, when in await storage.blocklist.removed_since(since, sources)
        if (algorithm, value) not in first_seen and not algorithm.semantic
    ]
    entries = [FeedItem(a, v, when, label) for (a, v), when in first_seen.items()]
    return sign(key, publisher, entries, removed, now), len(entries), len(removed)
