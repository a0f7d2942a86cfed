"""Persistent state behind small async interfaces: settings overrides, blocklist, cases and
their encrypted evidence, channel cursors, the durable record of work per message, audit log.

Open it with :func:`open_storage`; callers depend only on the interfaces in :mod:`bot.storage.base`.
"""

from __future__ import annotations

from bot.storage._url import parse_url
from bot.storage.base import (
    AuditLog,
    BlocklistStore,
    CaseStore,
    CursorStore,
    EnrolmentStore,
    EvidenceStore,
    SettingsStore,
    Storage,
    StorageError,
    TransitionRefused,
    WorkStore,
)
from bot.storage.base_campaigns import Campaign, CampaignPost, CampaignStore
from bot.storage.base_feeds import Feed, FeedRefresh, FeedStore, NewFeed
from bot.storage.base_reviews import Feedback, Opinion, ReviewStore
from bot.storage.base_sweeps import SweepRecord, SweepStore
from bot.storage.records import (
    ALL,
    AddResult,
    AllGuilds,
    ApplyResult,
    AuditRecord,
    AuditVerification,
    BlocklistChanges,
    Case,
    CaseEvent,
    CaseStatus,
    CopyWork,
    Effects,
    Enrolment,
    Evidence,
    GuildScope,
    NewCase,
    NewEnrolment,
    NewEvidence,
    NewWork,
    WorkItem,
    WorkState,
)

DEFAULT_POOL_SIZE = 10
"""PostgreSQL connections one process keeps at most (one of them listens for notifications)."""


async def open_storage(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Storage:
    """Open the database named by ``url``, creating and migrating it as needed.

    Accepted: ``sqlite:///absolute/path.db``, ``sqlite:relative/path.db``, a plain file path
    (``~`` expanded), ``:memory:`` (tests), or ``postgresql://user:password@host:port/database``
    (the database must exist; its tables are created). SQLite creates parent folders. Every
    failure a user can fix (bad URL, unreadable or foreign file, refused connection, failed
    authentication, schema newer than this code) is a StorageError. ``pool_size``: the most
    connections kept open to PostgreSQL (SQLite has one writer and ignores it).
    """
    target = parse_url(url)
    # Imported here so that each backend's driver is only imported by the processes using it.
    if target.backend == "postgresql":
        from bot.storage.postgres import open_postgres

        return await open_postgres(target.location, pool_size=pool_size)
    from bot.storage.sqlite import open_sqlite

    return await open_sqlite(target.location)


__all__ = [
    "ALL",
    "DEFAULT_POOL_SIZE",
    "AddResult",
    "AllGuilds",
    "ApplyResult",
    "AuditLog",
    "AuditRecord",
    "AuditVerification",
    "BlocklistChanges",
    "BlocklistStore",
    "Campaign",
    "CampaignPost",
    "CampaignStore",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "CaseStore",
    "CopyWork",
    "CursorStore",
    "Effects",
    "Enrolment",
    "EnrolmentStore",
    "Evidence",
    "EvidenceStore",
    "Feed",
    "FeedRefresh",
    "FeedStore",
    "Feedback",
    "GuildScope",
    "NewCase",
    "NewEnrolment",
    "NewEvidence",
    "NewFeed",
    "NewWork",
    "Opinion",
    "ReviewStore",
    "SettingsStore",
    "Storage",
    "StorageError",
    "SweepRecord",
    "SweepStore",
    "TransitionRefused",
    "WorkItem",
    "WorkState",
    "WorkStore",
    "open_storage",
]
