"""The embedded SQLite backend (aiosqlite, WAL)."""

from bot.storage.sqlite.storage import SQLiteStorage, open_sqlite

__all__ = ["SQLiteStorage", "open_sqlite"]
