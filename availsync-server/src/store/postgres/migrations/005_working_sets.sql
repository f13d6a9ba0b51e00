-- Working sets (SPEC §10): a claim on a repository may hold only some
-- paths. `ws_mode` is 'edit' or 'read' for such a claim and NULL for a
-- claim on the whole resource; `ws_paths` is its normalised patterns.
ALTER TABLE claims ADD COLUMN ws_mode TEXT;
-- A partial grant's left-out paths, so that a replay answers as the first
-- answer did.
ALTER TABLE runs ADD COLUMN blocked JSONB;
ALTER TABLE claims ADD COLUMN ws_paths JSONB;

-- Several working-set claims may now be live on one repository at once.
-- The database still refuses two live claims where either holds the whole
-- resource: a whole claim's key range is unbounded and overlaps every
-- other, a working-set claim's is its own fencing token, which no other
-- claim on the resource shares. Whether two working sets' paths overlap
-- is decided under the resource's lock (a glob overlap is beyond an
-- exclusion constraint).
ALTER TABLE claims DROP CONSTRAINT one_live_claim_per_resource;
ALTER TABLE claims ADD CONSTRAINT one_live_claim_per_resource EXCLUDE USING gist (
    workspace_id WITH =,
    resource WITH =,
    int8range(created_at, expires_at) WITH &&,
    (CASE WHEN ws_mode IS NULL THEN int8range(NULL, NULL)
          ELSE int8range(fencing_token, fencing_token + 1) END) WITH &&
) WHERE (released_at IS NULL AND NOT expiry_recorded);

-- The patterns of live working-set claims, found by their literal prefix
-- (see the SQLite migration 008 for why). Rows leave with their claim.
CREATE TABLE claim_paths (
    claim_id      TEXT NOT NULL REFERENCES claims (id),
    workspace_id  TEXT NOT NULL,
    resource      TEXT NOT NULL,
    -- Byte order, so that a prefix's descendants are one range.
    prefix        TEXT COLLATE "C" NOT NULL,
    pattern       TEXT NOT NULL,
    edit          BOOLEAN NOT NULL,
    PRIMARY KEY (claim_id, pattern)
);
CREATE INDEX claim_paths_by_prefix ON claim_paths (workspace_id, resource, prefix);
