-- Fewer B-trees on the claim → finish path. Every index below is one more
-- B-tree each start or finish writes to, and one more dirty page each group
-- commit copies into the WAL; each change keeps the queries it served.

-- Claims are keyed by their run (a run has at most one claim), so the join
-- from a run to its claim is a rowid lookup, and found by id through one
-- index. One partial index of unsettled claims (not released, lapse not yet
-- recorded) serves the holder lookup, the live-claim count, the sweep and an
-- agent's deletion; a claim leaves it when it is released or its lapse is
-- recorded, so it stays as small as the set of live claims. Fencing tokens
-- are unique per resource because resources.last_fencing_token hands them
-- out in the granting transaction; the index that re-checked it is gone.
CREATE TABLE claims_v3 (
    run_seq         INTEGER PRIMARY KEY REFERENCES runs (seq),
    id              TEXT NOT NULL UNIQUE,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    resource        TEXT NOT NULL,
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    fencing_token   INTEGER NOT NULL,
    ttl_seconds     INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    released_at     INTEGER,
    release_reason  TEXT,
    expiry_recorded INTEGER NOT NULL DEFAULT 0
);
INSERT INTO claims_v3 (run_seq, id, workspace_id, resource, agent_id, fencing_token,
                       ttl_seconds, created_at, expires_at, released_at, release_reason,
                       expiry_recorded)
    SELECT run_seq, id, workspace_id, resource, agent_id, fencing_token,
           ttl_seconds, created_at, expires_at, released_at, release_reason,
           expiry_recorded
    FROM claims;
DROP TABLE claims;
ALTER TABLE claims_v3 RENAME TO claims;
CREATE INDEX claims_unsettled ON claims (workspace_id, resource, expires_at)
    WHERE released_at IS NULL AND expiry_recorded = 0;

-- A resource row lives in its primary key's B-tree (no separate rowid table).
CREATE TABLE resources_v3 (
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id),
    resource            TEXT NOT NULL,
    last_fencing_token  INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, resource)
) WITHOUT ROWID;
INSERT INTO resources_v3 (workspace_id, resource, last_fencing_token, created_at)
    SELECT workspace_id, resource, last_fencing_token, created_at FROM resources;
DROP TABLE resources;
ALTER TABLE resources_v3 RENAME TO resources;

-- Events are read by workspace and sequence; their ids are never looked up,
-- so they carry no unique index, and retention prunes by sequence (events
-- are written in time order) instead of through an index on `at`.
CREATE TABLE activity_v3 (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL,
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
-- Keep the sequence where it was, so no seq is ever handed out twice.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'activity_v3', seq FROM sqlite_sequence WHERE name = 'activity';
INSERT INTO activity_v3 (seq, id, workspace_id, at, agent_id, agent_name, kind, resource,
                         decision, run_id, detail)
    SELECT seq, id, workspace_id, at, agent_id, agent_name, kind, resource,
           decision, run_id, detail
    FROM activity;
DROP TABLE activity;
ALTER TABLE activity_v3 RENAME TO activity;
CREATE INDEX activity_by_workspace ON activity (workspace_id, seq);

CREATE TABLE audit_v3 (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL,
    workspace_id  TEXT,
    at            INTEGER NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    action        TEXT NOT NULL,
    resource      TEXT,
    detail        TEXT NOT NULL
);
-- Keep the sequence where it was, so no seq is ever handed out twice.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'audit_v3', seq FROM sqlite_sequence WHERE name = 'audit';
INSERT INTO audit_v3 (seq, id, workspace_id, at, actor_type, actor_id, actor_name, action,
                      resource, detail)
    SELECT seq, id, workspace_id, at, actor_type, actor_id, actor_name, action,
           resource, detail
    FROM audit;
DROP TABLE audit;
ALTER TABLE audit_v3 RENAME TO audit;
CREATE INDEX audit_by_workspace ON audit (workspace_id, seq);
