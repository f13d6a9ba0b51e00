-- Availability holds on half-open windows [start_at, end_at).
CREATE TABLE holds (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
    resource         TEXT NOT NULL,
    start_at         INTEGER NOT NULL,
    end_at           INTEGER NOT NULL,
    purpose          TEXT,
    holder_type      TEXT NOT NULL CHECK (holder_type IN ('agent', 'user')),
    holder_id        TEXT NOT NULL,
    holder_name      TEXT NOT NULL,
    -- Tentative holds lapse at expires_at; NULL holds until released.
    expires_at       INTEGER,
    idempotency_key  TEXT,
    created_at       INTEGER NOT NULL,
    released_at      INTEGER,
    expiry_recorded  INTEGER NOT NULL DEFAULT 0,
    CHECK (end_at > start_at),
    UNIQUE (workspace_id, holder_id, idempotency_key)
);
CREATE INDEX holds_open_by_resource ON holds (workspace_id, resource, start_at)
    WHERE released_at IS NULL;
CREATE INDEX holds_by_workspace ON holds (workspace_id, seq);
CREATE INDEX holds_unswept ON holds (expires_at)
    WHERE released_at IS NULL AND expires_at IS NOT NULL AND expiry_recorded = 0;

-- The sweeper looks for lapsed claims whose expiry is not yet recorded.
CREATE INDEX claims_unswept ON claims (expires_at)
    WHERE released_at IS NULL AND expiry_recorded = 0;

-- Retention pruning reads activity by time.
CREATE INDEX activity_by_time ON activity (at);
