-- Consentry schema 18 (SQLite): a message handed to scan workers carries what the scan needs of
-- it (its media and author, as Discord's message JSON, never its text), so that a worker scans
-- it without fetching the message again. Cleared once the message is scanned.
ALTER TABLE work ADD COLUMN handoff TEXT;
