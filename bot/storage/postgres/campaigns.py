"""PostgreSQL campaigns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage import rows
from bot.storage.base_campaigns import Campaign, CampaignPost, CampaignStore
from bot.storage.postgres._db import Database, Transaction, now, utc

if TYPE_CHECKING:
    import builtins
    from datetime import timedelta

_SUMMARY = (
    "SELECT c.id, c.first_at, c.last_at, count(*) AS posts, count(DISTINCT p.author_id) AS"
    " authors, count(DISTINCT p.guild_id) AS servers FROM campaigns c JOIN campaign_posts p"
    " ON p.campaign_id = c.id WHERE c.id = $1 GROUP BY c.id"
)
# Serialises the recording of one media key's posts across processes (two servers' copies
# arriving at once must join one campaign, not start two).
_KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('campaign:' || $1, 0))"


class PostgresCampaignStore(CampaignStore):
    """The ``campaigns`` and ``campaign_posts`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, media_key: str, post: CampaignPost, *, window: timedelta) -> Campaign:
        async with self._db.transaction() as tx:
            await tx.execute(_KEY_LOCK, media_key)
            at = now()
            linked = await tx.fetchrow(
                "SELECT campaign_id FROM campaign_posts WHERE guild_id = $1 AND message_id = $2",
                post.guild_id,
                post.message_id,
            )
            if linked is not None:
                return await _summary(tx, int(linked[0]))
            row = await tx.fetchrow(
                "SELECT id FROM campaigns WHERE media_key = $1 AND last_at >= $2"
                " ORDER BY last_at DESC LIMIT 1",
                media_key,
                at - window,
            )
            if row is None:
                created = await tx.fetchrow(
                    "INSERT INTO campaigns (media_key, first_at, last_at) VALUES ($1, $2, $2)"
                    " RETURNING id",
                    media_key,
                    at,
                )
                assert created is not None
                campaign_id = int(created[0])
            else:
                campaign_id = int(row[0])
                await tx.execute("UPDATE campaigns SET last_at = $1 WHERE id = $2", at, campaign_id)
            await tx.execute(
                "INSERT INTO campaign_posts (campaign_id, guild_id, channel_id, message_id,"
                " author_id, case_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                campaign_id,
                post.guild_id,
                post.channel_id,
                post.message_id,
                post.author_id,
                post.case_id,
                at,
            )
            return await _summary(tx, campaign_id)

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self._db.fetchrow(_SUMMARY, campaign_id)
        return None if row is None else _campaign(row)

    async def posts(
        self, campaign_id: int, guild_id: int | None = None
    ) -> builtins.list[CampaignPost]:
        rows = await self._db.fetch(
            "SELECT guild_id, channel_id, message_id, author_id, case_id FROM campaign_posts"
            " WHERE campaign_id = $1 AND ($2::bigint IS NULL OR guild_id = $2)"
            " ORDER BY at, message_id",
            campaign_id,
            guild_id,
        )
        return [CampaignPost(*(r[k] for k in range(5))) for r in rows]


async def _summary(tx: Transaction, campaign_id: int) -> Campaign:
    row = await tx.fetchrow(_SUMMARY, campaign_id)
    assert row is not None
    return _campaign(row)


def _campaign(row: Any) -> Campaign:
    return rows.campaign(row, utc)
