-- Consentry schema 16 (SQLite): leases on background jobs (the evidence purge, feed refreshes),
-- so that with several processes on one database each job runs in one of them at a time, and a
-- process that dies mid-job lets another take it over once its lease runs out.
CREATE TABLE job_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TEXT NOT NULL
);
