//! The safety checker: judges what the clients were told, and what the
//! server holds after the last restart, against the guarantees.
//!
//! A grant counts on every resource it holds: a several-resource claim
//! (SPEC §12) and a `depends_on` closure (SPEC §11) hold each of their
//! resources with a fencing token of its own. A resource admits as many
//! live claims at once as its capacity (1 unless the soak's rules say
//! otherwise).
//!
//! Every check is sound — it reports only what certainly went wrong — by
//! comparing a lower bound of one event with an upper bound of another:
//!
//! - **`fencing_token_unique`**: on a resource, two runs never got one
//!   token, and a run id never got two.
//! - **`fencing_token_order`**: on a resource, a higher token was never
//!   granted at an earlier server time.
//! - **`claims_overlap_server_time`** (capacity 1) and
//!   **`capacity_exceeded_server_time`** (capacity c > 1): a run that did
//!   not finish was told its lease lasted until `expires_at`; a grant with
//!   a higher token at a server time before that had to leave room for it.
//!   Fails when a grant on the resource was made while c lower-token
//!   claims were each told they lasted beyond it.
//! - **`guard_held_after_regrant`** (capacity 1) and
//!   **`capacity_exceeded_guard`** (capacity c > 1): a guard that says
//!   "held" at local time t means its lease was live from its grant until
//!   t. Fails when c guards of lower-token runs said "held" after another
//!   run on the resource had received its grant.
//! - **`all_or_nothing`**: a grant — as the client was told it, and as the
//!   server recorded it, for every run the clients started — holds exactly
//!   the resources its start asked for, plus their `depends_on` closure:
//!   never only part of them.
//! - **`grant_lost`** / **`finish_lost`**: an acknowledged grant is missing
//!   after the restarts, or has other resources or tokens; an acknowledged
//!   finish is not `finished`.
//! - **`server_claims_overlap`** (capacity 1) and
//!   **`server_capacity_exceeded`** (capacity c > 1): the server's own
//!   record of every claim (including grants whose answers were lost on
//!   the way) has more than c claims on one resource live at once.
//! - **`hold_lost`** / **`hold_release_lost`**: an acknowledged hold never
//!   released is not active with its window; an acknowledged release left
//!   the hold active.
//! - **`holds_overlap`**: two active holds on one calendar overlap now, or
//!   two acknowledged holds with overlapping windows were certainly active
//!   at the same moment (each from its acknowledgement until its release
//!   was sent).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use availsync_types::{Hold, HoldStatus, Run, RunStatus};

use crate::history::{GrantRecord, HoldRecord, Recorded, StartRecord};

/// One broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which check found it.
    pub check: &'static str,
    /// What exactly.
    pub detail: String,
}

/// The check names, in report order.
pub const CHECKS: [&str; 16] = [
    "fencing_token_unique",
    "fencing_token_order",
    "claims_overlap_server_time",
    "guard_held_after_regrant",
    "capacity_exceeded_server_time",
    "capacity_exceeded_guard",
    "all_or_nothing",
    "grant_lost",
    "finish_lost",
    "server_claims_overlap",
    "server_capacity_exceeded",
    "hold_lost",
    "hold_release_lost",
    "holds_overlap",
    "holds_overlap_history",
    "rule_lost",
];

/// The rules the soak created before its clients started (and the server
/// acknowledged): what the checks need of them.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Capacity of each resource with a capacity rule (others have 1).
    pub capacity: BTreeMap<String, u32>,
    /// `depends_on` of each resource with such a rule.
    pub depends_on: BTreeMap<String, Vec<String>>,
}

impl Rules {
    /// How many live claims `resource` admits at once.
    pub fn capacity(&self, resource: &str) -> usize {
        self.capacity
            .get(resource)
            .map_or(1, |&c| usize::try_from(c).unwrap_or(usize::MAX).max(1))
    }

    /// The resources a start asking for `requested` claims: those and
    /// their transitive `depends_on` closure.
    pub fn closure(&self, requested: &[String]) -> BTreeSet<String> {
        let mut reached: BTreeSet<String> = BTreeSet::new();
        let mut todo: Vec<&String> = requested.iter().collect();
        while let Some(resource) = todo.pop() {
            if reached.insert(resource.clone())
                && let Some(deps) = self.depends_on.get(resource)
            {
                todo.extend(deps);
            }
        }
        reached
    }
}

/// What the server holds after the soak, read with a clean connection.
#[derive(Debug, Clone, Default)]
pub struct ServerState {
    /// Every run of the workspace.
    pub runs: Vec<Run>,
    /// Every hold of the workspace.
    pub holds: Vec<Hold>,
    /// The workspace's rules, by resource: capacity and `depends_on`.
    pub rules: BTreeMap<String, (u32, Vec<String>)>,
}

/// Runs every check.
pub fn check(recorded: &Recorded, server: &ServerState, rules: &Rules) -> Vec<Violation> {
    let mut violations = Vec::new();
    check_grants(&recorded.grants, rules, &mut violations);
    check_all_or_nothing(recorded, &server.runs, rules, &mut violations);
    check_durability(&recorded.grants, server, &mut violations);
    check_server_claims(&server.runs, rules, &mut violations);
    check_holds(&recorded.holds, server, &mut violations);
    check_rules(rules, server, &mut violations);
    violations
}

fn violation(violations: &mut Vec<Violation>, check: &'static str, detail: String) {
    violations.push(Violation { check, detail });
}

fn by_resource<'a, T>(
    items: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> &str,
) -> BTreeMap<String, Vec<&'a T>>
where
    T: 'a,
{
    let mut map: BTreeMap<String, Vec<&T>> = BTreeMap::new();
    for item in items {
        map.entry(key(item).to_owned()).or_default().push(item);
    }
    map
}

/// Every (resource, token) a server run's claim holds.
fn held_on_server(run: &Run) -> Vec<(String, u64)> {
    let Some(claim) = &run.claim else {
        return Vec::new();
    };
    match &claim.resources {
        Some(list) => list
            .iter()
            .map(|held| (held.resource.clone(), held.fencing_token))
            .collect(),
        None => vec![(claim.resource.clone(), claim.fencing_token)],
    }
}

/// The check names for overlapping claims on a resource of `capacity`.
fn overlap_checks(capacity: usize) -> (&'static str, &'static str, &'static str) {
    if capacity == 1 {
        (
            "claims_overlap_server_time",
            "guard_held_after_regrant",
            "server_claims_overlap",
        )
    } else {
        (
            "capacity_exceeded_server_time",
            "capacity_exceeded_guard",
            "server_capacity_exceeded",
        )
    }
}

fn names<T>(items: &[(T, &str, u64)]) -> String {
    items
        .iter()
        .map(|(_, run, token)| format!("{run} (token {token})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_grants(grants: &[GrantRecord], rules: &Rules, violations: &mut Vec<Violation>) {
    // Each grant on each resource it holds, with its token there.
    let mut on: BTreeMap<&str, Vec<(&GrantRecord, u64)>> = BTreeMap::new();
    for g in grants {
        for (resource, token) in &g.held {
            on.entry(resource.as_str()).or_default().push((g, *token));
        }
    }
    for (resource, mut runs) in on {
        runs.sort_by(|a, b| (a.1, &a.0.run_id).cmp(&(b.1, &b.0.run_id)));
        // Same run id told twice (a replay) must be told the same token.
        let mut token_of: HashMap<(&str, &str), u64> = HashMap::new();
        for &(g, token) in &runs {
            if let Some(&told) = token_of.get(&(g.agent_id.as_str(), g.run_id.as_str()))
                && told != token
            {
                violation(
                    violations,
                    "fencing_token_unique",
                    format!(
                        "{resource}: run {} was granted tokens {told} and {token}",
                        g.run_id
                    ),
                );
            }
            token_of.insert((&g.agent_id, &g.run_id), token);
        }
        let distinct: Vec<(&GrantRecord, u64)> = {
            let mut seen = std::collections::HashSet::new();
            runs.iter()
                .copied()
                .filter(|(g, _)| seen.insert((g.agent_id.clone(), g.run_id.clone())))
                .collect()
        };
        for pair in distinct.windows(2) {
            let ((a, a_token), (b, b_token)) = (pair[0], pair[1]);
            if a_token == b_token {
                violation(
                    violations,
                    "fencing_token_unique",
                    format!(
                        "{resource}: token {a_token} granted to runs {} and {}",
                        a.run_id, b.run_id
                    ),
                );
            }
            if b.granted_ms < a.granted_ms {
                violation(
                    violations,
                    "fencing_token_order",
                    format!(
                        "{resource}: token {b_token} ({}) granted at {} ms, before token {a_token} ({}) at {} ms",
                        b.run_id, b.granted_ms, a.run_id, a.granted_ms
                    ),
                );
            }
        }
        // Over lower tokens (granted earlier): the acknowledged ends of the
        // leases never given back, and the latest "held" of each guard.
        let capacity = rules.capacity(resource);
        let (server_time, guard, _) = overlap_checks(capacity);
        let mut ends: Vec<(i64, &str, u64)> = Vec::new();
        let mut beliefs: Vec<(Instant, &str, u64)> = Vec::new();
        for &(b, b_token) in &distinct {
            let live: Vec<(i64, &str, u64)> = ends
                .iter()
                .copied()
                .filter(|&(end, ..)| b.granted_ms < end)
                .collect();
            if live.len() >= capacity {
                violation(
                    violations,
                    server_time,
                    format!(
                        "{resource} (capacity {capacity}): {} (token {b_token}) granted at {} ms while {} were told their leases lasted beyond it (until {:?} ms) and never finished",
                        b.run_id,
                        b.granted_ms,
                        names(&live),
                        live.iter().map(|l| l.0).collect::<Vec<_>>()
                    ),
                );
            }
            let held: Vec<(Instant, &str, u64)> = beliefs
                .iter()
                .copied()
                .filter(|&(at, ..)| at > b.received)
                .collect();
            if held.len() >= capacity {
                let longest = held.iter().map(|h| h.0).max().unwrap_or(b.received) - b.received;
                violation(
                    violations,
                    guard,
                    format!(
                        "{resource} (capacity {capacity}): the guards of {} said held (up to {longest:?}) after {} (token {b_token}) had received its grant",
                        names(&held),
                        b.run_id
                    ),
                );
            }
            if b.finish_sent.is_none() {
                ends.push((b.last_expires_ms, &b.run_id, b_token));
            }
            if let Some(at) = b.last_belief {
                beliefs.push((at, &b.run_id, b_token));
            }
        }
    }
}

fn check_all_or_nothing(
    recorded: &Recorded,
    server_runs: &[Run],
    rules: &Rules,
    violations: &mut Vec<Violation>,
) {
    let mut judge = |who: &str, run_id: &str, requested: &[String], held: &[(String, u64)]| {
        let expected = rules.closure(requested);
        let got: BTreeSet<String> = held.iter().map(|(r, _)| r.clone()).collect();
        if got != expected {
            violation(
                violations,
                "all_or_nothing",
                format!(
                    "run {run_id} asked for {requested:?} (with its closure {expected:?}); {who} holds {got:?}"
                ),
            );
        }
    };
    for g in &recorded.grants {
        judge(
            "the grant told to the client",
            &g.run_id,
            &g.requested,
            &g.held,
        );
    }
    let asked: HashMap<(&str, &str), &StartRecord> = recorded
        .starts
        .iter()
        .map(|s| ((s.agent_id.as_str(), s.run_id.as_str()), s))
        .collect();
    for run in server_runs.iter().filter(|run| run.claim.is_some()) {
        if let Some(start) = asked.get(&(run.agent_id.as_str(), run.run_id.as_str())) {
            judge(
                "the server's claim",
                &run.run_id,
                &start.requested,
                &held_on_server(run),
            );
        }
    }
}

fn check_durability(grants: &[GrantRecord], server: &ServerState, violations: &mut Vec<Violation>) {
    let runs: HashMap<(&str, &str), &Run> = server
        .runs
        .iter()
        .map(|run| ((run.agent_id.as_str(), run.run_id.as_str()), run))
        .collect();
    for g in grants {
        let Some(run) = runs.get(&(g.agent_id.as_str(), g.run_id.as_str())) else {
            violation(
                violations,
                "grant_lost",
                format!("run {} of {} is gone", g.run_id, g.agent_id),
            );
            continue;
        };
        let mut told = g.held.clone();
        told.sort();
        let mut has = held_on_server(run);
        has.sort();
        if told != has {
            violation(
                violations,
                "grant_lost",
                format!("run {}: told {told:?}, the server has {has:?}", g.run_id),
            );
        }
        if g.finish_acked && run.status != RunStatus::Finished {
            violation(
                violations,
                "finish_lost",
                format!(
                    "run {} was acknowledged finished; the server has {:?}",
                    g.run_id, run.status
                ),
            );
        }
    }
}

fn check_server_claims(runs: &[Run], rules: &Rules, violations: &mut Vec<Violation>) {
    // Each claim on each resource it holds, with its token there.
    let mut on: BTreeMap<String, Vec<(&Run, u64)>> = BTreeMap::new();
    for run in runs {
        for (resource, token) in held_on_server(run) {
            on.entry(resource).or_default().push((run, token));
        }
    }
    for (resource, mut runs) in on {
        runs.sort_by_key(|&(_, token)| token);
        let capacity = rules.capacity(&resource);
        let (.., overlap) = overlap_checks(capacity);
        // The lower-token claims and when each ended.
        let mut ends: Vec<(i64, &str, u64)> = Vec::new();
        let mut previous_token: Option<(&Run, u64)> = None;
        for (run, token) in runs {
            let Some(claim) = &run.claim else { continue };
            let granted = run.created_at.unix_millis();
            let expires = claim.expires_at.unix_millis();
            let end = run
                .finished_at
                .map_or(expires, |f| f.unix_millis().min(expires));
            if let Some((prev, prev_token)) = previous_token
                && prev_token == token
            {
                violation(
                    violations,
                    "fencing_token_unique",
                    format!(
                        "{resource}: the server gave token {token} to {} and {}",
                        prev.run_id, run.run_id
                    ),
                );
            }
            let live: Vec<(i64, &str, u64)> = ends
                .iter()
                .copied()
                .filter(|&(e, ..)| granted < e)
                .collect();
            if live.len() >= capacity {
                violation(
                    violations,
                    overlap,
                    format!(
                        "{resource} (capacity {capacity}): {} (token {token}) granted at {granted} ms while {} were live (until {:?} ms)",
                        run.run_id,
                        names(&live),
                        live.iter().map(|l| l.0).collect::<Vec<_>>()
                    ),
                );
            }
            ends.push((end, &run.run_id, token));
            previous_token = Some((run, token));
        }
    }
}

/// Every rule the soak created is still there, as created.
fn check_rules(rules: &Rules, server: &ServerState, violations: &mut Vec<Violation>) {
    let resources: BTreeSet<&String> = rules
        .capacity
        .keys()
        .chain(rules.depends_on.keys())
        .collect();
    for resource in resources {
        let capacity = u32::try_from(rules.capacity(resource)).unwrap_or(u32::MAX);
        let mut depends_on = rules.depends_on.get(resource).cloned().unwrap_or_default();
        depends_on.sort();
        let found = server.rules.get(resource.as_str()).map(|(c, d)| {
            let mut d = d.clone();
            d.sort();
            (*c, d)
        });
        if found.as_ref() != Some(&(capacity, depends_on.clone())) {
            violation(
                violations,
                "rule_lost",
                format!(
                    "{resource}: created with capacity {capacity}, depends_on {depends_on:?}; the server has {found:?}"
                ),
            );
        }
    }
}

fn overlaps(a: (i64, i64), b: (i64, i64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn check_holds(holds: &[HoldRecord], server: &ServerState, violations: &mut Vec<Violation>) {
    let on_server: HashMap<&str, &Hold> = server
        .holds
        .iter()
        .map(|h| (h.hold_id.as_str(), h))
        .collect();
    for h in holds {
        let found = on_server.get(h.hold_id.as_str());
        let active = found.is_some_and(|s| s.status == HoldStatus::Active);
        if h.release_sent.is_none() {
            let intact = found.is_some_and(|s| {
                active
                    && s.resource == h.resource
                    && s.start.unix_millis() == h.start_ms
                    && s.end.unix_millis() == h.end_ms
            });
            if !intact {
                violation(
                    violations,
                    "hold_lost",
                    format!(
                        "hold {} on {} was acknowledged; the server has {found:?}",
                        h.hold_id, h.resource
                    ),
                );
            }
        }
        if h.release_acked && active {
            violation(
                violations,
                "hold_release_lost",
                format!("hold {} was acknowledged released and is active", h.hold_id),
            );
        }
    }
    let active = server
        .holds
        .iter()
        .filter(|h| h.status == HoldStatus::Active);
    for (resource, mut list) in by_resource(active, |h| &h.resource) {
        list.sort_by_key(|h| h.start);
        for pair in list.windows(2) {
            if pair[1].start < pair[0].end {
                violation(
                    violations,
                    "holds_overlap",
                    format!(
                        "{resource}: active holds {} and {} overlap",
                        pair[0].hold_id, pair[1].hold_id
                    ),
                );
            }
        }
    }
    for (resource, list) in by_resource(holds.iter(), |h| &h.resource) {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if !overlaps((a.start_ms, a.end_ms), (b.start_ms, b.end_ms)) {
                    continue;
                }
                // Certainly active from the acknowledgement until the
                // release was sent (or for ever).
                let a_until = a.release_sent;
                let b_until = b.release_sent;
                let both = a_until.is_none_or(|until| until > b.acked)
                    && b_until.is_none_or(|until| until > a.acked);
                if both {
                    violation(
                        violations,
                        "holds_overlap_history",
                        format!(
                            "{resource}: holds {} and {} with overlapping windows were active together",
                            a.hold_id, b.hold_id
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RunEnd;
    use std::time::Duration;

    fn grant(run: &str, token: u64, granted_ms: i64, expires_ms: i64, at: Instant) -> GrantRecord {
        GrantRecord {
            agent_id: "ag_1".into(),
            run_id: run.into(),
            requested: vec!["project:x".into()],
            held: vec![("project:x".into(), token)],
            granted_ms,
            received: at,
            last_belief: Some(at),
            last_expires_ms: expires_ms,
            finish_sent: Some(at),
            finish_acked: true,
            end: RunEnd::Finished,
        }
    }

    fn checks(recorded: &Recorded) -> Vec<&'static str> {
        let mut found: Vec<_> = check_grants_only(recorded)
            .into_iter()
            .map(|v| v.check)
            .collect();
        found.dedup();
        found
    }

    fn check_grants_only(recorded: &Recorded) -> Vec<Violation> {
        let mut violations = Vec::new();
        check_grants(&recorded.grants, &pool_rules(), &mut violations);
        violations
    }

    /// `pool:gpu` admits 3; `project:a` depends on `project:b`.
    fn pool_rules() -> Rules {
        Rules {
            capacity: BTreeMap::from([("pool:gpu".to_owned(), 3)]),
            depends_on: BTreeMap::from([("project:a".to_owned(), vec!["project:b".to_owned()])]),
        }
    }

    /// An unfinished grant on `held`, told its lease lasts until `expires_ms`.
    fn unfinished(
        run: &str,
        held: &[(&str, u64)],
        granted_ms: i64,
        expires_ms: i64,
    ) -> GrantRecord {
        let at = Instant::now();
        let held: Vec<(String, u64)> = held.iter().map(|&(r, t)| (r.to_owned(), t)).collect();
        GrantRecord {
            requested: held.iter().map(|(r, _)| r.clone()).collect(),
            held,
            last_belief: None,
            finish_sent: None,
            finish_acked: false,
            end: RunEnd::Abandoned,
            ..grant(run, 0, granted_ms, expires_ms, at)
        }
    }

    fn server_run(
        run: &str,
        requested_first: &str,
        held: &[(&str, u64)],
        granted_ms: i64,
        expires_ms: i64,
    ) -> Run {
        use availsync_types::{Claim, ClaimedResource, Decision, Mode, Timestamp};
        Run {
            run_id: run.into(),
            agent_id: "ag_1".into(),
            agent_name: "soak".into(),
            resource: requested_first.into(),
            mode: Mode::Enforce,
            decision: Decision::Proceed,
            status: RunStatus::Expired,
            claim: Some(Claim {
                claim_id: format!("clm_{run}"),
                resource: held[0].0.into(),
                expires_at: Timestamp::from_unix_millis(expires_ms),
                ttl_seconds: 10,
                fencing_token: held[0].1,
                working_set: None,
                resources: (held.len() > 1).then(|| {
                    held.iter()
                        .map(|&(resource, fencing_token)| ClaimedResource {
                            resource: resource.into(),
                            fencing_token,
                        })
                        .collect()
                }),
            }),
            would_block: false,
            reason: None,
            purpose: None,
            metadata: None,
            outcome: None,
            summary: None,
            created_at: Timestamp::from_unix_millis(granted_ms),
            finished_at: None,
        }
    }

    fn server_checks(runs: &[Run]) -> Vec<&'static str> {
        let mut violations = Vec::new();
        check_server_claims(runs, &pool_rules(), &mut violations);
        let mut found: Vec<_> = violations.into_iter().map(|v| v.check).collect();
        found.dedup();
        found
    }

    #[test]
    fn three_live_claims_on_a_pool_of_three_pass_and_four_are_caught() {
        let three = [
            unfinished("a", &[("pool:gpu", 1)], 1_000, 11_000),
            unfinished("b", &[("pool:gpu", 2), ("project:x", 7)], 2_000, 12_000),
            unfinished("c", &[("pool:gpu", 3)], 3_000, 13_000),
        ];
        let recorded = Recorded {
            grants: three.to_vec(),
            ..Recorded::default()
        };
        assert!(
            checks(&recorded).is_empty(),
            "{:?}",
            check_grants_only(&recorded)
        );
        let mut four = three.to_vec();
        four.push(unfinished("d", &[("pool:gpu", 4)], 4_000, 14_000));
        let recorded = Recorded {
            grants: four,
            ..Recorded::default()
        };
        assert_eq!(checks(&recorded), ["capacity_exceeded_server_time"]);
        // Once one of the three has lapsed, a fourth fits.
        let mut later = three.to_vec();
        later.push(unfinished("d", &[("pool:gpu", 4)], 11_500, 21_500));
        let recorded = Recorded {
            grants: later,
            ..Recorded::default()
        };
        assert!(checks(&recorded).is_empty());

        // The server's record, judged the same way.
        let runs = [
            server_run("a", "pool:gpu", &[("pool:gpu", 1)], 1_000, 11_000),
            server_run(
                "b",
                "pool:gpu",
                &[("pool:gpu", 2), ("project:x", 7)],
                2_000,
                12_000,
            ),
            server_run("c", "pool:gpu", &[("pool:gpu", 3)], 3_000, 13_000),
        ];
        assert!(server_checks(&runs).is_empty());
        let mut four = runs.to_vec();
        four.push(server_run(
            "d",
            "pool:gpu",
            &[("pool:gpu", 4)],
            4_000,
            14_000,
        ));
        assert_eq!(server_checks(&four), ["server_capacity_exceeded"]);
    }

    #[test]
    fn four_guards_holding_a_pool_of_three_are_caught() {
        let t0 = Instant::now();
        let mut grants: Vec<GrantRecord> = (1..=4u64)
            .map(|i| {
                let at = t0 + Duration::from_millis(10 * i);
                let mut g = grant(&format!("r{i}"), i, 1_000 * i as i64, 11_000, at);
                g.held = vec![("pool:gpu".into(), i)];
                g.requested = vec!["pool:gpu".into()];
                g.last_belief = Some(t0 + Duration::from_millis(100));
                g
            })
            .collect();
        let recorded = Recorded {
            grants: grants[..3].to_vec(),
            ..Recorded::default()
        };
        assert!(checks(&recorded).is_empty());
        let recorded = Recorded {
            grants: grants.clone(),
            ..Recorded::default()
        };
        assert_eq!(checks(&recorded), ["capacity_exceeded_guard"]);
        // On a capacity-1 resource, two are already one too many.
        for g in &mut grants {
            g.held[0].0 = "project:x".into();
            g.requested = vec!["project:x".into()];
        }
        let recorded = Recorded {
            grants: grants[..2].to_vec(),
            ..Recorded::default()
        };
        assert_eq!(checks(&recorded), ["guard_held_after_regrant"]);
    }

    #[test]
    fn a_multi_resource_grant_overlapping_a_single_one_is_caught() {
        let recorded = Recorded {
            grants: vec![
                unfinished(
                    "multi",
                    &[("project:x", 4), ("project:y", 9)],
                    1_000,
                    11_000,
                ),
                unfinished("single", &[("project:y", 10)], 5_000, 15_000),
            ],
            ..Recorded::default()
        };
        assert_eq!(checks(&recorded), ["claims_overlap_server_time"]);
        let runs = [
            server_run(
                "multi",
                "project:x",
                &[("project:x", 4), ("project:y", 9)],
                1_000,
                11_000,
            ),
            server_run("single", "project:y", &[("project:y", 10)], 5_000, 15_000),
        ];
        assert_eq!(server_checks(&runs), ["server_claims_overlap"]);
    }

    #[test]
    fn a_partial_multi_resource_claim_is_caught() {
        let rules = pool_rules();
        let start = |run: &str, requested: &[&str]| StartRecord {
            agent_id: "ag_1".into(),
            run_id: run.into(),
            requested: requested.iter().map(|&r| r.to_owned()).collect(),
        };
        let recorded = Recorded {
            starts: vec![
                start("whole", &["project:x", "project:y"]),
                start("part", &["project:x", "project:y", "pool:gpu"]),
                start("closure", &["project:a"]),
                start("no-closure", &["project:a", "project:x"]),
            ],
            ..Recorded::default()
        };
        let runs = [
            server_run(
                "whole",
                "project:x",
                &[("project:x", 1), ("project:y", 1)],
                0,
                1,
            ),
            server_run(
                "part",
                "project:x",
                &[("project:x", 2), ("project:y", 2)],
                0,
                1,
            ),
            server_run(
                "closure",
                "project:a",
                &[("project:a", 1), ("project:b", 1)],
                0,
                1,
            ),
            server_run(
                "no-closure",
                "project:a",
                &[("project:a", 2), ("project:x", 3)],
                0,
                1,
            ),
            // A run nobody here started is not judged.
            server_run("other", "project:x", &[("project:x", 4)], 0, 1),
        ];
        let mut violations = Vec::new();
        check_all_or_nothing(&recorded, &runs, &rules, &mut violations);
        let runs_caught: Vec<&str> = violations
            .iter()
            .map(|v| v.detail.split_whitespace().nth(1).unwrap_or_default())
            .collect();
        assert_eq!(runs_caught, ["part", "no-closure"], "{violations:?}");
        assert!(violations.iter().all(|v| v.check == "all_or_nothing"));

        // And as told to the client.
        let mut told = unfinished("part", &[("project:x", 2)], 0, 1);
        told.requested = vec!["project:x".into(), "project:y".into()];
        let recorded = Recorded {
            grants: vec![told],
            ..Recorded::default()
        };
        let mut violations = Vec::new();
        check_all_or_nothing(&recorded, &[], &rules, &mut violations);
        assert_eq!(violations.len(), 1, "{violations:?}");
    }

    #[test]
    fn a_clean_handover_passes() {
        let t0 = Instant::now();
        let recorded = Recorded {
            grants: vec![
                grant("a", 1, 1_000, 11_000, t0),
                grant("b", 2, 2_000, 12_000, t0 + Duration::from_millis(5)),
            ],
            ..Recorded::default()
        };
        assert!(checks(&recorded).is_empty());
    }

    #[test]
    fn a_regrant_before_an_unfinished_lease_ends_is_caught() {
        let t0 = Instant::now();
        let mut a = grant("a", 1, 1_000, 11_000, t0);
        a.finish_sent = None;
        a.end = RunEnd::Abandoned;
        let recorded = Recorded {
            grants: vec![
                a,
                grant("b", 2, 5_000, 15_000, t0 + Duration::from_millis(5)),
            ],
            ..Recorded::default()
        };
        assert_eq!(checks(&recorded), ["claims_overlap_server_time"]);
    }

    #[test]
    fn a_guard_that_says_held_after_a_regrant_is_caught() {
        let t0 = Instant::now();
        let mut a = grant("a", 1, 1_000, 11_000, t0);
        a.last_belief = Some(t0 + Duration::from_millis(50));
        let recorded = Recorded {
            grants: vec![
                a,
                grant("b", 2, 2_000, 12_000, t0 + Duration::from_millis(10)),
            ],
            ..Recorded::default()
        };
        assert_eq!(checks(&recorded), ["guard_held_after_regrant"]);
    }

    #[test]
    fn reused_and_backwards_tokens_are_caught() {
        let t0 = Instant::now();
        let recorded = Recorded {
            grants: vec![
                grant("a", 3, 5_000, 6_000, t0),
                grant("b", 3, 7_000, 8_000, t0),
                grant("c", 4, 1_000, 2_000, t0),
            ],
            ..Recorded::default()
        };
        assert_eq!(
            checks(&recorded),
            ["fencing_token_unique", "fencing_token_order"]
        );
    }

    #[test]
    fn holds_active_together_are_caught_and_a_released_one_is_not() {
        let t0 = Instant::now();
        let hold = |id: &str, start_ms, end_ms, acked, release_sent| HoldRecord {
            hold_id: id.into(),
            resource: "calendar:room".into(),
            start_ms,
            end_ms,
            acked,
            release_sent,
            release_acked: release_sent.is_some(),
        };
        let later = t0 + Duration::from_millis(10);
        let server = ServerState::default();
        let mut violations = Vec::new();
        let released_first = [
            hold("h1", 0, 10, t0, Some(t0 + Duration::from_millis(5))),
            hold("h2", 5, 15, later, None),
        ];
        check_holds(&released_first, &server, &mut violations);
        assert!(
            violations
                .iter()
                .all(|v| v.check != "holds_overlap_history"),
            "{violations:?}"
        );

        let mut violations = Vec::new();
        let together = [hold("h1", 0, 10, t0, None), hold("h2", 5, 15, later, None)];
        check_holds(&together, &server, &mut violations);
        assert!(
            violations
                .iter()
                .any(|v| v.check == "holds_overlap_history"),
            "{violations:?}"
        );
        // Neither is on the (empty) server either.
        assert!(violations.iter().any(|v| v.check == "hold_lost"));
    }
}
