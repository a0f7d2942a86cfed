"""The PostgreSQL Storage: one connection pool shared by all the stores."""

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
from bot.storage.postgres._schema import connect
from bot.storage.postgres.audit import PostgresAuditLog
from bot.storage.postgres.blocklist import PostgresBlocklistStore
from bot.storage.postgres.campaigns import PostgresCampaignStore
from bot.storage.postgres.cases import PostgresCaseStore
from bot.storage.postgres.cursors import PostgresCursorStore
from bot.storage.postgres.enrolments import PostgresEnrolmentStore
from bot.storage.postgres.evidence import PostgresEvidenceStore
from bot.storage.postgres.feeds import PostgresFeedStore
from bot.storage.postgres.jobs import PostgresJobLeases
from bot.storage.postgres.notify import CHANNEL
from bot.storage.postgres.own_media import PostgresOwnMediaStore
from bot.storage.postgres.reviews import PostgresReviewStore
from bot.storage.postgres.settings import PostgresSettingsStore
from bot.storage.postgres.sweeps import PostgresSweepStore
from bot.storage.postgres.work import PostgresWorkStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.storage.postgres._db import Database


class PostgresStorage(Storage):
    """An open PostgreSQL database: a pool of connections (lock timeout 5 s), so that the
    stores' operations run side by side, and several processes share the database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._settings = PostgresSettingsStore(db)
        self._blocklist = PostgresBlocklistStore(db)
        self._cases = PostgresCaseStore(db)
        self._evidence = PostgresEvidenceStore(db)
        self._cursors = PostgresCursorStore(db)
        self._enrolments = PostgresEnrolmentStore(db)
        self._audit = PostgresAuditLog(db)
        self._work = PostgresWorkStore(db)
        self._sweeps = PostgresSweepStore(db)
        self._feeds = PostgresFeedStore(db)
        self._own_media = PostgresOwnMediaStore(db)
        self._reviews = PostgresReviewStore(db)
        self._campaigns = PostgresCampaignStore(db)
        self._jobs = PostgresJobLeases(db)

    @property
    def where(self) -> str:
        """The database, named without its password."""
        return self._db.where

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

    async def listen(self, handler: Callable[[str], None]) -> bool:
        await self._db.listen(CHANNEL, handler)
        return True

    async def close(self) -> None:
        await self._db.close()


async def open_postgres(dsn: str) -> PostgresStorage:
    """Open the PostgreSQL database ``dsn`` names (it must exist) and migrate it as needed."""
    return PostgresStorage(await connect(dsn))
