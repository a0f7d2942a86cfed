"""Change notifications between processes (LISTEN/NOTIFY): a transaction that changes the
blocklist or a server's settings tells every process listening, when it commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.postgres._db import Transaction

CHANNEL = "consentry"


async def notify(tx: Transaction, what: str) -> None:
    """Say ``what`` changed, on commit (PostgreSQL holds a notification until then)."""
    await tx.execute("SELECT pg_notify($1, $2)", CHANNEL, what)
