//! A real server and signed-in clients.

use std::sync::atomic::{AtomicUsize, Ordering};

use availsync_sdk::{AdminClient, Client, Mode, RetryPolicy, RunGuard, RunStart, StartRun};
use availsync_server::{RunningServer, ServerConfig};
use tempfile::TempDir;

pub struct World {
    pub server: RunningServer,
    pub admin: AdminClient,
    pub email: String,
    pub workspace_id: String,
    _dir: TempDir,
}

static N: AtomicUsize = AtomicUsize::new(0);

impl World {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = RunningServer::start(ServerConfig::ephemeral(dir.path()))
            .await
            .unwrap();
        let admin = AdminClient::new(&server.url()).unwrap();
        let email = format!("sdk{}@example.com", N.fetch_add(1, Ordering::Relaxed));
        let auth = admin
            .signup(&email, "correct horse battery", "SDK tests")
            .await
            .unwrap();
        Self {
            server,
            admin,
            email,
            workspace_id: auth.workspace.id,
            _dir: dir,
        }
    }

    /// A new agent's client.
    pub async fn agent(&self, name: &str) -> Client {
        self.agent_with_mode(name, Mode::Enforce).await
    }

    pub async fn agent_with_mode(&self, name: &str, mode: Mode) -> Client {
        let created = self.admin.create_agent(name, Some(mode)).await.unwrap();
        Client::builder()
            .base_url(self.server.url())
            .api_key(created.api_key)
            .retry_policy(RetryPolicy::default())
            .build()
            .unwrap()
    }

    /// A new enforcing agent's key.
    pub async fn key(&self, name: &str) -> String {
        self.admin.create_agent(name, None).await.unwrap().api_key
    }

    pub async fn set_plan(&self, plan: availsync_sdk::types::Plan) {
        self.server
            .set_plan(&self.workspace_id, plan)
            .await
            .unwrap();
    }
}

/// Claims `start`'s resource, which must be free.
pub async fn claimed(client: &Client, start: StartRun) -> RunGuard {
    match client.claim(start).await.unwrap() {
        RunStart::Claimed(guard) => guard,
        other => panic!("expected a claim: {other:?}"),
    }
}
