-- A granted claim's fencing token is its run's sequence number. Run
-- sequence numbers only grow (AUTOINCREMENT never hands one out twice), so
-- tokens still strictly increase per resource, as the contract promises,
-- and granting no longer rewrites the resource's row: before, every grant
-- dirtied one randomly placed page of `resources` to bump a per-resource
-- counter.
--
-- The run sequence starts above every token handed out so far, so no new
-- token can be lower than an old one on the same resource.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'runs', 0
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'runs');
UPDATE sqlite_sequence
    SET seq = MAX(seq, (SELECT COALESCE(MAX(last_fencing_token), 0) FROM resources))
    WHERE name = 'runs';
ALTER TABLE resources DROP COLUMN last_fencing_token;

-- Listing runs filters by resource over the workspace's runs in sequence
-- order (runs_by_workspace); the query planner never chose this index,
-- which cost every start one insert on a randomly placed page.
DROP INDEX runs_by_resource;
