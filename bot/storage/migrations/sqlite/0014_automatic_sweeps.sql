-- Consentry schema 14 (SQLite): automatic sweeps after new blocklist entries (retroactive
-- sweeps). reason says why one runs ('' for a moderator's /sweep); oldest_id bounds it in time:
-- older messages (smaller snowflakes) are not swept.
ALTER TABLE sweeps ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD COLUMN oldest_id INTEGER NOT NULL DEFAULT 0;
