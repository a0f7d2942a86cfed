"""The SQLite Storage: one connection shared by all the stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from bot.storage.store_set import StoreSet

if TYPE_CHECKING:
    from bot.storage.sqlite._db import Database


class SQLiteStorage(StoreSet):
    """An open SQLite database (WAL mode, foreign keys on, busy timeout 5 s)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        super().__init__(
            settings=SQLiteSettingsStore(db),
            blocklist=SQLiteBlocklistStore(db),
            cases=SQLiteCaseStore(db),
            evidence=SQLiteEvidenceStore(db),
            enrolments=SQLiteEnrolmentStore(db),
            cursors=SQLiteCursorStore(db),
            audit=SQLiteAuditLog(db),
            work=SQLiteWorkStore(db),
            sweeps=SQLiteSweepStore(db),
            feeds=SQLiteFeedStore(db),
            own_media=SQLiteOwnMediaStore(db),
            reviews=SQLiteReviewStore(db),
            campaigns=SQLiteCampaignStore(db),
            jobs=SQLiteJobLeases(db),
        )

    @property
    def path(self) -> str:
        """The database file (or ``:memory:``)."""
        return self._db.path

    async def close(self) -> None:
        await self._db.close()


async def open_sqlite(path: str) -> SQLiteStorage:
    """Open (creating and migrating if needed) the SQLite database at ``path`` or ``:memory:``."""
    return SQLiteStorage(await connect(path))
