-- Rules (SPEC §11): one per resource of a workspace.
CREATE TABLE rules (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
    resource         TEXT NOT NULL,
    depends_on       TEXT NOT NULL,
    capacity         INTEGER NOT NULL,
    mode             TEXT,
    max_ttl_seconds  INTEGER,
    note             TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (workspace_id, resource)
);

-- A claim on several resources (SPEC §12, or a depends_on closure): its
-- row in `claims` is the first requested resource's; each other resource
-- is a part here, with its own fencing token, live exactly while that row
-- is (extend, finish, release and lapse act on the row alone).
CREATE TABLE claim_parts (
    run_seq        INTEGER NOT NULL,
    part           INTEGER NOT NULL,
    workspace_id   TEXT NOT NULL,
    resource       TEXT NOT NULL,
    fencing_token  INTEGER NOT NULL,
    PRIMARY KEY (run_seq, part)
) WITHOUT ROWID;
CREATE INDEX claim_parts_by_resource ON claim_parts (workspace_id, resource);
