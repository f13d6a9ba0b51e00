-- Working sets (SPEC §10): a claim on a repository may hold only some
-- paths. `ws_mode` is 'edit' or 'read' for such a claim and NULL for a
-- claim on the whole resource; `ws_paths` is its normalised patterns, as a
-- JSON array.
ALTER TABLE claims ADD COLUMN ws_mode TEXT;
-- A partial grant's left-out paths, so that a replay answers as the first
-- answer did.
ALTER TABLE runs ADD COLUMN blocked TEXT;
ALTER TABLE claims ADD COLUMN ws_paths TEXT;

-- The patterns of live working-set claims, one row each, found by their
-- literal prefix (the literal segments before the first wildcard, each
-- followed by '/'): two patterns can overlap only when one's prefix starts
-- with the other's, so a start looks at the few rows whose prefix is an
-- ancestor of, or below, one of its own instead of at every live pattern
-- on the repository. Rows leave with their claim (finish, release, lapse).
CREATE TABLE claim_paths (
    claim_id      TEXT NOT NULL,
    workspace_id  TEXT NOT NULL,
    resource      TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    pattern       TEXT NOT NULL,
    edit          INTEGER NOT NULL,
    PRIMARY KEY (claim_id, pattern)
) WITHOUT ROWID;
CREATE INDEX claim_paths_by_prefix ON claim_paths (workspace_id, resource, prefix);
