-- Consentry schema 10 (SQLite): hash lists that travel.
-- feeds: a hash list a server (guild_id) or the whole instance (NULL) subscribes to at an HTTPS
-- URL. Its entries carry the source 'feed:<id>'. etag and last_modified make the next refresh a
-- conditional request; a failed refresh keeps the entries of the last good copy and records why.
CREATE TABLE feeds (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER,
    url             TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    public_key      TEXT    NOT NULL DEFAULT '',
    format          TEXT    NOT NULL DEFAULT 'auto',
    refresh_seconds INTEGER NOT NULL CHECK (refresh_seconds >= 60),
    etag            TEXT    NOT NULL DEFAULT '',
    last_modified   TEXT    NOT NULL DEFAULT '',
    next_at         TEXT    NOT NULL,
    last_ok_at      TEXT,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_error_at   TEXT,
    entry_count     INTEGER NOT NULL DEFAULT 0,
    added_by        TEXT    NOT NULL DEFAULT '',
    created_at      TEXT    NOT NULL
);
CREATE UNIQUE INDEX feeds_identity ON feeds (coalesce(guild_id, 0), url);
-- blocklist_removed: what was taken out of the blocklist and when, so a published feed can
-- publish removals too (a subscriber then removes the hash as well).
CREATE TABLE blocklist_removed (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    algorithm  TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    guild_id   INTEGER,
    source     TEXT    NOT NULL,
    removed_at TEXT    NOT NULL
);
CREATE INDEX blocklist_removed_at ON blocklist_removed (removed_at);
