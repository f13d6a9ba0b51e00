//! The schema, embedded in the binary and applied at start.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// Every migration, in order. Never edit a released one: add another.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/001_initial.sql")),
    M::up(include_str!("migrations/002_holds.sql")),
];

/// Brings the database's schema up to date.
pub(super) fn apply(conn: &mut Connection) -> Result<(), String> {
    Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(
            rusqlite_migration::Migrations::from_slice(super::MIGRATIONS)
                .validate()
                .is_ok()
        );
    }
}
