-- Activity and audit rows in commit order (store/cursor.rs): each row
-- records its writing transaction's id, and feeds order by (tx, seq),
-- answering only rows below the oldest transaction still running.
-- Rows written before this migration keep tx 0, below every later one.
ALTER TABLE activity ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE activity ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
ALTER TABLE audit ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);

DROP INDEX activity_by_workspace;
CREATE INDEX activity_by_workspace ON activity (workspace_id, tx, seq);
-- The event stream's one reader per replica follows every workspace.
CREATE INDEX activity_by_position ON activity (tx, seq);
DROP INDEX audit_by_workspace;
CREATE INDEX audit_by_workspace ON audit (workspace_id, tx, seq);

-- Wakes every replica's event stream when activity commits. The channel
-- is one for the whole database; the payload names the schema, as
-- several stores can share one database in schemas of their own.
CREATE FUNCTION availsync_activity_committed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('availsync_activity', TG_TABLE_SCHEMA);
    RETURN NULL;
END;
$$;
CREATE TRIGGER activity_committed AFTER INSERT ON activity
    FOR EACH STATEMENT EXECUTE FUNCTION availsync_activity_committed();
