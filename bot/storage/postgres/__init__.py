"""The PostgreSQL backend (asyncpg): many processes share one database."""

from bot.storage.postgres.storage import PostgresStorage, open_postgres

__all__ = ["PostgresStorage", "open_postgres"]
