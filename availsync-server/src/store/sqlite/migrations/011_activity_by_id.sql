-- The event stream resumes from an event's id (Last-Event-ID): find its
-- row without a scan. Ids begin with their creation time, so new ones
-- land at the index's end.
CREATE INDEX activity_by_id ON activity (id);
