-- Consentry schema 4 (PostgreSQL): leases on background jobs (the evidence purge, feed
-- refreshes), so that of several processes each job runs in one at a time, and a process that
-- dies mid-job lets another take it over once its lease runs out.
CREATE TABLE job_leases (
    name   TEXT        PRIMARY KEY,
    holder TEXT        NOT NULL,
    until  TIMESTAMPTZ NOT NULL
);
