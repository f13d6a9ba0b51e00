-- Bounded waiting (SPEC §13): the queue of starts waiting for what others
-- hold, in arrival order (`seq`) across replicas, with one row per key
-- each waits on (its resources, and '' for the workspace's plan limit).
CREATE TABLE waiters (
    seq          BIGSERIAL PRIMARY KEY,
    workspace_id TEXT   NOT NULL,
    agent_id     TEXT   NOT NULL,
    agent_name   TEXT   NOT NULL,
    run_id       TEXT   NOT NULL,
    request      TEXT   NOT NULL,
    deadline_at  BIGINT NOT NULL,
    alive_until  BIGINT NOT NULL,
    replica      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE INDEX waiters_by_replica ON waiters (replica);
CREATE INDEX waiters_by_workspace ON waiters (workspace_id);

CREATE TABLE waiter_keys (
    workspace_id TEXT   NOT NULL,
    resource     TEXT   NOT NULL,
    waiter_seq   BIGINT NOT NULL REFERENCES waiters (seq) ON DELETE CASCADE,
    PRIMARY KEY (workspace_id, resource, waiter_seq)
);

CREATE INDEX waiter_keys_by_waiter ON waiter_keys (waiter_seq);
