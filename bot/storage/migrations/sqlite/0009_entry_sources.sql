-- Consentry schema 9 (SQLite): an entry is identified by its source too, so the same hash from two
-- lists (a StopNCII feed and a moderator's confirmation, say) is two entries, and a source that
-- withdraws its hash removes its own entry only, never another list's.
DROP INDEX blocklist_identity;
CREATE UNIQUE INDEX blocklist_identity
    ON blocklist (algorithm, value, coalesce(guild_id, 0), allow, source);
CREATE INDEX blocklist_source ON blocklist (source, id);
