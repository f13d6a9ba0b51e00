//! The server binary as a child process, on the storage under test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::storage::Storage;

/// A running server process.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `availsync-server serve` on a free port and waits for `/health`.
pub async fn spawn_server(dir: &Path, storage: &Storage) -> ServerProcess {
    spawn_server_with(dir, storage, &Launch::default()).await
}

/// How a child server is started beyond the defaults.
#[derive(Debug, Default)]
pub struct Launch<'a> {
    /// More `serve` arguments.
    pub args: &'a [&'a str],
    /// A soft open-file limit set before the server starts (`ulimit -Sn`).
    pub soft_open_files: Option<u64>,
}

/// Starts `availsync-server serve` as `launch` says and waits for `/health`.
pub async fn spawn_server_with(
    dir: &Path,
    storage: &Storage,
    launch: &Launch<'_>,
) -> ServerProcess {
    let port = free_port();
    let binary = env!("CARGO_BIN_EXE_availsync-server");
    let mut command = match launch.soft_open_files {
        Some(limit) => {
            let mut sh = Command::new("sh");
            sh.args([
                "-c",
                &format!("ulimit -Sn {limit} && exec \"$0\" \"$@\""),
                binary,
            ]);
            sh
        }
        None => Command::new(binary),
    };
    let child = command
        .args([
            "serve",
            "--insecure-http",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(launch.args)
        .args(storage.cli_args(dir))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        // AVAILSYNC_TEST_CHILD_LOGS=1 shows the children's logs, to debug.
        .stderr(if std::env::var_os("AVAILSYNC_TEST_CHILD_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let healthy = http.get(format!("{url}/health")).send().await;
        if healthy.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ServerProcess { child, url }
}
