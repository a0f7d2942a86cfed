-- Consentry schema 13 (SQLite): safeguards for shared lists.
-- entry_reviews: an entry that only flags for now, instance-wide (guild_id 0: the flood guard
-- held it) or in one server (a moderator disputed it), or that a server's moderator confirmed
-- (which lifts a hold there). entry_feedback: every confirmation and dispute, with the entry's
-- source and hash, so a publisher can be told (they outlive the entry).
CREATE TABLE entry_reviews (
    entry_id INTEGER NOT NULL,
    guild_id INTEGER NOT NULL,
    state    TEXT    NOT NULL CHECK (state IN ('held', 'disputed', 'confirmed')),
    reason   TEXT    NOT NULL DEFAULT '',
    at       TEXT    NOT NULL,
    PRIMARY KEY (entry_id, guild_id)
);
CREATE TABLE entry_feedback (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id  INTEGER NOT NULL,
    guild_id  INTEGER,
    source    TEXT    NOT NULL,
    algorithm TEXT    NOT NULL,
    value     TEXT    NOT NULL,
    opinion   TEXT    NOT NULL CHECK (opinion IN ('confirmed', 'disputed')),
    note      TEXT    NOT NULL DEFAULT '',
    actor     TEXT    NOT NULL,
    at        TEXT    NOT NULL
);
CREATE INDEX entry_feedback_source ON entry_feedback (source, id);
-- A list from a noisy source can demand closer matches than the instance's thresholds.
ALTER TABLE feeds ADD COLUMN max_pdq_distance INTEGER;
ALTER TABLE feeds ADD COLUMN max_phash_distance INTEGER;
