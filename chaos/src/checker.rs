//! The safety checker: judges what the clients were told, and what the
//! server holds after the last restart, against the guarantees.
//!
//! Every check is sound — it reports only what certainly went wrong — by
//! comparing a lower bound of one event with an upper bound of another:
//!
//! - **`fencing_token_unique`**: on a resource, two runs never got one
//!   token, and a run id never got two.
//! - **`fencing_token_order`**: on a resource, a higher token was never
//!   granted at an earlier server time.
//! - **`claims_overlap_server_time`**: a run that did not finish was told
//!   its lease lasted until `expires_at`; no later token on the resource was
//!   granted before that.
//! - **`guard_held_after_regrant`**: a client asked its guard (at local time
//!   t, before asking), was told "held", and yet another run on the
//!   resource had already received its grant before t.
//! - **`grant_lost`** / **`finish_lost`**: an acknowledged grant is missing
//!   after the restarts, or has another resource or token; an acknowledged
//!   finish is not `finished`.
//! - **`server_claims_overlap`**: the server's own record of every claim
//!   (including grants whose answers were lost on the way) has two claims
//!   on one resource live at once.
//! - **`hold_lost`** / **`hold_release_lost`**: an acknowledged hold never
//!   released is not active with its window; an acknowledged release left
//!   the hold active.
//! - **`holds_overlap`**: two active holds on one calendar overlap now, or
//!   two acknowledged holds with overlapping windows were certainly active
//!   at the same moment (each from its acknowledgement until its release
//!   was sent).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use availsync_types::{Hold, HoldStatus, Run, RunStatus};

use crate::history::{GrantRecord, HoldRecord, Recorded};

/// One broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which check found it.
    pub check: &'static str,
    /// What exactly.
    pub detail: String,
}

/// The check names, in report order.
pub const CHECKS: [&str; 11] = [
    "fencing_token_unique",
    "fencing_token_order",
    "claims_overlap_server_time",
    "guard_held_after_regrant",
    "grant_lost",
    "finish_lost",
    "server_claims_overlap",
    "hold_lost",
    "hold_release_lost",
    "holds_overlap",
    "holds_overlap_history",
];

/// What the server holds after the soak, read with a clean connection.
#[derive(Debug, Clone, Default)]
pub struct ServerState {
    /// Every run of the workspace.
    pub runs: Vec<Run>,
    /// Every hold of the workspace.
    pub holds: Vec<Hold>,
}

/// Runs every check.
pub fn check(recorded: &Recorded, server: &ServerState) -> Vec<Violation> {
    let mut violations = Vec::new();
    check_grants(&recorded.grants, &mut violations);
    check_durability(&recorded.grants, server, &mut violations);
    check_server_claims(&server.runs, &mut violations);
    check_holds(&recorded.holds, server, &mut violations);
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

fn check_grants(grants: &[GrantRecord], violations: &mut Vec<Violation>) {
    for (resource, mut runs) in by_resource(grants.iter(), |g| &g.resource) {
        runs.sort_by_key(|g| (g.token, g.run_id.clone()));
        // Same run id told twice (a replay) must be told the same token.
        let mut token_of: HashMap<(&str, &str), u64> = HashMap::new();
        for g in &runs {
            if let Some(&token) = token_of.get(&(g.agent_id.as_str(), g.run_id.as_str()))
                && token != g.token
            {
                violation(
                    violations,
                    "fencing_token_unique",
                    format!(
                        "{resource}: run {} was granted tokens {token} and {}",
                        g.run_id, g.token
                    ),
                );
            }
            token_of.insert((&g.agent_id, &g.run_id), g.token);
        }
        let distinct: Vec<&GrantRecord> = {
            let mut seen = std::collections::HashSet::new();
            runs.iter()
                .copied()
                .filter(|g| seen.insert((g.agent_id.clone(), g.run_id.clone())))
                .collect()
        };
        for pair in distinct.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.token == b.token {
                violation(
                    violations,
                    "fencing_token_unique",
                    format!(
                        "{resource}: token {} granted to runs {} and {}",
                        a.token, a.run_id, b.run_id
                    ),
                );
            }
            if b.granted_ms < a.granted_ms {
                violation(
                    violations,
                    "fencing_token_order",
                    format!(
                        "{resource}: token {} ({}) granted at {} ms, before token {} ({}) at {} ms",
                        b.token, b.run_id, b.granted_ms, a.token, a.run_id, a.granted_ms
                    ),
                );
            }
        }
        // Prefix maxima over lower tokens: the latest acknowledged end of a
        // lease never given back, and the latest "held" a guard reported.
        let mut lease_end: Option<(i64, &GrantRecord)> = None;
        let mut belief: Option<(Instant, &GrantRecord)> = None;
        for b in &distinct {
            if let Some((end, a)) = lease_end
                && b.granted_ms < end
            {
                violation(
                    violations,
                    "claims_overlap_server_time",
                    format!(
                        "{resource}: {} (token {}) granted at {} ms while {} (token {}) was told its lease lasts until {} ms and never finished it",
                        b.run_id, b.token, b.granted_ms, a.run_id, a.token, end
                    ),
                );
            }
            if let Some((at, a)) = belief
                && at > b.received
            {
                violation(
                    violations,
                    "guard_held_after_regrant",
                    format!(
                        "{resource}: the guard of {} (token {}) said held {:?} after {} (token {}) had received its grant",
                        a.run_id,
                        a.token,
                        at - b.received,
                        b.run_id,
                        b.token
                    ),
                );
            }
            if b.finish_sent.is_none() && lease_end.is_none_or(|(end, _)| b.last_expires_ms > end) {
                lease_end = Some((b.last_expires_ms, b));
            }
            if let Some(at) = b.last_belief
                && belief.is_none_or(|(latest, _)| at > latest)
            {
                belief = Some((at, b));
            }
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
        let token = run.claim.as_ref().map(|c| c.fencing_token);
        if run.resource != g.resource || token != Some(g.token) {
            violation(
                violations,
                "grant_lost",
                format!(
                    "run {}: told {} token {}, the server has {} token {token:?}",
                    g.run_id, g.resource, g.token, run.resource
                ),
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

fn check_server_claims(runs: &[Run], violations: &mut Vec<Violation>) {
    let claimed = runs.iter().filter(|run| run.claim.is_some());
    for (resource, mut runs) in by_resource(claimed, |run| &run.resource) {
        runs.sort_by_key(|run| run.claim.as_ref().map_or(0, |c| c.fencing_token));
        // The earlier-token claim that ends last, and the token just before.
        let mut latest_end: Option<(&Run, i64)> = None;
        let mut previous_token: Option<(&Run, u64)> = None;
        for run in runs {
            let Some(claim) = &run.claim else { continue };
            let granted = run.created_at.unix_millis();
            let expires = claim.expires_at.unix_millis();
            let end = run
                .finished_at
                .map_or(expires, |f| f.unix_millis().min(expires));
            if let Some((prev, token)) = previous_token
                && token == claim.fencing_token
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
            if let Some((prev, prev_end)) = latest_end
                && granted < prev_end
            {
                violation(
                    violations,
                    "server_claims_overlap",
                    format!(
                        "{resource}: {} (token {}) granted at {granted} ms while {} was live until {prev_end} ms",
                        run.run_id, claim.fencing_token, prev.run_id
                    ),
                );
            }
            if latest_end.is_none_or(|(_, e)| end > e) {
                latest_end = Some((run, end));
            }
            previous_token = Some((run, claim.fencing_token));
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
            resource: "project:x".into(),
            token,
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
        check_grants(&recorded.grants, &mut violations);
        violations
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
