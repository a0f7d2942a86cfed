-- Consentry schema 2 (PostgreSQL): the durable record of work per message and the sweeps under
-- way (SQLite's schemas 5, 7, 8 and 14). Scan workers in several processes claim due records
-- with FOR UPDATE SKIP LOCKED; a lease is next_at moved into the future.
-- state: scan | act | done | gone | failed (bot/storage/records.py, WorkState).
CREATE TABLE work (
    guild_id   BIGINT      NOT NULL,
    message_id BIGINT      NOT NULL,
    channel_id BIGINT      NOT NULL,
    state      TEXT        NOT NULL,
    media      TEXT[]      NOT NULL DEFAULT '{}',
    case_id    BIGINT REFERENCES cases (id) ON DELETE SET NULL,
    delete_due BOOLEAN     NOT NULL DEFAULT FALSE,
    alert_due  BOOLEAN     NOT NULL DEFAULT FALSE,
    attempts   INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at    TIMESTAMPTZ NOT NULL,
    error      TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    -- The action-ladder step due on a confirmed case's author ('' when none is due).
    ladder     TEXT        NOT NULL DEFAULT '',
    repost_due BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (guild_id, message_id)
);
CREATE INDEX work_due ON work (next_at, message_id) WHERE state IN ('scan', 'act');
CREATE INDEX work_unfinished ON work (guild_id, channel_id, message_id)
    WHERE state IN ('scan', 'act');
CREATE INDEX work_finished ON work (updated_at) WHERE state NOT IN ('scan', 'act');

-- A history sweep under way, one per server; the row goes when the sweep ends, in the same
-- transaction as its sweep.finished audit record.
CREATE TABLE sweeps (
    guild_id          BIGINT      PRIMARY KEY,
    started_by        BIGINT      NOT NULL,
    channel_ids       BIGINT[]    NOT NULL,
    per_channel       INTEGER     NOT NULL CHECK (per_channel > 0),
    notice_channel_id BIGINT,
    notice_message_id BIGINT,
    channel_index     INTEGER     NOT NULL DEFAULT 0,
    before_id         BIGINT      NOT NULL DEFAULT 0,
    taken             INTEGER     NOT NULL DEFAULT 0,
    scanned           INTEGER     NOT NULL DEFAULT 0,
    acted             INTEGER     NOT NULL DEFAULT 0,
    started_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    -- Why an automatic sweep runs ('' for a moderator's /sweep); older messages are not swept.
    reason            TEXT        NOT NULL DEFAULT '',
    oldest_id         BIGINT      NOT NULL DEFAULT 0
);
