-- Consentry schema 2 (SQLite): richer cases, encrypted evidence kept with them, channel cursors.
-- ADD COLUMN with constant defaults is a metadata-only change in SQLite: existing cases read back
-- with no media, no legal hold and no alert.

-- media: JSON list, one item per piece of media in the message ({"label", "sha256", "md5",
-- "action"}); cases.sha256 stays the primary one's.
ALTER TABLE cases ADD COLUMN media TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cases ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1));
ALTER TABLE cases ADD COLUMN alert_channel_id INTEGER;
ALTER TABLE cases ADD COLUMN alert_message_id INTEGER;
CREATE INDEX cases_guild_author ON cases (guild_id, author_id, id);

-- Media bytes encrypted by the bot (storage never sees the key). Purging sets nonce and
-- ciphertext to NULL and keeps the row, so a case still shows what was kept and when it went.
CREATE TABLE evidence (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id    INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    label      TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    media_type TEXT,
    size       INTEGER NOT NULL CHECK (size >= 0),
    key_id     TEXT    NOT NULL,
    nonce      BLOB,
    ciphertext BLOB,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL,
    purged_at  TEXT,
    CHECK ((purged_at IS NULL) = (ciphertext IS NOT NULL AND nonce IS NOT NULL))
);
CREATE INDEX evidence_case ON evidence (case_id, id);
-- The purge sweep reads only live rows, oldest expiry first.
CREATE INDEX evidence_due ON evidence (expires_at, id) WHERE purged_at IS NULL;

-- The newest message seen in each channel, so that a restarted bot can catch up on what was
-- posted while it was away. Discord ids are snowflakes: later messages have larger ids.
CREATE TABLE channel_cursors (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
) WITHOUT ROWID;
CREATE INDEX channel_cursors_channel ON channel_cursors (channel_id);
