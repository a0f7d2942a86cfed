"""The part every backend's Storage shares: its stores, made once and handed out."""

from __future__ import annotations

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


class StoreSet(Storage):
    """A Storage whose stores are given at construction; a backend adds how it closes."""

    def __init__(
        self,
        *,
        settings: SettingsStore,
        blocklist: BlocklistStore,
        cases: CaseStore,
        evidence: EvidenceStore,
        enrolments: EnrolmentStore,
        cursors: CursorStore,
        audit: AuditLog,
        work: WorkStore,
        sweeps: SweepStore,
        feeds: FeedStore,
        own_media: OwnMediaStore,
        reviews: ReviewStore,
        campaigns: CampaignStore,
        jobs: JobLeases,
    ) -> None:
        self._settings = settings
        self._blocklist = blocklist
        self._cases = cases
        self._evidence = evidence
        self._enrolments = enrolments
        self._cursors = cursors
        self._audit = audit
        self._work = work
        self._sweeps = sweeps
        self._feeds = feeds
        self._own_media = own_media
        self._reviews = reviews
        self._campaigns = campaigns
        self._jobs = jobs

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
    def audit(self) -> AuditLog:
        return self._audit

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
