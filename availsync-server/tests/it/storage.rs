//! Which store the suite runs against. SQLite by default; PostgreSQL when
//! `AVAILSYNC_TEST_DATABASE_URL` is set, each test server in a schema of its
//! own. `.ci/run` runs the whole suite both ways.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use availsync_server::PostgresConfig;
use availsync_server::ServerConfig;

/// The environment variable that switches the suite to PostgreSQL.
pub const DATABASE_URL_ENV: &str = "AVAILSYNC_TEST_DATABASE_URL";

static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

/// Where one test's server keeps its state: the data directory, or a fresh
/// PostgreSQL schema that outlives restarts of the server.
#[derive(Debug, Clone)]
pub struct Storage {
    pub database: Option<PostgresConfig>,
}

impl Storage {
    /// Fresh storage for one test.
    pub fn for_test() -> Self {
        let database = std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|url| !url.is_empty())
            .map(|url| PostgresConfig {
                url,
                schema: Some(format!(
                    "t{}_{}_{:08x}",
                    std::process::id(),
                    SCHEMAS.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                )),
                pool_size: 8,
            });
        Self { database }
    }

    /// A direct connection to the test's PostgreSQL schema, beside the
    /// server's own (for writes that bypass the server, or that play
    /// another replica).
    pub async fn connect(&self) -> tokio_postgres::Client {
        let database = self.database.as_ref().expect("a PostgreSQL test");
        let mut config = tokio_postgres::Config::from_str(&database.url).unwrap();
        config.options(format!(
            "-c search_path={},public",
            database.schema.as_deref().unwrap()
        ));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    /// True when the suite runs against PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database.is_some()
    }

    /// `config` with this storage.
    pub fn apply(&self, config: ServerConfig) -> ServerConfig {
        ServerConfig {
            database: self.database.clone(),
            ..config
        }
    }

    /// The server binary's storage flags.
    pub fn cli_args(&self, data_dir: &Path) -> Vec<String> {
        match &self.database {
            Some(database) => {
                let mut args = vec!["--database-url".to_owned(), database.url.clone()];
                if let Some(schema) = &database.schema {
                    args.extend(["--database-schema".to_owned(), schema.clone()]);
                }
                args
            }
            None => vec!["--data-dir".to_owned(), data_dir.display().to_string()],
        }
    }
}
