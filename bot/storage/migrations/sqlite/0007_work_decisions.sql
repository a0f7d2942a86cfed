-- Consentry schema 7 (SQLite): a moderator's decision has effects of its own in the work
-- record, so a crash between the decision and its effect resumes it instead of losing it:
-- ladder, the action-ladder step due on a confirmed case's author (timeout:<minutes> or kick;
-- '' when none is due); repost_due, a restored case's media still to be reposted.
ALTER TABLE work ADD COLUMN ladder TEXT NOT NULL DEFAULT '';
ALTER TABLE work ADD COLUMN repost_due INTEGER NOT NULL DEFAULT 0 CHECK (repost_due IN (0, 1));
