//! The simulated clients: agents that claim resources through the SDK's run
//! guard and work while it says the lease is held, and hold makers that
//! book and release time windows on shared calendars.
//!
//! An agent's start asks for one resource, for 2–3 of them at once (SPEC
//! §12; the sets overlap each other and the single-resource starts), or
//! for a share of a capacity pool (SPEC §11), by the workload's rates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use availsync_sdk::{Client, Error, NewHold, Outcome, RunStart, StartRun};
use availsync_types::{ReasonCode, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::history::{GrantRecord, History, HoldRecord, RunEnd, StartRecord};

/// Half an hour, the calendars' slot size.
const SLOT_MS: i64 = 30 * 60 * 1000;
/// Slots on each calendar; holds of one to three slots land among them.
const SLOTS: i64 = 48;

/// What the clients work on.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Claimable resources agents race for.
    pub resources: Vec<String>,
    /// A resource with a capacity rule (several claims at once), if any.
    pub pool: Option<String>,
    /// Share of starts that ask for 2–3 resources at once (pairs three
    /// times in four; half of them with the pool among them, when there is
    /// one).
    pub multi_rate: f64,
    /// Share of starts that ask for the pool alone.
    pub pool_rate: f64,
    /// Share of starts that wait 0.5–3 s in the server's queue (SPEC §13)
    /// instead of skipping at once.
    pub wait_rate: f64,
    /// Calendars hold makers book.
    pub calendars: Vec<String>,
    /// The lease TTL agents ask for.
    pub ttl: Duration,
    /// The longest an agent works under one lease (a quarter of runs; the
    /// rest last at most 1.5 s).
    pub max_work: Duration,
    /// Start of the calendars' first slot (Unix milliseconds).
    pub calendar_base_ms: i64,
    /// Seed of the clients' choices.
    pub seed: u64,
}

/// An agent's identity and its client (through the fault proxy).
#[derive(Debug, Clone)]
pub struct Actor {
    /// The agent's id on the server.
    pub agent_id: String,
    /// Its client.
    pub client: Client,
}

/// Claims, works and finishes (or walks away) until `stop`; answers the
/// runs it was granted.
pub async fn agent(
    index: usize,
    actor: Actor,
    workload: Arc<Workload>,
    history: Arc<History>,
    stop: CancellationToken,
) -> Vec<GrantRecord> {
    let mut rng = StdRng::seed_from_u64(workload.seed.wrapping_add(index as u64 * 7919));
    let mut grants = Vec::new();
    let mut n = 0u64;
    while !stop.is_cancelled() {
        n += 1;
        let requested = choose_resources(&workload, &mut rng);
        let wait = rng
            .random_bool(workload.wait_rate)
            .then(|| Duration::from_millis(rng.random_range(500..=3000)));
        let run_id = format!("soak-a{index}-{n}");
        let multi = requested.len() > 1;
        let pooled = workload
            .pool
            .as_ref()
            .is_some_and(|pool| requested.contains(pool));
        history.with(|r| {
            r.counters.starts += 1;
            r.counters.multi_starts += u64::from(multi);
            r.counters.pool_starts += u64::from(pooled);
            r.counters.waiting_starts += u64::from(wait.is_some());
            r.starts.push(StartRecord {
                agent_id: actor.agent_id.clone(),
                run_id: run_id.clone(),
                requested: requested.clone(),
            });
        });
        let start = if multi {
            StartRun::resources(&requested)
        } else {
            StartRun::new(&requested[0])
        };
        let start = match start {
            Ok(start) => match wait {
                Some(wait) => start.ttl(workload.ttl).run_id(&run_id).wait(wait),
                None => start.ttl(workload.ttl).run_id(&run_id),
            },
            Err(e) => {
                tracing::error!(?requested, error = %e, "bad resources in the workload");
                return grants;
            }
        };
        match actor.client.claim(start).await {
            Ok(RunStart::Claimed(guard)) => {
                let received = Instant::now();
                let waited = guard.waited().filter(|w| !w.is_zero());
                history.with(|r| {
                    r.counters.grants += 1;
                    r.counters.grants_after_waiting += u64::from(waited.is_some());
                    r.counters.multi_grants += u64::from(multi);
                    r.counters.pool_grants += u64::from(pooled);
                });
                let record = work(
                    guard, requested, received, &actor, &workload, &history, &stop, &mut rng,
                )
                .await;
                grants.push(record);
            }
            Ok(RunStart::Skipped(skipped)) => {
                let full = skipped.reason.code == ReasonCode::CapacityFull;
                history.with(|r| {
                    r.counters.skips += 1;
                    r.counters.capacity_full += u64::from(full);
                });
                pause(&mut rng, 50, 300, &stop).await;
            }
            Ok(RunStart::Observed(_)) => {
                tracing::error!(%run_id, "an enforce-mode agent was answered as observed");
            }
            Ok(RunStart::Partial(..)) => {
                tracing::error!(%run_id, "a start without a working set was answered partial");
            }
            Err(e) => {
                tracing::debug!(%run_id, error = %e, "start failed");
                let no_answer = matches!(e, Error::Transport { .. } | Error::Timeout { .. });
                history.with(|r| {
                    r.counters.start_errors += 1;
                    r.counters.start_no_answer += u64::from(no_answer);
                });
                pause(&mut rng, 100, 500, &stop).await;
            }
        }
    }
    grants
}

/// The resources of the next start: the pool alone, 2–3 distinct
/// resources (sometimes the pool among them), or one resource.
fn choose_resources(workload: &Workload, rng: &mut StdRng) -> Vec<String> {
    let resources = &workload.resources;
    let roll: f64 = rng.random();
    let pool_rate = if workload.pool.is_some() {
        workload.pool_rate
    } else {
        0.0
    };
    if let Some(pool) = &workload.pool
        && roll < pool_rate
    {
        return vec![pool.clone()];
    }
    if roll < pool_rate + workload.multi_rate && resources.len() >= 2 {
        // Mostly pairs: a set is granted only when all of it is free.
        let count = if resources.len() >= 3 && rng.random_bool(0.25) {
            3
        } else {
            2
        };
        let mut chosen: Vec<String> = Vec::with_capacity(count);
        while chosen.len() < count {
            let resource = &resources[rng.random_range(0..resources.len())];
            if !chosen.contains(resource) {
                chosen.push(resource.clone());
            }
        }
        if let Some(pool) = &workload.pool
            && rng.random_bool(0.5)
        {
            let at = rng.random_range(0..chosen.len());
            chosen[at] = pool.clone();
        }
        return chosen;
    }
    vec![resources[rng.random_range(0..resources.len())].clone()]
}

/// Works under `guard`, asking it every few tens of milliseconds whether the
/// lease is still held, then finishes, walks away, or reports the loss.
#[allow(clippy::too_many_arguments)]
async fn work(
    guard: availsync_sdk::RunGuard,
    requested: Vec<String>,
    received: Instant,
    actor: &Actor,
    workload: &Workload,
    history: &History,
    stop: &CancellationToken,
    rng: &mut StdRng,
) -> GrantRecord {
    let claim = guard.claim().clone();
    let ttl_ms = i64::from(claim.ttl_seconds) * 1000;
    let mut record = GrantRecord {
        agent_id: actor.agent_id.clone(),
        run_id: guard.run_id().to_owned(),
        requested,
        held: guard
            .fencing_tokens()
            .into_iter()
            .map(|held| (held.resource, held.fencing_token))
            .collect(),
        granted_ms: claim.expires_at.unix_millis() - ttl_ms,
        received,
        last_belief: None,
        last_expires_ms: claim.expires_at.unix_millis(),
        finish_sent: None,
        finish_acked: false,
        end: RunEnd::Finished,
    };
    // Mostly short runs, so leases change hands often; a quarter long
    // enough to need extends across server kills.
    let max_work = u64::try_from(workload.max_work.as_millis()).unwrap_or(u64::MAX);
    let work_ms = if rng.random_bool(0.25) {
        rng.random_range(50..=max_work.max(50))
    } else {
        rng.random_range(50..=1500)
    };
    let until = Instant::now() + Duration::from_millis(work_ms);
    let mut checks = 0u64;
    let mut lost = false;
    while Instant::now() < until && !stop.is_cancelled() {
        let before = Instant::now();
        checks += 1;
        if !guard.is_held() {
            lost = true;
            break;
        }
        record.last_belief = Some(before);
        let nap = Duration::from_millis(rng.random_range(10..60));
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
            _ = guard.lost() => {}
        }
    }
    record.last_expires_ms = guard.expires_at().unix_millis();
    history.with(|r| r.counters.guard_checks += checks);
    if !lost && rng.random_bool(0.05) {
        record.end = RunEnd::Abandoned;
        guard.detach();
        history.with(|r| r.counters.abandoned += 1);
        return record;
    }
    if lost {
        record.end = RunEnd::Lost;
        history.with(|r| r.counters.lost += 1);
    }
    record.finish_sent = Some(Instant::now());
    let outcome = if lost {
        Outcome::Cancelled
    } else {
        Outcome::Succeeded
    };
    match guard.finish(outcome).await {
        Ok(_) => {
            record.finish_acked = true;
            history.with(|r| r.counters.finishes += 1);
        }
        Err(e) => {
            tracing::debug!(run_id = %record.run_id, error = %e, "finish failed");
            history.with(|r| r.counters.finish_errors += 1);
        }
    }
    record
}

/// Books one-to-three-slot windows on the calendars and releases about half
/// of what it booked, until `stop`; answers the holds it was acknowledged.
pub async fn hold_maker(
    index: usize,
    actor: Actor,
    workload: Arc<Workload>,
    history: Arc<History>,
    stop: CancellationToken,
) -> Vec<HoldRecord> {
    let mut rng = StdRng::seed_from_u64(workload.seed.wrapping_add(1_000_003 + index as u64));
    let mut holds: Vec<HoldRecord> = Vec::new();
    let mut n = 0u64;
    while !stop.is_cancelled() {
        n += 1;
        let calendar = &workload.calendars[rng.random_range(0..workload.calendars.len())];
        let slot = rng.random_range(0..SLOTS);
        let start_ms = workload.calendar_base_ms + slot * SLOT_MS;
        let end_ms = start_ms + rng.random_range(1..=3) * SLOT_MS;
        let request = NewHold::new(
            calendar,
            Timestamp::from_unix_millis(start_ms),
            Timestamp::from_unix_millis(end_ms),
        )
        .map(|hold| hold.idempotency_key(format!("soak-h{index}-{n}")));
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                tracing::error!(%calendar, error = %e, "bad calendar in the workload");
                return holds;
            }
        };
        history.with(|r| r.counters.hold_attempts += 1);
        match actor.client.create_hold(&request).await {
            Ok(answer) => {
                history.with(|r| r.counters.holds_created += 1);
                holds.push(HoldRecord {
                    hold_id: answer.hold.hold_id,
                    resource: answer.hold.resource,
                    start_ms: answer.hold.start.unix_millis(),
                    end_ms: answer.hold.end.unix_millis(),
                    acked: Instant::now(),
                    release_sent: None,
                    release_acked: false,
                });
            }
            Err(e) if e.code() == Some("hold_conflict") => {
                history.with(|r| r.counters.hold_conflicts += 1);
            }
            Err(e) => {
                tracing::debug!(error = %e, "hold failed");
                history.with(|r| r.counters.hold_errors += 1);
            }
        }
        let releasable: Vec<usize> = (0..holds.len())
            .filter(|&i| holds[i].release_sent.is_none())
            .collect();
        if !releasable.is_empty() && rng.random_bool(0.5) {
            let hold = &mut holds[releasable[rng.random_range(0..releasable.len())]];
            hold.release_sent = Some(Instant::now());
            match actor.client.release_hold(&hold.hold_id).await {
                Ok(()) => {
                    hold.release_acked = true;
                    history.with(|r| r.counters.releases += 1);
                }
                Err(e) => {
                    tracing::debug!(hold_id = %hold.hold_id, error = %e, "release failed");
                    history.with(|r| r.counters.release_errors += 1);
                }
            }
        }
        pause(&mut rng, 20, 100, &stop).await;
    }
    holds
}

async fn pause(rng: &mut StdRng, min_ms: u64, max_ms: u64, stop: &CancellationToken) {
    let nap = Duration::from_millis(rng.random_range(min_ms..=max_ms));
    tokio::select! {
        () = tokio::time::sleep(nap) => {}
        () = stop.cancelled() => {}
    }
}
