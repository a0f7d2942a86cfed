-- Consentry schema 3 (SQLite): protected members' enrolments. The descriptors are sealed by the
-- bot (AES-256-GCM with the evidence key, bound to server, member and model): storage never
-- sees them in the clear. A withdrawal deletes the row; the audit log keeps that it happened.
CREATE TABLE enrolments (
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    model      TEXT    NOT NULL,
    faces      INTEGER NOT NULL CHECK (faces BETWEEN 1 AND 5),
    key_id     TEXT    NOT NULL,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    notify     INTEGER NOT NULL DEFAULT 0 CHECK (notify IN (0, 1)),
    source     TEXT    NOT NULL CHECK (source IN ('photos', 'file')),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (guild_id, member_id)
) WITHOUT ROWID;
