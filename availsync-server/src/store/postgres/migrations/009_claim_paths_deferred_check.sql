-- A start inserts its claim and the claim's paths in one pipelined round
-- trip; on a connection that has not yet prepared the claim's INSERT, the
-- paths' INSERT (already prepared) can run first. The reference is still
-- checked, at commit, when both rows exist.
ALTER TABLE claim_paths
    ALTER CONSTRAINT claim_paths_claim_id_fkey DEFERRABLE INITIALLY DEFERRED;
