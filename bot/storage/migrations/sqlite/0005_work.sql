-- Consentry schema 5 (SQLite): the durable record of work per message. A message with media is
-- recorded when it is seen; each step (scanned and decided; case, evidence and audit stored;
-- deleted; alerted) is recorded as it completes, so a restarted bot resumes unfinished work
-- instead of losing or repeating it. One record per (server, message).
-- state: scan | act | done | gone | failed (bot/storage/records.py, WorkState).
-- media: JSON list of the media seen (URLs without their query strings).
CREATE TABLE work (
    guild_id   INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    media      TEXT    NOT NULL DEFAULT '[]',
    case_id    INTEGER REFERENCES cases (id) ON DELETE SET NULL,
    delete_due INTEGER NOT NULL DEFAULT 0 CHECK (delete_due IN (0, 1)),
    alert_due  INTEGER NOT NULL DEFAULT 0 CHECK (alert_due IN (0, 1)),
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_at    TEXT    NOT NULL,
    error      TEXT    NOT NULL DEFAULT '',
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, message_id)
) WITHOUT ROWID;
-- What is due, and per channel the oldest unfinished message: unfinished records only.
CREATE INDEX work_due ON work (next_at) WHERE state IN ('scan', 'act');
CREATE INDEX work_unfinished ON work (guild_id, channel_id, message_id) WHERE state IN ('scan', 'act');
CREATE INDEX work_finished ON work (updated_at) WHERE state NOT IN ('scan', 'act');
