-- Consentry schema 8 (SQLite): a history sweep under way, one per server, so that a sweep outlives
-- a restart: the next start carries on where it stopped. position: the channel being swept (an
-- index into channel_ids), the oldest message of it swept so far (before_id, 0 when none yet)
-- and how many of its messages are done (taken). The row goes when the sweep ends, in the same
-- transaction as its sweep.finished audit record.
CREATE TABLE sweeps (
    guild_id INTEGER PRIMARY KEY,
    started_by INTEGER NOT NULL,
    channel_ids TEXT NOT NULL,
    per_channel INTEGER NOT NULL CHECK (per_channel > 0),
    notice_channel_id INTEGER,
    notice_message_id INTEGER,
    channel_index INTEGER NOT NULL DEFAULT 0,
    before_id INTEGER NOT NULL DEFAULT 0,
    taken INTEGER NOT NULL DEFAULT 0,
    scanned INTEGER NOT NULL DEFAULT 0,
    acted INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
