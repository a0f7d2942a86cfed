-- Consentry schema 17 (SQLite): the processes sharing this database, each with its heartbeat
-- (gateway processes with their shards, scan workers), so that gateways know whether workers
-- are alive to hand scans to, and `consentry status` shows the cluster.
CREATE TABLE processes (
    holder     TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    detail     TEXT NOT NULL,
    version    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    beat_at    TEXT NOT NULL,
    until      TEXT NOT NULL
);
