-- Bounded waiting (SPEC §13): the queue of starts waiting for what others
-- hold, in arrival order (`seq`), with one row per key each waits on (its
-- resources, and '' for the workspace's plan limit).
CREATE TABLE waiters (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT    NOT NULL,
    agent_id     TEXT    NOT NULL,
    agent_name   TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    request      TEXT    NOT NULL,
    deadline_at  INTEGER NOT NULL,
    alive_until  INTEGER NOT NULL,
    replica      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE INDEX waiters_by_replica ON waiters (replica);

CREATE TABLE waiter_keys (
    workspace_id TEXT    NOT NULL,
    resource     TEXT    NOT NULL,
    waiter_seq   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, resource, waiter_seq)
) WITHOUT ROWID;

CREATE INDEX waiter_keys_by_waiter ON waiter_keys (waiter_seq);
