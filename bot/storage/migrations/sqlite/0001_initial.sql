-- Consentry schema 1 (SQLite). Timestamps are ISO-8601 UTC text; JSON is stored as text.
-- No CHECK lists hash algorithms or case statuses: changing a CHECK means rebuilding the table in
-- SQLite, and the code validates both through its enums anyway.

-- Per-server settings: only overrides of the defaults that live in code.
CREATE TABLE guild_settings (
    guild_id   INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, key)
) WITHOUT ROWID;

-- AUTOINCREMENT: an id printed in an alert or the audit log never comes back for another entry.
CREATE TABLE blocklist (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    algorithm TEXT    NOT NULL,
    value     TEXT    NOT NULL,
    guild_id  INTEGER,
    source    TEXT    NOT NULL DEFAULT 'local',
    reason    TEXT    NOT NULL DEFAULT '',
    added_by  TEXT    NOT NULL DEFAULT '',
    added_at  TEXT    NOT NULL,
    allow     INTEGER NOT NULL DEFAULT 0 CHECK (allow IN (0, 1))
);
-- NULL guild_id (instance-wide) would never collide in a plain unique index, hence coalesce;
-- Discord ids are never 0. PostgreSQL accepts the same expression index.
CREATE UNIQUE INDEX blocklist_identity ON blocklist (algorithm, value, coalesce(guild_id, 0), allow);
CREATE INDEX blocklist_guild ON blocklist (guild_id, id);

-- Named counters; blocklist_revision is bumped with every blocklist change so that other
-- processes can notice it by polling one row.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('blocklist_revision', 0);

CREATE TABLE cases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    author_id  INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    verdict    TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX cases_guild ON cases (guild_id, id);
CREATE INDEX cases_guild_status ON cases (guild_id, status, id);

CREATE TABLE case_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id  INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at       TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    previous TEXT,
    note     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- Hash-chained audit log (see bot/storage/audit_chain.py). UNIQUE prev_hash makes a forked chain
-- impossible even for a writer that forgets to serialise its appends.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,
    guild_id  INTEGER,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    details   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL UNIQUE,
    hash      TEXT    NOT NULL UNIQUE
);
CREATE INDEX audit_log_guild ON audit_log (guild_id, id);

-- Append-only against accidents; deliberate tampering (dropping these) is what the chain catches.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
