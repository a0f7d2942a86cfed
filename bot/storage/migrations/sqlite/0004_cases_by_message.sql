-- Consentry schema 4 (SQLite): find a message's case at once (a second report of the same
-- message joins the case it already has).
CREATE INDEX cases_message ON cases (guild_id, message_id, id);
