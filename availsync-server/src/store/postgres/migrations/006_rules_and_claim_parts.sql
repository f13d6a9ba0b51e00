-- Rules (SPEC §11): one per resource of a workspace.
CREATE TABLE rules (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id),
    resource         TEXT NOT NULL,
    depends_on       JSONB NOT NULL,
    capacity         INTEGER NOT NULL,
    mode             TEXT,
    max_ttl_seconds  INTEGER,
    note             TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (workspace_id, resource)
);

-- A claim on several resources (see the SQLite migration 009): its other
-- resources, each with its own fencing token, live while the claim is.
CREATE TABLE claim_parts (
    run_seq        BIGINT NOT NULL REFERENCES runs (seq),
    part           SMALLINT NOT NULL,
    workspace_id   TEXT NOT NULL,
    resource       TEXT NOT NULL,
    fencing_token  BIGINT NOT NULL,
    PRIMARY KEY (run_seq, part)
);
CREATE INDEX claim_parts_by_resource ON claim_parts (workspace_id, resource);

-- A claim on a resource whose rule admits several at once (capacity above
-- one) is `shared`: the exclusion constraint, which allows one live claim
-- per resource, leaves it to the count taken under the resource's lock.
ALTER TABLE claims ADD COLUMN shared BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE claims DROP CONSTRAINT one_live_claim_per_resource;
ALTER TABLE claims ADD CONSTRAINT one_live_claim_per_resource EXCLUDE USING gist (
    workspace_id WITH =,
    resource WITH =,
    int8range(created_at, expires_at) WITH &&,
    (CASE WHEN ws_mode IS NULL THEN int8range(NULL, NULL)
          ELSE int8range(fencing_token, fencing_token + 1) END) WITH &&
) WHERE (released_at IS NULL AND NOT expiry_recorded AND NOT shared);
