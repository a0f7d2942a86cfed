"""SQLite campaigns (schema 15)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage import rows
from bot.storage.base_campaigns import Campaign, CampaignPost, CampaignStore
from bot.storage.sqlite._db import Database, Transaction, from_text, now, to_text

if TYPE_CHECKING:
    import builtins
    from datetime import timedelta

_SUMMARY = (
    "SELECT c.id, c.first_at, c.last_at, count(*) AS posts, count(DISTINCT p.author_id) AS"
    " authors, count(DISTINCT p.guild_id) AS servers FROM campaigns c JOIN campaign_posts p"
    " ON p.campaign_id = c.id WHERE c.id = ? GROUP BY c.id"
)


class SQLiteCampaignStore(CampaignStore):
    """The ``campaigns`` and ``campaign_posts`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, media_key: str, post: CampaignPost, *, window: timedelta) -> Campaign:
        at = now()
        async with self._db.transaction() as tx:
            linked = await tx.fetchone(
                "SELECT campaign_id FROM campaign_posts WHERE guild_id = ? AND message_id = ?",
                (post.guild_id, post.message_id),
            )
            if linked is not None:
                return await _summary(tx, int(linked[0]))
            row = await tx.fetchone(
                "SELECT id FROM campaigns WHERE media_key = ? AND last_at >= ?"
                " ORDER BY last_at DESC LIMIT 1",
                (media_key, to_text(at - window)),
            )
            if row is None:
                _, campaign_id = await tx.execute(
                    "INSERT INTO campaigns (media_key, first_at, last_at) VALUES (?, ?, ?)",
                    (media_key, to_text(at), to_text(at)),
                )
                assert campaign_id is not None
            else:
                campaign_id = int(row[0])
                await tx.execute(
                    "UPDATE campaigns SET last_at = ? WHERE id = ?", (to_text(at), campaign_id)
                )
            await tx.execute(
                "INSERT INTO campaign_posts (campaign_id, guild_id, channel_id, message_id,"
                " author_id, case_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    campaign_id,
                    post.guild_id,
                    post.channel_id,
                    post.message_id,
                    post.author_id,
                    post.case_id,
                    to_text(at),
                ),
            )
            return await _summary(tx, campaign_id)

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self._db.fetchone(_SUMMARY, (campaign_id,))
        return None if row is None else _campaign(row)

    async def posts(
        self, campaign_id: int, guild_id: int | None = None
    ) -> builtins.list[CampaignPost]:
        rows = await self._db.fetchall(
            "SELECT guild_id, channel_id, message_id, author_id, case_id FROM campaign_posts"
            " WHERE campaign_id = ? AND (? IS NULL OR guild_id = ?) ORDER BY at, message_id",
            (campaign_id, guild_id, guild_id),
        )
        return [CampaignPost(*(r[k] for k in range(5))) for r in rows]


async def _summary(tx: Transaction, campaign_id: int) -> Campaign:
    row = await tx.fetchone(_SUMMARY, (campaign_id,))
    assert row is not None
    return _campaign(row)


def _campaign(row: Any) -> Campaign:
    return rows.campaign(row, from_text)
