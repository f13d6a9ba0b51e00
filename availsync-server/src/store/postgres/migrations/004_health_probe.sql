-- One row the health check writes while writes are failing for lack of
-- space, to learn when they succeed again (store/write_health.rs).
CREATE TABLE health_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  BIGINT NOT NULL
);
