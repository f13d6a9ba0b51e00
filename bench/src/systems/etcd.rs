//! etcd as a child process (one member, data in a temporary directory, its
//! default fsync of the WAL on every commit), over gRPC.
//!
//! - claim→finish: the lock API (`v3lockpb.Lock/Lock` and `Unlock`) with one
//!   lease shared by each client's locks, as etcd's own `concurrency`
//!   package uses it;
//! - contended claims: the lock API waits for the holder, so a claim that
//!   must answer at once is the usual try-lock transaction: put the key with
//!   the client's lease if it does not exist, else read the holder;
//! - heartbeats: each claim gets a lease of its own, kept alive over one
//!   `LeaseKeepAlive` stream per client; release revokes the lease;
//! - holds: the calendar's holds are keys under one prefix; a create reads
//!   the prefix, checks overlaps, and commits only if the calendar's guard
//!   key has not changed since (optimistic concurrency, retried).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};

use super::etcd_proto::{self as pb, compare::TargetUnion, path, request_op::Request};
use super::{Claim, Lease, Session, System};
use crate::process::{ChildServer, free_port};

/// TTL of each client's shared lease: longer than any measurement.
const SHARED_LEASE_TTL: Duration = Duration::from_secs(900);

/// A running etcd member.
pub struct Etcd {
    server: ChildServer,
    endpoint: String,
    _data: tempfile::TempDir,
}

impl Etcd {
    /// Starts a one-member cluster on free loopback ports.
    pub async fn start(binary: &Path) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("etcd-bench-")
            .tempdir()
            .context("create etcd's data directory")?;
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let args: Vec<String> = [
            "--name",
            "bench",
            "--data-dir",
            &data.path().join("member").display().to_string(),
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
            "--initial-cluster",
            &format!("bench={peer_url}"),
            "--initial-cluster-state",
            "new",
            "--logger",
            "zap",
            "--log-level",
            "warn",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let addr: SocketAddr = ([127, 0, 0, 1], client_port).into();
        let server = ChildServer::spawn("etcd", &[], binary, &args, data.path(), addr).await?;
        let etcd = Self {
            server,
            endpoint: client_url,
            _data: data,
        };
        // The port opens before the member has elected itself leader: wait
        // until a write goes through.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match etcd.connect().await {
                Ok(mut grpc) => {
                    let put = pb::TxnRequest {
                        compare: vec![],
                        success: vec![pb::RequestOp {
                            request: Some(Request::Put(pb::PutRequest {
                                key: b"bench/ready".to_vec(),
                                value: b"1".to_vec(),
                                lease: 0,
                            })),
                        }],
                        failure: vec![],
                    };
                    if pb::unary::<_, pb::TxnResponse>(&mut grpc, path::TXN, put)
                        .await
                        .is_ok()
                    {
                        break;
                    }
                }
                Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
                Err(_) => {}
            }
            if tokio::time::Instant::now() > deadline {
                bail!("etcd did not accept a write within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(etcd)
    }

    async fn connect(&self) -> anyhow::Result<Grpc<Channel>> {
        let channel = Endpoint::from_shared(self.endpoint.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
            .context("connect to etcd")?;
        Ok(Grpc::new(channel))
    }
}

#[async_trait]
impl System for Etcd {
    fn label(&self) -> String {
        "etcd 3.4".into()
    }

    fn durability(&self) -> String {
        "fsync per commit (WAL, defaults)".into()
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
        let mut grpc = self.connect().await?;
        let lease: pb::LeaseGrantResponse = pb::unary(
            &mut grpc,
            path::LEASE_GRANT,
            pb::LeaseGrantRequest {
                ttl: SHARED_LEASE_TTL.as_secs() as i64,
                id: 0,
            },
        )
        .await?;
        if !lease.error.is_empty() {
            bail!("etcd refused a lease: {}", lease.error);
        }
        Ok(Box::new(EtcdSession {
            grpc,
            shared_lease: lease.id,
            client,
            counter: 0,
            keep_alive: None,
        }))
    }

    async fn stop(self: Box<Self>) -> anyhow::Result<()> {
        self.server.stop().await
    }
}

type KeepAlive = (
    tokio::sync::mpsc::Sender<pb::LeaseKeepAliveRequest>,
    tonic::Streaming<pb::LeaseKeepAliveResponse>,
);

struct EtcdSession {
    grpc: Grpc<Channel>,
    shared_lease: i64,
    client: usize,
    counter: u64,
    keep_alive: Option<KeepAlive>,
}

impl EtcdSession {
    fn next_token(&mut self) -> String {
        self.counter += 1;
        format!("{}-{}", self.client, self.counter)
    }

    /// Puts `key` attached to `lease` unless it exists (then reads it, as a
    /// client that wants to say who holds it would).
    async fn put_if_absent(&mut self, key: &str, token: &str, lease: i64) -> anyhow::Result<bool> {
        let txn = pb::TxnRequest {
            compare: vec![pb::Compare {
                result: pb::COMPARE_EQUAL,
                target: pb::TARGET_CREATE,
                key: key.as_bytes().to_vec(),
                target_union: Some(TargetUnion::CreateRevision(0)),
            }],
            success: vec![pb::RequestOp {
                request: Some(Request::Put(pb::PutRequest {
                    key: key.as_bytes().to_vec(),
                    value: token.as_bytes().to_vec(),
                    lease,
                })),
            }],
            failure: vec![pb::RequestOp {
                request: Some(Request::Range(pb::RangeRequest {
                    key: key.as_bytes().to_vec(),
                    range_end: vec![],
                })),
            }],
        };
        let answer: pb::TxnResponse = pb::unary(&mut self.grpc, path::TXN, txn).await?;
        Ok(answer.succeeded)
    }

    async fn revoke(&mut self, lease: i64) -> anyhow::Result<()> {
        let _: pb::LeaseRevokeResponse = pb::unary(
            &mut self.grpc,
            path::LEASE_REVOKE,
            pb::LeaseRevokeRequest { id: lease },
        )
        .await?;
        Ok(())
    }
}

fn parse_window(value: &[u8]) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (start, end) = text.split_once(':')?;
    Some((start.parse().ok()?, end.parse().ok()?))
}

#[async_trait]
impl Session for EtcdSession {
    async fn lock(&mut self, resource: &str) -> anyhow::Result<Lease> {
        let request = pb::LockRequest {
            name: format!("lock/{resource}").into_bytes(),
            lease: self.shared_lease,
        };
        let answer: pb::LockResponse = pb::unary(&mut self.grpc, path::LOCK, request).await?;
        Ok(Lease {
            key: String::from_utf8(answer.key).context("etcd lock key")?,
            token: String::new(),
            own_lease: 0,
            paths: Vec::new(),
        })
    }

    async fn try_lock(&mut self, resource: &str) -> anyhow::Result<Claim> {
        let key = format!("claim/{resource}");
        let token = self.next_token();
        Ok(
            if self.put_if_absent(&key, &token, self.shared_lease).await? {
                Claim::Granted(Lease {
                    key,
                    token,
                    own_lease: 0,
                    paths: Vec::new(),
                })
            } else {
                Claim::Skipped
            },
        )
    }

    async fn unlock(&mut self, lease: &Lease) -> anyhow::Result<()> {
        if lease.own_lease != 0 {
            // Revoking the lease deletes the key attached to it.
            return self.revoke(lease.own_lease).await;
        }
        if lease.token.is_empty() {
            let _: pb::UnlockResponse = pb::unary(
                &mut self.grpc,
                path::UNLOCK,
                pb::UnlockRequest {
                    key: lease.key.as_bytes().to_vec(),
                },
            )
            .await?;
            return Ok(());
        }
        // Compare-and-delete: never delete a key someone else now holds.
        let txn = pb::TxnRequest {
            compare: vec![pb::Compare {
                result: pb::COMPARE_EQUAL,
                target: pb::TARGET_VALUE,
                key: lease.key.as_bytes().to_vec(),
                target_union: Some(TargetUnion::Value(lease.token.as_bytes().to_vec())),
            }],
            success: vec![pb::RequestOp {
                request: Some(Request::DeleteRange(pb::DeleteRangeRequest {
                    key: lease.key.as_bytes().to_vec(),
                    range_end: vec![],
                })),
            }],
            failure: vec![],
        };
        let _: pb::TxnResponse = pb::unary(&mut self.grpc, path::TXN, txn).await?;
        Ok(())
    }

    async fn acquire(&mut self, resource: &str, ttl: Duration) -> anyhow::Result<Claim> {
        let lease: pb::LeaseGrantResponse = pb::unary(
            &mut self.grpc,
            path::LEASE_GRANT,
            pb::LeaseGrantRequest {
                ttl: ttl.as_secs() as i64,
                id: 0,
            },
        )
        .await?;
        if !lease.error.is_empty() {
            bail!("etcd refused a lease: {}", lease.error);
        }
        let key = format!("claim/{resource}");
        let token = self.next_token();
        if self.put_if_absent(&key, &token, lease.id).await? {
            Ok(Claim::Granted(Lease {
                key,
                token,
                own_lease: lease.id,
                paths: Vec::new(),
            }))
        } else {
            self.revoke(lease.id).await?;
            Ok(Claim::Skipped)
        }
    }

    async fn extend(&mut self, lease: &Lease, _ttl: Duration) -> anyhow::Result<()> {
        if lease.own_lease == 0 {
            bail!("only claims from acquire() have a lease of their own to extend");
        }
        let request = pb::LeaseKeepAliveRequest {
            id: lease.own_lease,
        };
        if self.keep_alive.is_none() {
            let stream =
                pb::streaming(&mut self.grpc, path::LEASE_KEEP_ALIVE, request.clone()).await?;
            self.keep_alive = Some(stream);
        } else if let Some((sender, _)) = &self.keep_alive {
            sender
                .send(request)
                .await
                .map_err(|_| anyhow::anyhow!("etcd's keep-alive stream closed"))?;
        }
        let Some((_, answers)) = &mut self.keep_alive else {
            bail!("no keep-alive stream");
        };
        match answers.message().await? {
            Some(answer) if answer.ttl > 0 => Ok(()),
            Some(_) => bail!("etcd lease {} was lost", lease.own_lease),
            None => bail!("etcd's keep-alive stream ended"),
        }
    }

    async fn create_hold(
        &mut self,
        calendar: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> anyhow::Result<Option<String>> {
        let prefix = format!("cal/{calendar}/");
        let guard = format!("{prefix}v");
        let hold_id = self.next_token();
        let hold_key = format!("{prefix}h/{hold_id}");
        for _ in 0..1000 {
            let range: pb::RangeResponse = pb::unary(
                &mut self.grpc,
                path::RANGE,
                pb::RangeRequest {
                    key: prefix.as_bytes().to_vec(),
                    range_end: pb::prefix_end(prefix.as_bytes()),
                },
            )
            .await?;
            let mut version = 0;
            for kv in &range.kvs {
                if kv.key == guard.as_bytes() {
                    version = kv.version;
                } else if let Some((start, end)) = parse_window(&kv.value)
                    && start < end_ms
                    && start_ms < end
                {
                    return Ok(None);
                }
            }
            let put = |key: &str, value: String| pb::RequestOp {
                request: Some(Request::Put(pb::PutRequest {
                    key: key.as_bytes().to_vec(),
                    value: value.into_bytes(),
                    lease: 0,
                })),
            };
            let txn = pb::TxnRequest {
                compare: vec![pb::Compare {
                    result: pb::COMPARE_EQUAL,
                    target: pb::TARGET_VERSION,
                    key: guard.as_bytes().to_vec(),
                    target_union: Some(TargetUnion::Version(version)),
                }],
                success: vec![
                    put(&guard, String::new()),
                    put(&hold_key, format!("{start_ms}:{end_ms}")),
                ],
                failure: vec![],
            };
            let answer: pb::TxnResponse = pb::unary(&mut self.grpc, path::TXN, txn).await?;
            if answer.succeeded {
                return Ok(Some(hold_key));
            }
        }
        bail!("etcd hold on {calendar}: lost the race 1000 times")
    }

    async fn release_hold(&mut self, _calendar: &str, hold_id: &str) -> anyhow::Result<()> {
        let _: pb::DeleteRangeResponse = pb::unary(
            &mut self.grpc,
            path::DELETE_RANGE,
            pb::DeleteRangeRequest {
                key: hold_id.as_bytes().to_vec(),
                range_end: vec![],
            },
        )
        .await?;
        Ok(())
    }

    async fn claim_paths(&mut self, repo: &str, paths: &[String]) -> anyhow::Result<Claim> {
        let keys: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| format!("path/{repo}/{p}").into_bytes())
            .collect();
        let token = self.next_token();
        let txn = pb::TxnRequest {
            compare: keys
                .iter()
                .map(|key| pb::Compare {
                    result: pb::COMPARE_EQUAL,
                    target: pb::TARGET_CREATE,
                    key: key.clone(),
                    target_union: Some(TargetUnion::CreateRevision(0)),
                })
                .collect(),
            success: keys
                .iter()
                .map(|key| pb::RequestOp {
                    request: Some(Request::Put(pb::PutRequest {
                        key: key.clone(),
                        value: token.as_bytes().to_vec(),
                        lease: self.shared_lease,
                    })),
                })
                .collect(),
            failure: vec![],
        };
        let answer: pb::TxnResponse = pb::unary(&mut self.grpc, path::TXN, txn).await?;
        Ok(if answer.succeeded {
            Claim::Granted(Lease {
                key: repo.to_owned(),
                token,
                own_lease: 0,
                paths: keys
                    .into_iter()
                    .map(|k| String::from_utf8_lossy(&k).into_owned())
                    .collect(),
            })
        } else {
            Claim::Skipped
        })
    }

    async fn unlock_paths(&mut self, lease: &Lease) -> anyhow::Result<()> {
        // Compare-and-delete, all in one transaction.
        let txn = pb::TxnRequest {
            compare: lease
                .paths
                .iter()
                .map(|key| pb::Compare {
                    result: pb::COMPARE_EQUAL,
                    target: pb::TARGET_VALUE,
                    key: key.as_bytes().to_vec(),
                    target_union: Some(TargetUnion::Value(lease.token.as_bytes().to_vec())),
                })
                .collect(),
            success: lease
                .paths
                .iter()
                .map(|key| pb::RequestOp {
                    request: Some(Request::DeleteRange(pb::DeleteRangeRequest {
                        key: key.as_bytes().to_vec(),
                        range_end: vec![],
                    })),
                })
                .collect(),
            failure: vec![],
        };
        let _: pb::TxnResponse = pb::unary(&mut self.grpc, path::TXN, txn).await?;
        Ok(())
    }
}
