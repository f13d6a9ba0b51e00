-- The PostgreSQL schema: the same tables as the SQLite store, plus the
-- constraints that let several replicas share one database safely.
-- Times are Unix milliseconds (BIGINT) from the database's clock.

-- Exclusion constraints over (text, range) need btree_gist; it is a trusted
-- extension, so a database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team', 'business')),
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    email         TEXT NOT NULL,
    email_norm    TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE login_failures (
    email_norm  TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX login_failures_by_email ON login_failures (email_norm, at);

CREATE TABLE agents (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    name          TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('enforce', 'observe')),
    key_hash      BYTEA NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    deleted_at    BIGINT
);
CREATE INDEX agents_by_workspace ON agents (workspace_id, seq);

-- A protected resource: every resource ever claimed in a workspace. Its row
-- carries the fencing counter, so tokens keep increasing across releases.
CREATE TABLE resources (
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id),
    resource            TEXT NOT NULL,
    last_fencing_token  BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, resource)
);

CREATE TABLE runs (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    run_id        TEXT NOT NULL,
    resource      TEXT NOT NULL,
    mode          TEXT NOT NULL,
    decision      TEXT NOT NULL,
    ttl_seconds   INTEGER NOT NULL,
    -- Observe runs have no claim; this is their nominal deadline.
    expires_at    BIGINT,
    would_block   BOOLEAN NOT NULL,
    reason        JSONB,
    retry_after   BIGINT,
    purpose       TEXT,
    metadata      JSONB,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    outcome       TEXT,
    summary       TEXT,
    released      BOOLEAN,
    UNIQUE (agent_id, run_id)
);
CREATE INDEX runs_by_workspace ON runs (workspace_id, seq);
CREATE INDEX runs_by_resource ON runs (workspace_id, resource, seq);

CREATE TABLE claims (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    resource        TEXT NOT NULL,
    run_seq         BIGINT NOT NULL UNIQUE REFERENCES runs (seq),
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    fencing_token   BIGINT NOT NULL,
    ttl_seconds     INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    released_at     BIGINT,
    release_reason  TEXT,
    expiry_recorded BOOLEAN NOT NULL DEFAULT false,
    UNIQUE (workspace_id, resource, fencing_token),
    -- The guarantee itself, kept by the database whatever a replica does:
    -- no two claims on one resource are ever live at the same moment. A
    -- claim is live from its grant until it lapses or is released.
    CONSTRAINT one_live_claim_per_resource EXCLUDE USING gist (
        workspace_id WITH =,
        resource WITH =,
        int8range(created_at, LEAST(expires_at, released_at)) WITH &&
    )
);
CREATE INDEX claims_open_by_resource ON claims (workspace_id, resource, expires_at)
    WHERE released_at IS NULL;
CREATE INDEX claims_open_by_workspace ON claims (workspace_id, expires_at)
    WHERE released_at IS NULL;
CREATE INDEX claims_by_agent ON claims (agent_id) WHERE released_at IS NULL;
CREATE INDEX claims_unswept ON claims (expires_at)
    WHERE released_at IS NULL AND NOT expiry_recorded;

-- Availability holds on half-open windows [start_at, end_at).
CREATE TABLE holds (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
    resource         TEXT NOT NULL,
    start_at         BIGINT NOT NULL,
    end_at           BIGINT NOT NULL,
    purpose          TEXT,
    holder_type      TEXT NOT NULL CHECK (holder_type IN ('agent', 'user')),
    holder_id        TEXT NOT NULL,
    holder_name      TEXT NOT NULL,
    -- Tentative holds lapse at expires_at; NULL holds until released.
    expires_at       BIGINT,
    idempotency_key  TEXT,
    created_at       BIGINT NOT NULL,
    released_at      BIGINT,
    -- Set (under the resource's lock) once a tentative hold has lapsed, so
    -- the exclusion constraint below stops counting it.
    lapsed           BOOLEAN NOT NULL DEFAULT false,
    expiry_recorded  BOOLEAN NOT NULL DEFAULT false,
    CHECK (end_at > start_at),
    UNIQUE (workspace_id, holder_id, idempotency_key),
    CONSTRAINT no_overlapping_live_holds EXCLUDE USING gist (
        workspace_id WITH =,
        resource WITH =,
        int8range(start_at, end_at) WITH &&
    ) WHERE (released_at IS NULL AND NOT lapsed)
);
CREATE INDEX holds_open_by_resource ON holds (workspace_id, resource, start_at)
    WHERE released_at IS NULL;
CREATE INDEX holds_by_workspace ON holds (workspace_id, seq);
CREATE INDEX holds_unswept ON holds (expires_at)
    WHERE released_at IS NULL AND expires_at IS NOT NULL AND NOT expiry_recorded;

-- Runtime traffic: what agents called and what they were told.
CREATE TABLE activity (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    workspace_id  TEXT NOT NULL,
    at            BIGINT NOT NULL,
    agent_id      TEXT,
    agent_name    TEXT,
    kind          TEXT NOT NULL,
    resource      TEXT,
    decision      TEXT,
    run_id        TEXT,
    detail        JSONB NOT NULL
);
CREATE INDEX activity_by_workspace ON activity (workspace_id, seq);
CREATE INDEX activity_by_time ON activity (at);

-- Governance events, with their actor. Kept forever.
CREATE TABLE audit (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    workspace_id  TEXT,
    at            BIGINT NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    action        TEXT NOT NULL,
    resource      TEXT,
    detail        JSONB NOT NULL
);
CREATE INDEX audit_by_workspace ON audit (workspace_id, seq);
