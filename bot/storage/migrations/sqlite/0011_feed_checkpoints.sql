-- Consentry schema 11 (SQLite): subscriptions to a StopNCII-style API are fetched as deltas from
-- a checkpoint (the API's nextSetTimestamp), not as snapshots; failures counts the refreshes in a
-- row that could not read past it, so an unreadable page cannot stall the fetching for good.
ALTER TABLE feeds ADD COLUMN checkpoint INTEGER NOT NULL DEFAULT 0;
ALTER TABLE feeds ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
