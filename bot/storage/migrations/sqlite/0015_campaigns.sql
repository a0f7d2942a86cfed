-- Consentry schema 15 (SQLite): campaigns. The same media (one blocklist entry, or one file)
-- posted by several accounts or in several servers within a window is one campaign; every such
-- post is linked to it, whatever server it was in.
CREATE TABLE campaigns (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    media_key TEXT    NOT NULL,
    first_at  TEXT    NOT NULL,
    last_at   TEXT    NOT NULL
);
CREATE INDEX campaigns_key ON campaigns (media_key, last_at);
CREATE TABLE campaign_posts (
    campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    author_id   INTEGER NOT NULL,
    case_id     INTEGER,
    at          TEXT    NOT NULL,
    PRIMARY KEY (guild_id, message_id)
);
CREATE INDEX campaign_posts_campaign ON campaign_posts (campaign_id, guild_id);
