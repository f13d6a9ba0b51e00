//! Helpers for end-to-end tests: a reference server that can be stopped and
//! started again on the same address and data, and signed-in SDK clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use availsync_sdk::{AdminClient, Client};
use availsync_server::{RunningServer, ServerConfig, StartError};

/// A reference server whose address and data outlive its restarts.
pub struct RestartableServer {
    data_dir: PathBuf,
    addr: SocketAddr,
    running: Option<RunningServer>,
}

impl RestartableServer {
    /// Starts a server on a free loopback port with its data in `data_dir`.
    pub async fn start(data_dir: &Path) -> Result<Self, StartError> {
        let running = RunningServer::start(ServerConfig::ephemeral(data_dir)).await?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            addr: running.addr(),
            running: Some(running),
        })
    }

    /// The base URL, the same across restarts.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The running server, if it is running.
    pub fn running(&self) -> Option<&RunningServer> {
        self.running.as_ref()
    }

    /// Stops the server (in-flight requests finish; then nothing listens).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Starts it again on the same address with the same data.
    pub async fn restart(&mut self) -> Result<(), StartError> {
        self.stop().await;
        let config = ServerConfig {
            listen: self.addr,
            ..ServerConfig::ephemeral(&self.data_dir)
        };
        self.running = Some(RunningServer::start(config).await?);
        Ok(())
    }
}

/// Signs up a workspace and answers its admin client.
pub async fn signed_up_admin(url: &str, email: &str) -> availsync_sdk::Result<AdminClient> {
    let admin = AdminClient::new(url)?;
    admin.signup(email, "correct horse battery", "E2E").await?;
    Ok(admin)
}

/// Creates an agent and answers its client.
pub async fn agent_client(
    admin: &AdminClient,
    url: &str,
    name: &str,
) -> availsync_sdk::Result<Client> {
    let created = admin.create_agent(name, None).await?;
    Client::builder()
        .base_url(url)
        .api_key(created.api_key)
        .build()
}
