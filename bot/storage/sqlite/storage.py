"""The SQLite Storage: one connection shared by all the stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.base import (
    AuditLog,
    BlocklistStore,
    CaseStore,
    CursorStore,
    EnrolmentStore,
    EvidenceStore,
    SettingsStore,
    Storage,
    WorkStore,
)
from bot.storage.base_campaigns import CampaignStore
from bot.storage.base_feeds import FeedStore
from bot.storage.base_jobs import JobLeases
from bot.storage.base_own_media import OwnMediaStore
from bot.storage.base_reviews import ReviewStore
from bot.storage.base_sweeps import SweepStore
from bot.storage.sqlite._schema import connect
from bot.storage.sqlite.audit import SQLiteAuditLog
from bot.storage.sqlite.blocklist import SQLiteBlocklistStore
from bot.storage.sqlite.campaigns import SQLiteCampaignStore
from bot.storage.sqlite.cases import SQLiteCaseStore
from bot.storage.sqlite.cursors import SQLiteCursorStore
from bot.storage.sqlite.enrolments import SQLiteEnrolmentStore
from bot.storage.sqlite.evidence import SQLiteEvidenceStore
from bot.storage.sqlite.feeds import SQLiteFeedStore
from bot.storage.sqlite.jobs import SQLiteJobLeases
from bot.storage.sqlite.own_media import SQLiteOwnMediaStore
from bot.storage.sqlite.reviews import SQLiteReviewStore
from bot.storage.sqlite.settings import SQLiteSettingsStore
from bot.storage.sqlite.sweeps import SQLiteSweepStore
from bot.storage.sqlite.work import SQLiteWorkStore

if TYPE_CHECKING:
    from bot.storage.sqlite._db import Database


class SQLiteStorage(Storage):
    """An open SQLite database (WAL mode, foreign keys on, busy timeout 5 s)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._settings = SQLiteSettingsStore(db)
        self._blocklist = SQLiteBlocklistStore(db)
        self._cases = SQLiteCaseStore(db)
        self._evidence = SQLiteEvidenceStore(db)
        self._cursors = SQLiteCursorStore(db)
        self._enrolments = SQLiteEnrolmentStore(db)
        self._audit = SQLiteAuditLog(db)
        self._work = SQLiteWorkStore(db)
        self._sweeps = SQLiteSweepStore(db)
        self._feeds = SQLiteFeedStore(db)
        self._own_media = SQLiteOwnMediaStore(db)
        self._reviews = SQLiteReviewStore(db)
        self._campaigns = SQLiteCampaignStore(db)
        self._jobs = SQLiteJobLeases(db)

    @property
    def path(self) -> str:
        """The database file (or ``:memory:``)."""
        return self._db.path

    @property
    def settings(self) -> SettingsStore:
        return self._settings

    @property
    def blocklist(self) -> BlocklistStore:
        return self._blocklist

    @property
    def cases(self) -> CaseStore:
        return self._cases

    @property
    def evidence(self) -> EvidenceStore:
        return self._evidence

    @property
    def enrolments(self) -> EnrolmentStore:
        return self._enrolments

    @property
    def cursors(self) -> CursorStore:
        return self._cursors

    @property
    def work(self) -> WorkStore:
        return self._work

    @property
    def sweeps(self) -> SweepStore:
        return self._sweeps

    @property
    def feeds(self) -> FeedStore:
        return self._feeds

    @property
    def own_media(self) -> OwnMediaStore:
        return self._own_media

    @property
    def reviews(self) -> ReviewStore:
        return self._reviews

    @property
    def campaigns(self) -> CampaignStore:
        return self._campaigns

    @property
    def jobs(self) -> JobLeases:
        return self._jobs

    @property
    def audit(self) -> AuditLog:
        return self._audit

    async def close(self) -> None:
        await self._db.close()


async def open_sqlite(path: str) -> SQLiteStorage:
    """Open (creating and migrating if needed) the SQLite database at ``path`` or ``:memory:``."""
    return SQLiteStorage(await connect(path))
