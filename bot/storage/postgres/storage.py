"""The PostgreSQL Storage: one connection pool shared by all the stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from bot.storage.postgres.notify import CHANNEL, notify
from bot.storage.postgres.own_media import PostgresOwnMediaStore
from bot.storage.postgres.reviews import PostgresReviewStore
from bot.storage.postgres.settings import PostgresSettingsStore
from bot.storage.postgres.sweeps import PostgresSweepStore
from bot.storage.postgres.work import PostgresWorkStore
from bot.storage.store_set import StoreSet

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.storage.postgres._db import Database


class PostgresStorage(StoreSet):
    """An open PostgreSQL database: a pool of connections (lock timeout 5 s), so that the
    stores' operations run side by side, and several processes share the database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        super().__init__(
            settings=PostgresSettingsStore(db),
            blocklist=PostgresBlocklistStore(db),
            cases=PostgresCaseStore(db),
            evidence=PostgresEvidenceStore(db),
            enrolments=PostgresEnrolmentStore(db),
            cursors=PostgresCursorStore(db),
            audit=PostgresAuditLog(db),
            work=PostgresWorkStore(db),
            sweeps=PostgresSweepStore(db),
            feeds=PostgresFeedStore(db),
            own_media=PostgresOwnMediaStore(db),
            reviews=PostgresReviewStore(db),
            campaigns=PostgresCampaignStore(db),
            jobs=PostgresJobLeases(db),
        )

    @property
    def where(self) -> str:
        """The database, named without its password."""
        return self._db.where

    async def listen(self, handler: Callable[[str], None]) -> bool:
        await self._db.listen(CHANNEL, handler)
        return True

    async def notify(self, what: str) -> None:
        async with self._db.transaction() as tx:
            await notify(tx, what)

    async def close(self) -> None:
        await self._db.close()


async def open_postgres(dsn: str, *, pool_size: int) -> PostgresStorage:
    """Open the PostgreSQL database ``dsn`` names (it must exist) and migrate it as needed,
    with at most ``pool_size`` connections."""
    return PostgresStorage(await connect(dsn, pool_size=pool_size))
