//! The `waiting` section: bounded waiting (SPEC §13) on Availsync, the
//! SQLite server and the PostgreSQL replicas. Two measurements per system,
//! each on a fresh server:
//!
//! - grant latency: agent 0 holds a resource, agent 1's `run/start` with
//!   `wait_seconds: 30` waits on it (on PostgreSQL ×2, at the other
//!   replica), agent 0 finishes; the latency runs from the finish call's
//!   answer arriving to the waiter's answer arriving;
//! - memory: the server's RSS with one resource held, then while N
//!   `run/start`s with `wait_seconds: 60` on it are sent, each on a TCP
//!   connection of its own, in batches, each followed by the server going
//!   quiet and a read of RSS; the figure per waiter comes from the last
//!   read before any waiter was answered. Every waiter's answer is then
//!   read and counted by kind: the resource stays held, so SPEC §13 has
//!   each one told `skip_run` at its deadline.
//!
//! The waiters' starts are plain HTTP/1.1 written here, one request per
//! connection (the SDK's `StartRun` does not send `wait_seconds`); the
//! holders start and finish through the SDK sessions of the other tables.
//! etcd and Redis are not measured: this bench's etcd and Redis clients
//! only make the non-waiting claims of the other tables.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use availsync_types::{Decision, StartRunResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::measure;
use crate::systems::availsync::{Availsync, resource_key};
use crate::systems::{Binaries, Claim, Kind, Lease, Session, System};

/// How long the grant-latency waiter may wait.
const GRANT_WAIT_SECONDS: u32 = 30;
/// How long the memory measurement's waiters may wait (SPEC §13's most).
const MEMORY_WAIT_SECONDS: u32 = 60;
/// How long after its request is written the grant-latency waiter is
/// given to join the queue before the holder finishes.
const JOIN_SETTLE: Duration = Duration::from_millis(50);
/// The memory measurement's waiters are sent this many at a time, the
/// next batch once the server's CPU has gone quiet: fewer connections in
/// the listen backlog at once, and no pile of requests waiting for a
/// PostgreSQL connection past the pool's wait timeout (10 s), which would
/// fail them rather than park them.
const BATCH: usize = 250;
/// Longest wait for the server to go quiet after a batch.
const SETTLE_AT_MOST: Duration = Duration::from_secs(30);
/// TTL of every claim the grant latency takes.
const GRANT_TTL: Duration = Duration::from_secs(60);
/// TTL of the claim the memory measurement's waiters wait on: longer than
/// they can wait, so that each is answered at its own deadline.
const MEMORY_HOLD_TTL: Duration = Duration::from_secs(900);
/// A waiter's answer not read within this long from its start fails.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(MEMORY_WAIT_SECONDS as u64 + 120);
/// A `skip_run` whose `waited_ms` is at least this waited out its deadline.
const WAITED_OUT_MS: u64 = (MEMORY_WAIT_SECONDS as u64 - 1) * 1000;

/// What the waiting section measures, and how much of it.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Grant-latency samples per system.
    pub grants: usize,
    /// Waiters parked at once for the memory figure.
    pub waiters: usize,
}

/// The grant latency on one system.
#[derive(Debug, Clone)]
pub struct GrantLatency {
    /// Latencies in ms, sorted (negative: the waiter's answer arrived
    /// before the finish call's).
    pub samples: Vec<f64>,
    /// Waiters granted without waiting (they reached the queue only after
    /// the finish): left out of the samples.
    pub not_queued: usize,
}

impl GrantLatency {
    /// The sample at `quantile` (nearest rank).
    pub fn percentile(&self, quantile: f64) -> f64 {
        if self.samples.is_empty() {
            return f64::NAN;
        }
        let rank = (quantile * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    /// Samples whose waiter's answer arrived before the finish call's.
    pub fn early(&self) -> usize {
        self.samples.iter().filter(|s| **s < 0.0).count()
    }
}

/// The memory of parked waiters on one system.
#[derive(Debug, Clone, Default)]
pub struct WaiterMemory {
    /// Waiters sent.
    pub waiters: usize,
    /// Server RSS (VmRSS, summed over the replicas) with the resource held
    /// and no waiter, in KiB.
    pub rss_before_kib: u64,
    /// The same once every waiter was sent and the server went quiet.
    pub rss_waiting_kib: u64,
    /// Seconds from the first waiter sent to the RSS read.
    pub fill_seconds: f64,
    /// The most waiters parked at once before any was answered: the last
    /// batch after which the server went quiet with no answer read yet.
    pub clean: Option<CleanPoint>,
    /// Waiters whose request was written before the RSS read and whose
    /// answer arrived after it.
    pub waiting_at_read: usize,
    /// Waiters answered at their deadline: `skip_run` after waiting at
    /// least 59 s.
    pub waited_out: usize,
    /// Waiters answered `503` (the server's per-request deadline).
    pub unavailable: usize,
    /// Other answers (a grant, a skip before the deadline, another error).
    pub other_answers: usize,
    /// The first other answer.
    pub first_other: Option<String>,
    /// Shortest and longest time from a waiter's request written to its
    /// answer read, in seconds.
    pub held_seconds: Option<(f64, f64)>,
    /// Waiters that got no answer (connection refused or closed, HTTP
    /// error, timeout).
    pub failed: usize,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Shortest and longest `waited_ms` among the answers.
    pub waited_ms: Option<(u64, u64)>,
}

/// Server RSS with `waiters` parked and none answered yet.
#[derive(Debug, Clone, Copy)]
pub struct CleanPoint {
    /// Waiters sent (all handled: the server had gone quiet).
    pub waiters: usize,
    /// Server RSS then, in KiB.
    pub rss_kib: u64,
    /// Seconds from the first waiter sent.
    pub seconds: f64,
}

impl WaiterMemory {
    /// KiB more per waiter at the clean point.
    pub fn clean_kib_per_waiter(&self) -> Option<f64> {
        self.clean.map(|c| {
            (c.rss_kib as i64 - self.rss_before_kib as i64) as f64 / c.waiters.max(1) as f64
        })
    }

    /// KiB of server RSS more with the waiters than without.
    pub fn more_kib(&self) -> i64 {
        self.rss_waiting_kib as i64 - self.rss_before_kib as i64
    }
}

/// The waiting section's row for one system.
#[derive(Debug, Clone)]
pub struct WaitingRow {
    /// The system's label.
    pub label: String,
    /// The grant latency, or why it failed.
    pub grant: Result<GrantLatency, String>,
    /// The waiters' memory, or why it failed.
    pub memory: Result<WaiterMemory, String>,
}

/// Whether the section measures `kind` (Availsync only).
pub fn applies_to(kind: &Kind) -> bool {
    matches!(kind, Kind::Availsync | Kind::AvailsyncPostgres { .. })
}

/// Both measurements on `kind`, each on a fresh server.
pub async fn measure(kind: &Kind, binaries: &Binaries, settings: Settings) -> WaitingRow {
    let label = match kind {
        Kind::AvailsyncPostgres { replicas } => format!(
            "availsync (PostgreSQL, {replicas} replica{})",
            if *replicas == 1 { "" } else { "s" }
        ),
        _ => "availsync (SQLite)".to_owned(),
    };
    let grant = async {
        let system = fresh(kind, binaries, &[]).await?;
        let measured = grant_latency(&system, settings.grants).await;
        stop(system, kind, measured.is_err()).await;
        measured
    }
    .await
    .map_err(|e| format!("{e:#}"));
    // Room for the waiters and the holder's connections on each replica.
    let serve_args = [
        "--max-connections".to_owned(),
        (settings.waiters + 1_000).to_string(),
    ];
    let memory = async {
        let system = fresh(kind, binaries, &serve_args).await?;
        let measured = waiter_memory(&system, settings.waiters).await;
        stop(system, kind, measured.is_err()).await;
        measured
    }
    .await
    .map_err(|e| format!("{e:#}"));
    WaitingRow {
        label,
        grant,
        memory,
    }
}

/// Starts `kind` with two agents (0 holds, 1 waits).
async fn fresh(
    kind: &Kind,
    binaries: &Binaries,
    serve_args: &[String],
) -> anyhow::Result<Availsync> {
    let postgres = match kind {
        Kind::AvailsyncPostgres { replicas } => {
            let Some(url) = &binaries.database_url else {
                bail!("{} needs --database-url", kind.name());
            };
            Some((url.clone(), *replicas))
        }
        Kind::Availsync => None,
        other => bail!("the waiting section does not apply to {}", other.name()),
    };
    Availsync::start_with(binaries, 2, postgres, serve_args)
        .await
        .with_context(|| format!("start {}", kind.name()))
}

/// Stops the servers, showing their state and logs after a failure.
async fn stop(mut system: Availsync, kind: &Kind, failed: bool) {
    if failed {
        eprintln!("    {}", system.diagnose().replace('\n', "\n    "));
    }
    if let Err(e) = Box::new(system).stop().await {
        eprintln!("    stopping {} failed: {e:#}", kind.name());
    }
}

/// Raises this process's soft open-file limit to the hard one, as the
/// server does at start, so that it can hold a connection per waiter.
/// Answers the limit in force (`None`: unlimited or unknown).
#[cfg(unix)]
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return None;
    };
    let target = hard.unwrap_or(soft);
    if target <= soft {
        return Some(soft);
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: hard,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(target),
        Err(_) => Some(soft),
    }
}

/// Off Unix the limit is left as it is.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}

/// A `run/start` body on bench resource `resource`.
fn start_body(resource: &str, ttl: Duration, wait_seconds: u32) -> Vec<u8> {
    serde_json::json!({
        "resource": resource_key(resource),
        "ttl_seconds": ttl.as_secs(),
        "wait_seconds": wait_seconds,
    })
    .to_string()
    .into_bytes()
}

/// Opens a connection to `addr` and writes a `run/start` on it (the
/// connection closes after the answer).
async fn send_start(addr: SocketAddr, key: &str, body: &[u8]) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let mut request = format!(
        "POST /v1/work/run/start HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream
        .write_all(&request)
        .await
        .context("send the run/start")?;
    Ok(stream)
}

/// Reads the answer to [`send_start`]: a 200 with a `run/start` answer.
async fn read_answer(stream: &mut TcpStream) -> anyhow::Result<StartRunResponse> {
    let (status, body) = read_http(stream).await?;
    if status != 200 {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).context("parse the run/start answer")
}

/// Reads one HTTP/1.1 answer with a `content-length`: its status and body.
async fn read_http(stream: &mut TcpStream) -> anyhow::Result<(u16, Vec<u8>)> {
    // No buffer while parked: allocate once the answer starts to arrive.
    stream.readable().await.context("wait for the answer")?;
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let (status, body) = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("a status line in {head:?}"))?;
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if let Some(length) = length
                && buf.len() >= end + 4 + length
            {
                break (status, buf[end + 4..end + 4 + length].to_vec());
            }
        }
        buf.reserve(2048);
        if stream.read_buf(&mut buf).await.context("read the answer")? == 0 {
            bail!(
                "the connection closed before a whole answer ({} bytes read)",
                buf.len()
            );
        }
    };
    Ok((status, body))
}

fn lease_of(answer: &StartRunResponse) -> Lease {
    Lease {
        key: answer.run_id.clone(),
        token: String::new(),
        own_lease: 0,
        paths: Vec::new(),
    }
}

async fn hold(session: &mut dyn Session, resource: &str, ttl: Duration) -> anyhow::Result<Lease> {
    match session.acquire(resource, ttl).await? {
        Claim::Granted(lease) => Ok(lease),
        Claim::Skipped => bail!("{resource} was still held"),
    }
}

/// Grant latency, `grants` times over on one resource.
async fn grant_latency(system: &Availsync, grants: usize) -> anyhow::Result<GrantLatency> {
    const RESOURCE: &str = "waiting-grant";
    let mut holder = system.session(0).await?;
    // Session 1 is agent 1 on replica 1 % replicas: the waiter's agent and
    // replica, which finishes each grant.
    let mut waiter_session = system.session(1).await?;
    let waiter_addr = system.addr(1)?;
    let key = system.agent_key(1).to_owned();
    let body = start_body(RESOURCE, GRANT_TTL, GRANT_WAIT_SECONDS);
    let mut samples = Vec::with_capacity(grants);
    let mut not_queued = 0;
    for _ in 0..grants {
        let lease = hold(holder.as_mut(), RESOURCE, GRANT_TTL).await?;
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
        let (key, body) = (key.clone(), body.clone());
        let waiter = tokio::spawn(async move {
            let mut stream = send_start(waiter_addr, &key, &body).await?;
            let _ = sent_tx.send(());
            let answer = read_answer(&mut stream).await?;
            anyhow::Ok((answer, Instant::now()))
        });
        if sent_rx.await.is_ok() {
            tokio::time::sleep(JOIN_SETTLE).await;
        }
        holder.unlock(&lease).await.context("finish the holder")?;
        let finished = Instant::now();
        let (answer, arrived) = tokio::time::timeout(
            Duration::from_secs(u64::from(GRANT_WAIT_SECONDS) + 30),
            waiter,
        )
        .await
        .context("the waiter's answer did not come")?
        .context("the waiter's task panicked")??;
        if !answer.decision.proceeds() {
            bail!(
                "the waiter was told {:?} after {:?} ms",
                answer.decision,
                answer.waited_ms
            );
        }
        match answer.waited_ms {
            None | Some(0) => not_queued += 1,
            Some(_) => samples.push(if arrived >= finished {
                (arrived - finished).as_secs_f64() * 1000.0
            } else {
                -(finished - arrived).as_secs_f64() * 1000.0
            }),
        }
        waiter_session
            .unlock(&lease_of(&answer))
            .await
            .context("finish the waiter's grant")?;
    }
    samples.sort_by(f64::total_cmp);
    Ok(GrantLatency {
        samples,
        not_queued,
    })
}

/// Waits until the server processes have used next to no CPU (under 5 %
/// of a core) for two 200 ms periods in a row: every request sent has then
/// been handled as far as it goes (here: its waiter joined the queue and
/// parked). Gives up after `max`.
async fn settle(pids: &[u32], max: Duration) -> anyhow::Result<()> {
    const PERIOD: Duration = Duration::from_millis(200);
    let give_up = Instant::now() + max;
    let mut quiet = 0;
    let mut last = measure::tree_cpu_seconds(pids)?;
    while quiet < 2 && Instant::now() < give_up {
        tokio::time::sleep(PERIOD).await;
        let now = measure::tree_cpu_seconds(pids)?;
        if now - last < 0.05 * PERIOD.as_secs_f64() {
            quiet += 1;
        } else {
            quiet = 0;
        }
        last = now;
    }
    Ok(())
}

/// One waiter of the memory measurement, answered.
struct Answered {
    /// When its request was written.
    sent: Instant,
    /// When its answer was read.
    arrived: Instant,
    status: u16,
    body: Vec<u8>,
}

/// Sends one waiter's start and reads its answer.
async fn wait_once(
    addr: SocketAddr,
    key: &str,
    body: &[u8],
    sent: &AtomicUsize,
) -> anyhow::Result<Answered> {
    let stream = send_start(addr, key, body).await;
    sent.fetch_add(1, Ordering::Relaxed);
    let mut stream = stream?;
    let sent = Instant::now();
    let (status, body) = read_http(&mut stream).await?;
    Ok(Answered {
        sent,
        arrived: Instant::now(),
        status,
        body,
    })
}

/// Server RSS before and with `waiters` parked waiters, then every
/// waiter's answer.
async fn waiter_memory(system: &Availsync, waiters: usize) -> anyhow::Result<WaiterMemory> {
    const RESOURCE: &str = "waiting-memory";
    let mut holder = system.session(0).await?;
    let lease = hold(holder.as_mut(), RESOURCE, MEMORY_HOLD_TTL).await?;
    let pids = system.rss_pids();
    settle(&pids, Duration::from_secs(5)).await?;
    let rss_before_kib = measure::rss_kib(&pids);

    let body: Arc<[u8]> = start_body(RESOURCE, GRANT_TTL, MEMORY_WAIT_SECONDS).into();
    let key: Arc<str> = system.agent_key(1).into();
    let sent = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut clean = None;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(waiters);
    for batch in (0..waiters).step_by(BATCH) {
        let end = (batch + BATCH).min(waiters);
        for waiter in batch..end {
            // Spread over the replicas.
            let addr = system.addr(waiter)?;
            let (body, key, sent) = (Arc::clone(&body), Arc::clone(&key), Arc::clone(&sent));
            let answered = Arc::clone(&answered);
            tasks.push(tokio::spawn(async move {
                let outcome =
                    tokio::time::timeout(ANSWER_TIMEOUT, wait_once(addr, &key, &body, &sent)).await;
                answered.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(outcome) => outcome,
                    Err(_) => bail!("no answer within {} s", ANSWER_TIMEOUT.as_secs()),
                }
            }));
        }
        let give_up = Instant::now() + Duration::from_secs(30);
        while sent.load(Ordering::Relaxed) < end && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        settle(&pids, SETTLE_AT_MOST).await?;
        let rss_kib = measure::rss_kib(&pids);
        let seconds = started.elapsed().as_secs_f64();
        let none_answered = answered.load(Ordering::Relaxed) == 0;
        if none_answered {
            clean = Some(CleanPoint {
                waiters: end,
                rss_kib,
                seconds,
            });
        }
        if end.is_multiple_of(2_000) || end == waiters {
            eprintln!(
                "    {end} waiters sent and settled after {seconds:.1} s, RSS {:.1} MiB{}",
                rss_kib as f64 / 1024.0,
                if none_answered {
                    ""
                } else {
                    " (some already answered)"
                }
            );
        }
    }
    let fill_seconds = started.elapsed().as_secs_f64();
    let read_at = Instant::now();
    let rss_waiting_kib = measure::rss_kib(&pids);
    eprintln!(
        "    RSS {:.1} → {:.1} MiB; reading the waiters' answers",
        rss_before_kib as f64 / 1024.0,
        rss_waiting_kib as f64 / 1024.0
    );

    let mut memory = WaiterMemory {
        waiters,
        rss_before_kib,
        rss_waiting_kib,
        fill_seconds,
        clean,
        ..WaiterMemory::default()
    };
    for task in tasks {
        let answered = match task.await.context("a waiter's task panicked")? {
            Ok(answered) => answered,
            Err(e) => {
                memory.failed += 1;
                if memory.first_error.is_none() {
                    memory.first_error = Some(format!("{e:#}"));
                }
                continue;
            }
        };
        let held = (answered.arrived - answered.sent).as_secs_f64();
        memory.held_seconds = Some(match memory.held_seconds {
            None => (held, held),
            Some((low, high)) => (low.min(held), high.max(held)),
        });
        if answered.sent < read_at && answered.arrived > read_at {
            memory.waiting_at_read += 1;
        }
        let answer = (answered.status == 200)
            .then(|| serde_json::from_slice::<StartRunResponse>(&answered.body).ok())
            .flatten();
        match answer {
            Some(answer) => {
                let waited = answer.waited_ms.unwrap_or(0);
                memory.waited_ms = Some(match memory.waited_ms {
                    None => (waited, waited),
                    Some((low, high)) => (low.min(waited), high.max(waited)),
                });
                if answer.decision == Decision::SkipRun && waited >= WAITED_OUT_MS {
                    memory.waited_out += 1;
                } else {
                    memory.other_answers += 1;
                    memory
                        .first_other
                        .get_or_insert_with(|| format!("{:?} after {waited} ms", answer.decision));
                }
            }
            None if answered.status == 503 => memory.unavailable += 1,
            None => {
                memory.other_answers += 1;
                memory.first_other.get_or_insert_with(|| {
                    format!(
                        "HTTP {}: {}",
                        answered.status,
                        String::from_utf8_lossy(&answered.body)
                    )
                });
            }
        }
    }
    holder.unlock(&lease).await.context("finish the holder")?;
    Ok(memory)
}

fn ms(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn count(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The memory target: 10,000 waiters in under 50 MB.
const TARGET_BYTES: f64 = 50_000_000.0;

/// The section's table, or nothing when it did not run.
pub fn table(rows: &[WaitingRow], settings: Settings) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Bounded waiting (SPEC §13)\n\n");
    let _ = writeln!(
        out,
        "Grant latency: agent 0 holds a resource; agent 1's `run/start` with `wait_seconds: {GRANT_WAIT_SECONDS}` is sent and given {} ms to join the queue (on PostgreSQL ×2 at the other replica than agent 0's), then agent 0 finishes. Latency: from the finish call's answer arriving to the waiter's answer arriving, {} times on one resource (the waiter finishes its grant between samples). A waiter granted without waiting (it reached the queue after the finish) would be left out and counted.\n",
        JOIN_SETTLE.as_millis(),
        count(settings.grants),
    );
    let _ = writeln!(
        out,
        "Memory: a fresh server (`--max-connections` raised to fit; the bench raises its own open-file limit to the hard limit) with one resource held for {} s. Server RSS (VmRSS, summed over the replicas) with no waiter (\"before\"), then {} `run/start`s with `wait_seconds: {MEMORY_WAIT_SECONDS}` on that resource, each on a TCP connection of its own (spread over the replicas), sent {BATCH} at a time, each batch followed by the server processes' CPU going quiet (under 5 % of a core for two 200 ms periods; at most {} s) and a read of RSS. \"Parked, none answered\": the last such read before any waiter had been answered, so every waiter sent was parked and none had left; KiB per waiter and MB per 10,000 come from it. \"Last read\": RSS after the last batch, with the waiters whose request was written before it and whose answer came after it. Every answer is then read: the resource stays held, so SPEC §13 has each told `skip_run` at its own deadline; the answers are counted as skip at the deadline (`waited_ms` ≥ {WAITED_OUT_MS}) / `503` / other / none, with the range of times from request written to answer read.\n",
        MEMORY_HOLD_TTL.as_secs(),
        count(settings.waiters),
        SETTLE_AT_MOST.as_secs(),
    );
    out.push_str(
        "etcd and Redis: not measured. Redis's `SET NX` has no wait; etcd's lock API does block until the lock is free, but this bench's etcd and Redis clients make only the non-waiting claims of the tables above.\n\n",
    );
    out.push_str(
        "| system | grants | grant p50 ms | p99 ms | max ms | waiters sent | RSS before MiB | parked, none answered (after s) | RSS then MiB | KiB per waiter | MB per 10,000 | last read: parked (after s) | RSS then MiB | answers: skip at deadline / 503 / other / none | answered after s | errors |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for row in rows {
        let mut errors = Vec::new();
        let grant = match &row.grant {
            Ok(g) => {
                let mut grants = count(g.samples.len());
                if g.not_queued > 0 {
                    let _ = write!(grants, " (+{} not queued)", g.not_queued);
                }
                if g.early() > 0 {
                    let _ = write!(grants, " ({} answered before the finish)", g.early());
                }
                [
                    grants,
                    ms(g.percentile(0.5)),
                    ms(g.percentile(0.99)),
                    ms(g.percentile(1.0)),
                ]
            }
            Err(e) => {
                errors.push(format!("grant latency: {e}"));
                ["failed".into(), "–".into(), "–".into(), "–".into()]
            }
        };
        let memory = match &row.memory {
            Ok(m) => {
                if m.failed > 0 {
                    errors.push(format!(
                        "{} waiters unanswered (first: {})",
                        count(m.failed),
                        m.first_error.as_deref().unwrap_or("")
                    ));
                }
                if m.other_answers > 0 {
                    errors.push(format!(
                        "{} other answers (first: {})",
                        count(m.other_answers),
                        m.first_other.as_deref().unwrap_or("")
                    ));
                }
                let (clean, clean_rss, per_waiter, per_10k) =
                    match (m.clean, m.clean_kib_per_waiter()) {
                        (Some(c), Some(kib)) => (
                            format!("{} ({:.1})", count(c.waiters), c.seconds),
                            mib(c.rss_kib),
                            format!("{kib:.2}"),
                            format!("{:.1}", kib * 1024.0 * 10_000.0 / 1_000_000.0),
                        ),
                        _ => ("–".into(), "–".into(), "–".into(), "–".into()),
                    };
                [
                    count(m.waiters),
                    mib(m.rss_before_kib),
                    clean,
                    clean_rss,
                    per_waiter,
                    per_10k,
                    format!("{} ({:.1})", count(m.waiting_at_read), m.fill_seconds),
                    mib(m.rss_waiting_kib),
                    format!(
                        "{} / {} / {} / {}",
                        count(m.waited_out),
                        count(m.unavailable),
                        count(m.other_answers),
                        count(m.failed)
                    ),
                    m.held_seconds.map_or("–".to_owned(), |(low, high)| {
                        format!("{low:.1}–{high:.1}")
                    }),
                ]
            }
            Err(e) => {
                errors.push(format!("memory: {e}"));
                std::array::from_fn(|_| "–".to_owned())
            }
        };
        let errors = if errors.is_empty() {
            "0".to_owned()
        } else {
            errors
                .join("; ")
                .chars()
                .take(160)
                .collect::<String>()
                .replace('|', "/")
                .replace('\n', " ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {errors} |",
            row.label,
            grant.join(" | "),
            memory.join(" | "),
        );
    }
    out.push('\n');
    for row in rows {
        let Ok(m) = &row.memory else { continue };
        let waited = m.waited_ms.map_or(String::new(), |(low, high)| {
            format!(
                "; answers' `waited_ms` {} to {}",
                count(low as usize),
                count(high as usize)
            )
        });
        let (Some(clean), Some(kib)) = (m.clean, m.clean_kib_per_waiter()) else {
            let _ = writeln!(
                out,
                "- {}: 10,000 waiters in under 50 MB of server memory: not judged, RSS was never read with every waiter sent parked and none answered{waited}",
                row.label
            );
            continue;
        };
        let per_10k = kib * 1024.0 * 10_000.0;
        let verdict = match (clean.waiters >= 10_000, per_10k < TARGET_BYTES) {
            (true, true) => "**met**".to_owned(),
            (true, false) => "**not met**".to_owned(),
            (false, under) => format!(
                "not judged: at most {} were parked at once; extrapolated, {}",
                count(clean.waiters),
                if under { "under" } else { "over" }
            ),
        };
        let _ = writeln!(
            out,
            "- {}: 10,000 waiters in under 50 MB of server memory: {:.1} MB per 10,000 ({kib:.2} KiB per waiter, from {} parked at once){waited} — {verdict}",
            row.label,
            per_10k / 1_000_000.0,
            count(clean.waiters),
        );
    }
    out.push('\n');
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = GrantLatency {
            samples: (1..=200).map(f64::from).collect(),
            not_queued: 0,
        };
        assert_eq!(latency.percentile(0.5), 100.0);
        assert_eq!(latency.percentile(0.99), 198.0);
        assert_eq!(latency.percentile(1.0), 200.0);
        assert_eq!(latency.early(), 0);
    }

    #[test]
    fn a_start_body_asks_to_wait() {
        let body: serde_json::Value =
            serde_json::from_slice(&start_body("x", Duration::from_secs(60), 30))
                .expect("JSON body");
        assert_eq!(body["resource"], "repo:bench/x");
        assert_eq!(body["wait_seconds"], 30);
        assert_eq!(body["ttl_seconds"], 60);
    }
}
