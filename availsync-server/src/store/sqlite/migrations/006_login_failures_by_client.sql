-- Failed logins are counted per (email, client) and per client as well as
-- per email (domain/login_throttle.rs). Rows from before have no client.
ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
CREATE INDEX login_failures_by_client ON login_failures (client, at);
