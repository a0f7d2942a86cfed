-- Consentry schema 12 (SQLite): hashes members registered of their own media (/protect media).
-- The entries themselves are ordinary blocklist rows of the server, source 'member', so
-- moderators see hashes and counts but not whose they are; this table alone says which member
-- registered which entry, so that they (and only they) can list and withdraw them. Two members
-- registering one hash share the entry, which goes when its last registration does.
CREATE TABLE own_media (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    entry_id   INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id, entry_id)
);
CREATE INDEX own_media_entry ON own_media (entry_id);
