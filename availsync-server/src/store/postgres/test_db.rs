//! The database the PostgreSQL store's unit tests use, from
//! `AVAILSYNC_TEST_DATABASE_URL` (as `.ci/run` sets for this crate's
//! tests). Without it a test says so and checks nothing.

/// The test database's URL, or `None` (and a note why the test checks
/// nothing) when none is set.
pub(super) fn url() -> Option<String> {
    let url = std::env::var("AVAILSYNC_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        eprintln!("set AVAILSYNC_TEST_DATABASE_URL to run this test");
    }
    url
}

/// A connection of its own to the test database.
pub(super) async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to AVAILSYNC_TEST_DATABASE_URL");
    tokio::spawn(connection);
    client
}
