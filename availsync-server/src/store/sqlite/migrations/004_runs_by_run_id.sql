-- A run is found by (agent, run id). The unique index behind that lookup
-- was ordered by agent first, so each agent's new runs went to a leaf of
-- their own and a group commit wrote one such page per busy agent. Ordered
-- by run id first, the time-ordered run ids the SDK makes land on one
-- right-hand leaf; the lookup is the same. (Rebuilding runs, which claims
-- reference, needs foreign keys off: migrations.rs turns them off for the
-- run and checks them before the transaction commits.)
CREATE TABLE runs_v4 (
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
    UNIQUE (run_id, agent_id)
);
-- Keep the sequence where it was, so no seq is ever handed out twice.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'runs_v4', seq FROM sqlite_sequence WHERE name = 'runs';
INSERT INTO runs_v4 (seq, workspace_id, agent_id, run_id, resource, mode, decision,
                     ttl_seconds, expires_at, would_block, reason, retry_after, purpose,
                     metadata, created_at, finished_at, outcome, summary, released)
    SELECT seq, workspace_id, agent_id, run_id, resource, mode, decision,
           ttl_seconds, expires_at, would_block, reason, retry_after, purpose,
           metadata, created_at, finished_at, outcome, summary, released
    FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_by_workspace ON runs (workspace_id, seq);
CREATE INDEX runs_by_resource ON runs (workspace_id, resource, seq);
