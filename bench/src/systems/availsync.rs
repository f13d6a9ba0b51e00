//! availsync-server as a child process (SQLite in a temporary data
//! directory, or replicas on a PostgreSQL schema of its own), driven
//! through the SDK exactly as an agent would: `run/start`, `run/extend`,
//! `run/finish`, `POST /v1/holds`, `DELETE /v1/holds/{id}`.
//!
//! Every client is its own agent with its own key and connection pool. The
//! workspace is moved to the business plan with `availsync-server
//! set-plan`, so plan limits never answer for the server's speed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use availsync_sdk::{
    AdminClient, Client, NewHold, Outcome, RetryPolicy, StartRun, Timestamp, WorkingSetMode,
};
use rand::RngCore;

use super::{Binaries, Claim, LOCK_TTL, Lease, Session, System};
use crate::process::{ChildServer, free_port, output};

/// Calls that take longer than this fail the measurement rather than hang it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A running availsync deployment: one SQLite server, or PostgreSQL replicas.
pub struct Availsync {
    servers: Vec<(ChildServer, String)>,
    agent_keys: Vec<String>,
    postgres: bool,
    database_pid: Option<u32>,
    _data: tempfile::TempDir,
}

impl Availsync {
    /// Starts the server(s), signs up, moves the workspace to the business
    /// plan and creates one agent per client.
    pub async fn start(
        binaries: &Binaries,
        clients: usize,
        postgres: Option<(String, usize)>,
    ) -> anyhow::Result<Self> {
        Self::start_with(binaries, clients, postgres, &[]).await
    }

    /// [`Availsync::start`] with more arguments for `serve` (e.g.
    /// `--max-connections`).
    pub async fn start_with(
        binaries: &Binaries,
        clients: usize,
        postgres: Option<(String, usize)>,
        serve_args: &[String],
    ) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("availsync-bench-")
            .tempdir()
            .context("create a data directory")?;
        let data_dir = data.path().display().to_string();
        let mut nonce = [0u8; 6];
        rand::rng().fill_bytes(&mut nonce);
        let schema = format!(
            "bench_{}",
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let storage: Vec<String> = match &postgres {
            None => vec!["--data-dir".into(), data_dir.clone()],
            Some((url, _)) => vec![
                "--database-url".into(),
                url.clone(),
                "--database-schema".into(),
                schema.clone(),
            ],
        };
        let replicas = postgres.as_ref().map_or(1, |(_, n)| *n).max(1);
        let mut servers = Vec::new();
        for replica in 0..replicas {
            let port = free_port()?;
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut args = vec![
                "serve".to_owned(),
                "--insecure-http".to_owned(),
                "--listen".to_owned(),
                addr.to_string(),
            ];
            args.extend(storage.iter().cloned());
            args.extend(serve_args.iter().cloned());
            let server = ChildServer::spawn(
                &format!("availsync-{replica}"),
                &binaries.server_wrapper,
                &binaries.availsync,
                &args,
                data.path(),
                addr,
            )
            .await?;
            servers.push((server, format!("http://{addr}")));
        }

        let admin = AdminClient::new(&servers[0].1)?;
        let auth = admin
            .signup("bench@example.com", "bench-password-1", "bench")
            .await
            .context("sign up")?;
        let mut set_plan = vec![
            "set-plan".to_owned(),
            "--workspace".to_owned(),
            auth.workspace.id.clone(),
            "--plan".to_owned(),
            "business".to_owned(),
        ];
        set_plan.extend(storage.iter().cloned());
        output(&binaries.availsync, &set_plan)
            .await
            .context("move the workspace to the business plan")?;
        let mut agent_keys = Vec::with_capacity(clients);
        for i in 0..clients.max(1) {
            let agent = admin
                .create_agent(&format!("bench-agent-{i}"), None)
                .await
                .with_context(|| format!("create agent {i}"))?;
            agent_keys.push(agent.api_key);
        }
        Ok(Self {
            servers,
            agent_keys,
            postgres: postgres.is_some(),
            database_pid: None,
            _data: data,
        })
    }
}

impl Availsync {
    /// Where replica `replica` listens.
    pub fn addr(&self, replica: usize) -> anyhow::Result<SocketAddr> {
        let url = &self.servers[replica % self.servers.len()].1;
        url.trim_start_matches("http://")
            .parse()
            .with_context(|| format!("a loopback address in {url}"))
    }

    /// The API key of agent `agent` (the one [`System::session`] gives
    /// client `agent`).
    pub fn agent_key(&self, agent: usize) -> &str {
        &self.agent_keys[agent % self.agent_keys.len()]
    }

    /// Counts the PostgreSQL server's CPU (postmaster and backends) too.
    pub fn with_database_pid(mut self, pid: Option<u32>) -> Self {
        self.database_pid = pid;
        self
    }
}

#[async_trait]
impl System for Availsync {
    fn event_stream(&self) -> Option<(String, String)> {
        // The last agent's key: the workloads' clients use the first ones.
        Some((self.servers[0].1.clone(), self.agent_keys.last()?.clone()))
    }

    fn label(&self) -> String {
        if self.postgres {
            format!(
                "availsync (PostgreSQL, {} replica{})",
                self.servers.len(),
                if self.servers.len() == 1 { "" } else { "s" }
            )
        } else {
            "availsync (SQLite)".into()
        }
    }

    fn durability(&self) -> String {
        if self.postgres {
            "fsync per commit (PostgreSQL defaults)".into()
        } else {
            "fsync per batch (WAL, synchronous=FULL)".into()
        }
    }

    fn cpu_pids(&self) -> Vec<u32> {
        self.rss_pids()
            .into_iter()
            .chain(self.database_pid.filter(|_| self.postgres))
            .collect()
    }

    fn rss_pids(&self) -> Vec<u32> {
        self.servers.iter().map(|(s, _)| s.pid()).collect()
    }

    fn keeps_released_resources(&self) -> bool {
        true
    }

    fn diagnose(&mut self) -> String {
        self.servers
            .iter_mut()
            .map(|(server, _)| server.diagnose())
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn session(&self, client: usize) -> anyhow::Result<Box<dyn Session>> {
        let key = &self.agent_keys[client % self.agent_keys.len()];
        let url = &self.servers[client % self.servers.len()].1;
        let client = Client::builder()
            .base_url(url.clone())
            .api_key(key.clone())
            .timeout(CALL_TIMEOUT)
            .retry_policy(RetryPolicy::none())
            .build()?;
        Ok(Box::new(AvailsyncSession { client }))
    }

    async fn stop(self: Box<Self>) -> anyhow::Result<()> {
        for (server, _) in self.servers {
            server.stop().await?;
        }
        Ok(())
    }
}

struct AvailsyncSession {
    client: Client,
}

/// The resource key a bench resource name stands for.
pub fn resource_key(resource: &str) -> String {
    format!("repo:bench/{resource}")
}

impl AvailsyncSession {
    async fn start(&self, resource: &str, ttl: Duration) -> anyhow::Result<Claim> {
        self.claim(StartRun::new(&resource_key(resource))?.ttl(ttl), Vec::new())
            .await
    }

    /// Sends `start`; a grant is a lease on `paths` (empty: the whole
    /// resource).
    async fn claim(&self, start: StartRun, paths: Vec<String>) -> anyhow::Result<Claim> {
        let answer = self.client.start_run(&start).await?;
        Ok(if answer.decision.proceeds() {
            Claim::Granted(Lease {
                key: answer.run_id,
                token: String::new(),
                own_lease: 0,
                paths,
            })
        } else {
            Claim::Skipped
        })
    }
}

#[async_trait]
impl Session for AvailsyncSession {
    async fn try_lock(&mut self, resource: &str) -> anyhow::Result<Claim> {
        self.start(resource, LOCK_TTL).await
    }

    async fn unlock(&mut self, lease: &Lease) -> anyhow::Result<()> {
        self.client
            .finish_run(&lease.key, Outcome::Succeeded, None)
            .await?;
        Ok(())
    }

    async fn acquire(&mut self, resource: &str, ttl: Duration) -> anyhow::Result<Claim> {
        self.start(resource, ttl).await
    }

    async fn extend(&mut self, lease: &Lease, ttl: Duration) -> anyhow::Result<()> {
        self.client.extend_run(&lease.key, Some(ttl)).await?;
        Ok(())
    }

    async fn create_hold(
        &mut self,
        calendar: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> anyhow::Result<Option<String>> {
        let hold = NewHold::new(
            &format!("calendar:{calendar}"),
            Timestamp::from_unix_millis(start_ms),
            Timestamp::from_unix_millis(end_ms),
        )?;
        match self.client.create_hold(&hold).await {
            Ok(created) => Ok(Some(created.hold.hold_id)),
            Err(e) if e.code() == Some("hold_conflict") => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn release_hold(&mut self, _calendar: &str, hold_id: &str) -> anyhow::Result<()> {
        self.client.release_hold(hold_id).await?;
        Ok(())
    }

    async fn claim_paths(&mut self, repo: &str, paths: &[String]) -> anyhow::Result<Claim> {
        let start = StartRun::new(&resource_key(repo))?
            .ttl(LOCK_TTL)
            .working_set(paths, WorkingSetMode::Edit)?;
        self.claim(start, paths.to_vec()).await
    }

    async fn unlock_paths(&mut self, lease: &Lease) -> anyhow::Result<()> {
        self.unlock(lease).await
    }
}
