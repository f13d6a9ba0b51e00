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
