-- Times are Unix milliseconds (INTEGER). Ids are prefixed random strings.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team', 'business')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    email         TEXT NOT NULL,
    email_norm    TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE login_failures (
    email_norm  TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX login_failures_by_email ON login_failures (email_norm, at);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    name          TEXT NOT NULL,
    mode          TEXT NOT NULL CHECK (mode IN ('enforce', 'observe')),
    key_hash      BLOB NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    deleted_at    INTEGER
);
CREATE INDEX agents_by_workspace ON agents (workspace_id, created_at);

-- A protected resource: every resource ever claimed in a workspace. Its row
-- carries the fencing counter, so tokens keep increasing across releases.
CREATE TABLE resources (
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id),
    resource            TEXT NOT NULL,
    last_fencing_token  INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, resource)
);

CREATE TABLE runs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  TEXT NOT NULL REFERENCES workspaces (id),
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    run_id        TEXT NOT NULL,
    resource      TEXT NOT NULL,
    mode          TEXT NOT NULL,
    decision      TEXT NOT NULL,
    ttl_seconds   INTEGER NOT NULL,
    -- Observe runs have no claim; this is their nominal deadline.
    expires_at    INTEGER,
    would_block   INTEGER NOT NULL,
    reason        TEXT,
    retry_after   INTEGER,
    purpose       TEXT,
    metadata      TEXT,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    outcome       TEXT,
    summary       TEXT,
    released      INTEGER,
    UNIQUE (agent_id, run_id)
);
CREATE INDEX runs_by_workspace ON runs (workspace_id, seq);
CREATE INDEX runs_by_resource ON runs (workspace_id, resource, seq);

CREATE TABLE claims (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    resource        TEXT NOT NULL,
    run_seq         INTEGER NOT NULL UNIQUE REFERENCES runs (seq),
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    fencing_token   INTEGER NOT NULL,
    ttl_seconds     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    released_at     INTEGER,
    release_reason  TEXT,
    expiry_recorded INTEGER NOT NULL DEFAULT 0,
    UNIQUE (workspace_id, resource, fencing_token)
);
CREATE INDEX claims_open_by_resource ON claims (workspace_id, resource, expires_at)
    WHERE released_at IS NULL;
CREATE INDEX claims_open_by_workspace ON claims (workspace_id, expires_at)
    WHERE released_at IS NULL;

-- Runtime traffic: what agents called and what they were told.
CREATE TABLE activity (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    workspace_id  TEXT NOT NULL,
    at            INTEGER NOT NULL,
    agent_id      TEXT,
    agent_name    TEXT,
    kind          TEXT NOT NULL,
    resource      TEXT,
    decision      TEXT,
    run_id        TEXT,
    detail        TEXT NOT NULL
);
CREATE INDEX activity_by_workspace ON activity (workspace_id, seq);

-- Governance events, with their actor. Kept forever.
CREATE TABLE audit (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    workspace_id  TEXT,
    at            INTEGER NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    action        TEXT NOT NULL,
    resource      TEXT,
    detail        TEXT NOT NULL
);
CREATE INDEX audit_by_workspace ON audit (workspace_id, seq);
