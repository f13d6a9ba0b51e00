//! Redis as a child process with its built-in defaults: no append-only
//! file and no fsync of writes (an RDB snapshot at most every minute), so
//! an acknowledged lock can be lost in a crash. The fast, non-durable
//! anchor of the comparison.
//!
//! Claims are `SET key token NX PX ttl`; release and extend are the usual
//! compare-and-delete and compare-and-expire Lua scripts; holds are a hash
//! per calendar, checked for overlaps and written by one script.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use redis::Script;
use redis::aio::MultiplexedConnection;

use super::{Claim, LOCK_TTL, Lease, Session, System};
use crate::process::{ChildServer, free_port};

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

const CREATE_HOLD: &str = r"
local s = tonumber(ARGV[2])
local e = tonumber(ARGV[3])
local holds = redis.call('HGETALL', KEYS[1])
for i = 2, #holds, 2 do
  local sep = string.find(holds[i], ':', 1, true)
  local hs = tonumber(string.sub(holds[i], 1, sep - 1))
  local he = tonumber(string.sub(holds[i], sep + 1))
  if hs < e and s < he then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return 1";

/// Sets every key (`ARGV[1]` the token, `ARGV[2]` the TTL) unless one
/// exists: all or nothing.
const CLAIM_PATHS: &str = r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    return 0
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1";

/// Deletes every key still holding the token.
const RELEASE_PATHS: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    n = n + redis.call('DEL', KEYS[i])
  end
end
return n";

struct Scripts {
    release: Script,
    extend: Script,
    create_hold: Script,
    claim_paths: Script,
    release_paths: Script,
}

/// A running redis-server.
pub struct Redis {
    server: ChildServer,
    url: String,
    scripts: Arc<Scripts>,
    _data: tempfile::TempDir,
}

impl Redis {
    /// Starts redis-server on a free loopback port.
    pub async fn start(binary: &Path) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("redis-bench-")
            .tempdir()
            .context("create Redis's directory")?;
        let port = free_port()?;
        let args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &data.path().display().to_string(),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = ChildServer::spawn("redis", &[], binary, &args, data.path(), addr).await?;
        Ok(Self {
            server,
            url: format!("redis://127.0.0.1:{port}/"),
            scripts: Arc::new(Scripts {
                release: Script::new(RELEASE),
                extend: Script::new(EXTEND),
                create_hold: Script::new(CREATE_HOLD),
                claim_paths: Script::new(CLAIM_PATHS),
                release_paths: Script::new(RELEASE_PATHS),
            }),
            _data: data,
        })
    }
}

#[async_trait]
impl System for Redis {
    fn label(&self) -> String {
        "Redis 7".into()
    }

    fn durability(&self) -> String {
        "none: no fsync (RDB snapshot ≤ every 60 s)".into()
    }

    fn cpu_pids(&self) -> Vec<u32> {
        vec![self.server.pid()]
    }

    fn rss_pids(&self) -> Vec<u32> {
        self.cpu_pids()
    }

    fn keeps_released_resources(&self) -> bool {
        false
    }

    fn diagnose(&mut self) -> String {
        self.server.diagnose()
    }

    async fn session(&self, client: usize) -> anyhow::Result<Box<dyn Session>> {
        let connection = redis::Client::open(self.url.as_str())?
            .get_multiplexed_async_connection()
            .await
            .context("connect to Redis")?;
        Ok(Box::new(RedisSession {
            connection,
            scripts: Arc::clone(&self.scripts),
            client,
            counter: 0,
        }))
    }

    async fn stop(self: Box<Self>) -> anyhow::Result<()> {
        self.server.stop().await
    }
}

struct RedisSession {
    connection: MultiplexedConnection,
    scripts: Arc<Scripts>,
    client: usize,
    counter: u64,
}

impl RedisSession {
    fn next_token(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.client, self.counter)
    }

    async fn set_nx(&mut self, resource: &str, ttl: Duration) -> anyhow::Result<Claim> {
        let key = format!("claim:{resource}");
        let token = self.next_token();
        let answer: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.connection)
            .await?;
        Ok(match answer {
            Some(_) => Claim::Granted(Lease {
                key,
                token,
                own_lease: 0,
                paths: Vec::new(),
            }),
            None => Claim::Skipped,
        })
    }
}

#[async_trait]
impl Session for RedisSession {
    async fn try_lock(&mut self, resource: &str) -> anyhow::Result<Claim> {
        self.set_nx(resource, LOCK_TTL).await
    }

    async fn unlock(&mut self, lease: &Lease) -> anyhow::Result<()> {
        let _: i64 = self
            .scripts
            .release
            .key(&lease.key)
            .arg(&lease.token)
            .invoke_async(&mut self.connection)
            .await?;
        Ok(())
    }

    async fn acquire(&mut self, resource: &str, ttl: Duration) -> anyhow::Result<Claim> {
        self.set_nx(resource, ttl).await
    }

    async fn extend(&mut self, lease: &Lease, ttl: Duration) -> anyhow::Result<()> {
        let extended: i64 = self
            .scripts
            .extend
            .key(&lease.key)
            .arg(&lease.token)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.connection)
            .await?;
        if extended == 0 {
            bail!("Redis lock {} was lost", lease.key);
        }
        Ok(())
    }

    async fn create_hold(
        &mut self,
        calendar: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> anyhow::Result<Option<String>> {
        let hold_id = self.next_token();
        let created: i64 = self
            .scripts
            .create_hold
            .key(format!("cal:{calendar}"))
            .arg(&hold_id)
            .arg(start_ms)
            .arg(end_ms)
            .invoke_async(&mut self.connection)
            .await?;
        Ok((created == 1).then_some(hold_id))
    }

    async fn release_hold(&mut self, calendar: &str, hold_id: &str) -> anyhow::Result<()> {
        let _: i64 = redis::cmd("HDEL")
            .arg(format!("cal:{calendar}"))
            .arg(hold_id)
            .query_async(&mut self.connection)
            .await?;
        Ok(())
    }

    async fn claim_paths(&mut self, repo: &str, paths: &[String]) -> anyhow::Result<Claim> {
        let keys: Vec<String> = paths.iter().map(|p| format!("path:{repo}:{p}")).collect();
        let token = self.next_token();
        let mut invocation = self.scripts.claim_paths.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        let claimed: i64 = invocation
            .arg(&token)
            .arg(LOCK_TTL.as_millis() as u64)
            .invoke_async(&mut self.connection)
            .await?;
        Ok(if claimed == 1 {
            Claim::Granted(Lease {
                key: repo.to_owned(),
                token,
                own_lease: 0,
                paths: keys,
            })
        } else {
            Claim::Skipped
        })
    }

    async fn unlock_paths(&mut self, lease: &Lease) -> anyhow::Result<()> {
        let mut invocation = self.scripts.release_paths.prepare_invoke();
        for key in &lease.paths {
            invocation.key(key);
        }
        let _: i64 = invocation
            .arg(&lease.token)
            .invoke_async(&mut self.connection)
            .await?;
        Ok(())
    }
}
