-- Consentry schema 7 (SQLite): the action-ladder step due on a confirmed case's author is an
-- effect of the work record too (timeout:<minutes> or kick; '' when none is due), so a crash
-- between the confirmation and the timeout resumes it instead of losing it.
ALTER TABLE work ADD COLUMN ladder TEXT NOT NULL DEFAULT '';
