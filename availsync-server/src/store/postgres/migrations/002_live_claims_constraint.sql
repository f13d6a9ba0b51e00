-- The exclusion constraint now checks only claims that can still be live.
--
-- A released claim's live interval ended at its release, and a lapsed one's
-- (the sweeper has recorded its expiry) at its expiry; both happened before
-- any later grant on the resource, which is decided under the resource's
-- lock with the clock read after it. Neither can overlap a later claim, so
-- leaving them out loses no protection. Before, every claim ever granted
-- stayed in the GiST index: each grant searched and grew an index that
-- only got larger, and each release inserted the claim into it again
-- (its interval changed). A grant's insert was the costliest statement of
-- a claim -> finish cycle.
ALTER TABLE claims DROP CONSTRAINT one_live_claim_per_resource;
ALTER TABLE claims ADD CONSTRAINT one_live_claim_per_resource EXCLUDE USING gist (
    workspace_id WITH =,
    resource WITH =,
    int8range(created_at, expires_at) WITH &&
) WHERE (released_at IS NULL AND NOT expiry_recorded);
