-- Consentry schema 6 (SQLite): the blocklist's change feed, so a running bot applies a change
-- to its index incrementally instead of rebuilding it. Each revision of the blocklist (see the
-- blocklist_revision counter) records the ids it added, as a range (a batch gets consecutive
-- ids, under the write lock), or the one id it removed.
CREATE TABLE blocklist_changes (
    revision INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    last_id  INTEGER NOT NULL,
    removed  INTEGER NOT NULL CHECK (removed IN (0, 1))
);
-- Revisions before this migration have no feed: a reader that is further behind rebuilds.
INSERT INTO counters (name, value)
    SELECT 'blocklist_feed_from', value FROM counters WHERE name = 'blocklist_revision';
