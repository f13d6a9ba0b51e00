//! The one short line of text every tool result carries, written for a
//! model: a verdict in capitals (PROCEED, SKIP, STOP, …), the facts, and
//! what to do next. Each line is made from the result's structured content,
//! so the two never disagree.

use std::time::Duration;

mod claims;
mod waiting;

pub use claims::{claim_paths, list_rules, start_run};

use crate::leases::{LostCause, LostLease};
use crate::tools::shapes::{
    AvailabilityKind, AvailabilityOutput, BusyInfo, ConflictsOutput, CreateHoldOutput,
    ExtendRunOutput, FinishRunOutput, FreeInfo, HolderInfo, ListRunsOutput, ReleaseHoldOutput,
    RunInfo, UsageOutput,
};

/// How many items a line lists before it says "and N more".
const LISTED: usize = 3;

/// `12:30:05Z` from an RFC 3339 UTC timestamp (the whole string when it is
/// not one).
pub fn clock(timestamp: &str) -> String {
    match (timestamp.get(11..19), timestamp.ends_with('Z')) {
        (Some(time), true) if timestamp.as_bytes().get(10) == Some(&b'T') => format!("{time}Z"),
        _ => timestamp.to_owned(),
    }
}

/// `2026-11-29T12:30Z` from an RFC 3339 UTC timestamp (seconds kept when not
/// zero).
pub fn instant(timestamp: &str) -> String {
    match (timestamp.get(..16), timestamp.get(16..19)) {
        (Some(minutes), Some(":00")) if timestamp.ends_with('Z') => format!("{minutes}Z"),
        (Some(_), Some(_)) if timestamp.ends_with('Z') => {
            format!("{}Z", timestamp.get(..19).unwrap_or(timestamp))
        }
        _ => timestamp.to_owned(),
    }
}

/// `2h`, `1h30m`, `90s`, `250ms`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn holder(h: &HolderInfo) -> String {
    if h.same_agent {
        format!(
            "another session of your agent '{}' (run {})",
            h.agent_name, h.run_id
        )
    } else {
        format!("agent '{}' (run {})", h.agent_name, h.run_id)
    }
}

/// "until 12:30:05Z", or, for a holder that keeps renewing its lease, that
/// it is held while they work: its expiry says nothing of when it frees.
fn held_until(h: &HolderInfo) -> String {
    if h.renewed {
        format!(
            ", held while they work (lease renewed), currently until {}",
            clock(&h.expires_at)
        )
    } else {
        format!(" until {}", clock(&h.expires_at))
    }
}

/// The first few `items`, then "and N more", joined by `sep`.
fn listed<T>(items: &[T], sep: &str, item: impl Fn(&T) -> String) -> String {
    let mut parts: Vec<String> = items.iter().take(LISTED).map(item).collect();
    if items.len() > LISTED {
        parts.push(format!("and {} more", items.len() - LISTED));
    }
    parts.join(sep)
}

fn window(start: &str, end: &str) -> String {
    format!("{}–{}", instant(start), instant(end))
}

fn busy_list(busy: &[BusyInfo]) -> String {
    let mut parts: Vec<String> = busy
        .iter()
        .take(LISTED)
        .map(|b| {
            format!(
                "hold {} by {} '{}' ({})",
                b.hold_id,
                b.holder.kind,
                b.holder.name,
                window(&b.start, &b.end)
            )
        })
        .collect();
    if busy.len() > LISTED {
        parts.push(format!("and {} more", busy.len() - LISTED));
    }
    parts.join(", ")
}

fn free_list(free: &[FreeInfo]) -> String {
    let mut parts: Vec<String> = free
        .iter()
        .take(LISTED)
        .map(|f| window(&f.start, &f.end))
        .collect();
    if free.len() > LISTED {
        parts.push(format!("and {} more", free.len() - LISTED));
    }
    parts.join(", ")
}

/// The line of an `extend_run` answer.
pub fn extend_run(out: &ExtendRunOutput) -> String {
    match &out.lease {
        Some(lease) => format!(
            "EXTENDED: you hold {} until {} (run {}, fencing token {}).",
            out.resource.as_deref().unwrap_or("the resource"),
            clock(&lease.expires_at),
            out.run_id,
            lease.fencing_token
        ),
        None => format!(
            "EXTENDED: run {} is an observe run and holds no lease; there is nothing to extend.",
            out.run_id
        ),
    }
}

/// The line of a `finish_run` answer.
pub fn finish_run(out: &FinishRunOutput) -> String {
    let on = out
        .resource
        .as_deref()
        .map(|r| format!(" on {r}"))
        .unwrap_or_default();
    let lease = if out.released {
        "its lease is released"
    } else {
        "it held no live lease"
    };
    format!(
        "FINISHED: run {}{on} recorded as {}; {lease}.",
        out.run_id, out.outcome
    )
}

fn run_item(run: &RunInfo) -> String {
    let until = match (&run.expires_at, run.status.as_str()) {
        (Some(t), "active") => format!(" until {}", clock(t)),
        _ if run.status == "active" => String::new(),
        _ => format!(" [{}]", run.status),
    };
    let mine = if run.kept_alive_by_this_session {
        " (this session)"
    } else {
        ""
    };
    let what = match (&run.paths, &run.resources) {
        (Some(paths), _) => format!("{} of {}", paths.join(", "), run.resource),
        (None, Some(all)) => all.join(" + "),
        (None, None) => run.resource.clone(),
    };
    format!(
        "{what} by '{}' (run {}){until}{mine}",
        run.agent_name, run.run_id
    )
}

/// The line of a `list_runs` answer.
pub fn list_runs(out: &ListRunsOutput) -> String {
    let which = if out.active_only { "active " } else { "" };
    if out.runs.is_empty() {
        return format!("RUNS: no {which}runs.");
    }
    let mut items: Vec<String> = out.runs.iter().take(LISTED).map(run_item).collect();
    if out.runs.len() > LISTED {
        items.push(format!("and {} more", out.runs.len() - LISTED));
    }
    let more = if out.next_cursor.is_some() {
        " More with next_cursor."
    } else {
        ""
    };
    format!(
        "RUNS: {} {which}run{}: {}.{more}",
        out.runs.len(),
        if out.runs.len() == 1 { "" } else { "s" },
        items.join("; ")
    )
}

/// The line of a `check_availability` answer.
pub fn availability(out: &AvailabilityOutput) -> String {
    let resource = &out.resource;
    match out.kind {
        AvailabilityKind::Work => match (&out.holder, out.available) {
            (_, true) => format!(
                "AVAILABLE: {resource} is free right now. Call start_run before you edit it."
            ),
            (Some(h), false) => format!(
                "BUSY: {resource} is being worked on by {}{}. Do not edit it now.",
                holder(h),
                held_until(h)
            ),
            (None, false) => {
                format!("BUSY: {resource} is held by another run. Do not edit it now.")
            }
        },
        AvailabilityKind::Schedule => {
            let span = format!(
                "between {} and {}",
                out.from.as_deref().map(instant).unwrap_or_default(),
                out.to.as_deref().map(instant).unwrap_or_default()
            );
            if out.busy.is_empty() {
                format!(
                    "FREE: {resource} has no holds {span}. Call create_hold to reserve a window before booking it."
                )
            } else if out.free.is_empty() {
                format!(
                    "BUSY: {resource} is fully held {span}: {}.",
                    busy_list(&out.busy)
                )
            } else {
                format!(
                    "PARTLY FREE: {resource} {span} is free {}; held: {}.",
                    free_list(&out.free),
                    busy_list(&out.busy)
                )
            }
        }
    }
}

/// The line of a `check_conflicts` answer.
pub fn conflicts(out: &ConflictsOutput) -> String {
    let span = window(&out.start, &out.end);
    if out.conflict {
        format!(
            "CONFLICT: {} {span} overlaps {}. Do not book it; pick another window or tell the user.",
            out.resource,
            busy_list(&out.conflicts)
        )
    } else {
        format!(
            "NO CONFLICT: {} is free {span}. Call create_hold to reserve it before booking.",
            out.resource
        )
    }
}

/// The line of a `create_hold` answer.
pub fn create_hold(out: &CreateHoldOutput) -> String {
    match &out.hold {
        Some(hold) if out.created => format!(
            "HELD: you hold {} {} (hold {}{}). Book the downstream system now; call release_hold if you do not.",
            hold.resource,
            window(&hold.start, &hold.end),
            hold.hold_id,
            hold.expires_at
                .as_deref()
                .map(|t| format!(", tentative until {}", instant(t)))
                .unwrap_or_default()
        ),
        _ => format!(
            "NOT HELD: {} {} overlaps {}. Do not book it; pick a free window (check_availability) or tell the user.",
            out.resource,
            window(&out.start, &out.end),
            busy_list(&out.conflicts)
        ),
    }
}

/// The line of a `release_hold` answer.
pub fn release_hold(out: &ReleaseHoldOutput) -> String {
    format!("RELEASED: hold {} is released.", out.hold_id)
}

fn of_limit(used: u64, limit: Option<u32>, what: &str) -> String {
    match limit {
        Some(limit) => format!("{used} of {limit} {what}"),
        None => format!("{used} {what} (unlimited)"),
    }
}

/// The line of a `usage` answer.
pub fn usage(out: &UsageOutput) -> String {
    let since = out
        .since
        .as_deref()
        .map(|s| format!("since {}", instant(s)))
        .unwrap_or_else(|| "in all".to_owned());
    let c = &out.counts;
    format!(
        "USAGE: {} plan; {}, {}; {since}: {} runs started, {} skipped, {} observed ({} would have been blocked), {} holds created.",
        out.plan,
        of_limit(out.usage.agents, out.limits.agents, "agents"),
        of_limit(
            out.usage.active_claims,
            out.limits.active_claims,
            "active leases"
        ),
        c.runs_started,
        c.runs_skipped,
        c.runs_observed,
        c.would_have_blocked,
        c.holds_created
    )
}

/// The server could not be reached (or did not answer): fail closed.
pub fn unreachable(url: &str, subject: &str) -> String {
    format!(
        "STOP: cannot reach the Availsync server at {url}, so {subject}. Do not go ahead; tell the user that Availsync is unreachable."
    )
}

/// The server did not answer within the call deadline: fail closed.
pub fn timed_out(url: &str, deadline: Duration, subject: &str) -> String {
    format!(
        "STOP: the Availsync server at {url} did not answer within {}, so {subject}. Do not go ahead; tell the user that Availsync is not answering.",
        duration(deadline)
    )
}

/// What a lost lease's cause means, as the end of a sentence.
fn lost_cause(cause: LostCause) -> String {
    match cause {
        LostCause::Revoked => "the server ended it (it lapsed, or a person released it)".to_owned(),
        LostCause::Lapsed => "no extend reached the Availsync server before it lapsed".to_owned(),
        LostCause::MaxRunTime(max) => format!(
            "it was given back after the maximum run time of {} without finish_run",
            duration(max)
        ),
    }
}

/// The news line that starts the next answer after a lease was lost.
pub fn lease_lost_news(lost: &LostLease) -> String {
    format!(
        "LEASE LOST: you no longer hold {} (run {}); stop editing it and tell the user. Why: {}. Call start_run again before continuing.",
        lost.resource,
        lost.run_id,
        lost_cause(lost.cause)
    )
}

/// `finish_run` of a run whose lease was lost before it.
pub fn finished_after_loss(lost: &LostLease, outcome: &str) -> String {
    format!(
        "LEASE LOST: run {} lost its lease on {} before finish_run ({}). Its outcome '{outcome}' is recorded, but the work was not protected after that: another agent may have changed {}. Tell the user.",
        lost.run_id,
        lost.resource,
        lost_cause(lost.cause),
        lost.resource
    )
}

/// The TLS handshake with the server failed for good (its certificate was
/// refused, or it does not speak TLS): fail closed.
pub fn untrusted(url: &str, subject: &str) -> String {
    format!(
        "STOP: the Availsync server at {url} could not be verified (the TLS handshake failed: its certificate was refused or it does not speak TLS), so {subject}. Do not go ahead; tell the user to check the server's URL and certificate."
    )
}

/// The server is there but failing (5xx, 429).
pub fn server_failing(status: u16, message: &str, subject: &str) -> String {
    format!(
        "STOP: the Availsync server failed to answer (HTTP {status}: {message}), so {subject}. Do not go ahead; tell the user."
    )
}

/// The API key was refused.
pub fn key_refused() -> String {
    "STOP: the Availsync server refused this agent's API key. Tell the user to check AVAILSYNC_API_KEY or run `availsync-setup login`.".to_owned()
}

/// Bad arguments.
pub fn invalid(message: &str) -> String {
    format!(
        "INVALID: {}. Fix the arguments and call again.",
        message.trim_end_matches('.')
    )
}

/// No such run or hold.
pub fn not_found(what: &str, hint: &str) -> String {
    format!("NOT FOUND: {what}. {hint}")
}

/// Not allowed.
pub fn forbidden(message: &str) -> String {
    format!(
        "FORBIDDEN: {}. Do not retry; tell the user if it matters.",
        message.trim_end_matches('.')
    )
}

/// A run's lease is gone.
pub fn lease_lost(run_id: &str, resource: Option<&str>) -> String {
    let what = resource.unwrap_or("its resource");
    format!(
        "LEASE LOST: run {run_id} no longer holds {what} (it lapsed, was finished or was released). Stop editing it now and tell the user; call start_run again before continuing."
    )
}

/// The process is shutting down.
pub fn shutting_down(resource: &str) -> String {
    format!(
        "STOP: availsync-mcp is shutting down, so the lease on {resource} was given back at once. Do not start the work."
    )
}

/// Anything else.
pub fn failed(message: &str, subject: &str) -> String {
    format!(
        "STOP: the call failed ({}), so {subject}. Do not go ahead; tell the user.",
        message.trim_end_matches('.')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::shapes::{
        Action, BlockedResourceInfo, HeldPathInfo, HoldHolderInfo, LeaseInfo, ReasonInfo,
        ResourceToken, StartRunOutput,
    };

    pub(super) fn start(action: Action) -> StartRunOutput {
        StartRunOutput::new(action, "run-1".into(), "repo:acme/web".into(), "enforce")
    }

    pub(super) fn lease(paths: Option<&[&str]>, resources: &[(&str, u64)]) -> LeaseInfo {
        LeaseInfo {
            claim_id: "clm_1".into(),
            expires_at: "2026-11-29T12:30:05.000Z".into(),
            ttl_seconds: 120,
            fencing_token: 17,
            kept_alive: true,
            kept_alive_until: Some("2026-11-29T14:28:05.000Z".into()),
            paths: paths.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
            paths_mode: paths.map(|_| "edit".to_owned()),
            resources: resources
                .iter()
                .map(|(resource, fencing_token)| ResourceToken {
                    resource: (*resource).to_owned(),
                    fencing_token: *fencing_token,
                })
                .collect(),
        }
    }

    pub(super) fn ci_bot() -> HolderInfo {
        HolderInfo {
            agent_id: "agt_1".into(),
            agent_name: "ci-bot".into(),
            run_id: "run_9".into(),
            expires_at: "2026-11-29T12:30:00.000Z".into(),
            same_agent: false,
            renewed: false,
        }
    }

    #[test]
    fn paths_say_which_are_yours_and_who_holds_the_others() {
        let mut out = start(Action::Proceed);
        out.lease = Some(lease(
            Some(&["src/api/**", "docs/api.md"]),
            &[("repo:acme/web", 17)],
        ));
        assert_eq!(
            start_run(&out),
            "PROCEED: you hold src/api/**, docs/api.md of repo:acme/web until 12:30:05Z (run run-1, fencing token 17), kept alive while you work until at most 14:28:05Z. Edit only these paths; call claim_paths before you edit any other file of the repository. Call finish_run when done."
        );
        out.action = Action::Partial;
        out.blocked_paths = vec![HeldPathInfo {
            path: Some("src/db/**".into()),
            holder: ci_bot(),
            held_paths: None,
        }];
        let line = start_run(&out);
        assert!(
            line.starts_with("PARTIAL: you hold src/api/**, docs/api.md of repo:acme/web"),
            "{line}"
        );
        assert!(
            line.contains("not yours: src/db/** of repo:acme/web is held by agent 'ci-bot' (run run_9) until 12:30:00Z."),
            "{line}"
        );

        let mut skip = start(Action::Skip);
        skip.blocked_paths = vec![HeldPathInfo {
            path: Some("src/db/schema.rs".into()),
            holder: ci_bot(),
            held_paths: Some(vec!["src/db/**".into()]),
        }];
        assert_eq!(
            start_run(&skip),
            "SKIP: src/db/schema.rs of repo:acme/web is held by agent 'ci-bot' (run run_9, holding src/db/**) until 12:30:00Z. Do not edit those paths now; tell the user. Paths no one holds can still be claimed."
        );
    }

    #[test]
    fn several_resources_name_each_token_or_each_blocker() {
        let mut out = start(Action::Proceed);
        out.resource = "service:billing".into();
        out.lease = Some(lease(None, &[("service:billing", 3), ("db:billing", 7)]));
        assert_eq!(
            start_run(&out),
            "PROCEED: you hold service:billing (fencing token 3) and db:billing (fencing token 7) until 12:30:05Z (run run-1), kept alive while you work until at most 14:28:05Z. Call finish_run when done."
        );
        let mut skip = start(Action::Skip);
        skip.blocked_resources = vec![BlockedResourceInfo {
            resource: "db:billing".into(),
            code: "resource_claimed".into(),
            holder: ci_bot(),
        }];
        assert_eq!(
            start_run(&skip),
            "SKIP: nothing was claimed, because db:billing is held by agent 'ci-bot' (run run_9) until 12:30:00Z. Do not do the work now; tell the user."
        );
        let mut full = start(Action::Skip);
        full.resource = "pool:gpu".into();
        full.reason = Some(ReasonInfo {
            code: "capacity_full".into(),
            message: "full".into(),
        });
        full.holders = vec![ci_bot(), ci_bot()];
        let line = start_run(&full);
        assert!(
            line.starts_with(
                "SKIP: pool:gpu admits 2 runs at once and all places are taken: agent 'ci-bot'"
            ),
            "{line}"
        );
    }

    #[test]
    fn times_are_short_and_utc() {
        assert_eq!(clock("2026-11-29T12:30:05.123Z"), "12:30:05Z");
        assert_eq!(clock("garbage"), "garbage");
        assert_eq!(instant("2026-11-29T12:30:00.000Z"), "2026-11-29T12:30Z");
        assert_eq!(instant("2026-11-29T12:30:05.000Z"), "2026-11-29T12:30:05Z");
        assert_eq!(duration(Duration::from_secs(7200)), "2h");
        assert_eq!(duration(Duration::from_secs(5430)), "1h30m30s");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn proceed_names_resource_expiry_run_and_fencing_token_and_asks_for_finish_run() {
        let mut out = start(Action::Proceed);
        out.lease = Some(lease(None, &[("repo:acme/web", 17)]));
        let line = start_run(&out);
        assert_eq!(
            line,
            "PROCEED: you hold repo:acme/web until 12:30:05Z (run run-1, fencing token 17), kept alive while you work until at most 14:28:05Z. Call finish_run when done."
        );
    }

    #[test]
    fn skip_names_the_holder_and_says_not_to_edit() {
        let mut out = start(Action::Skip);
        out.holder = Some(HolderInfo {
            agent_id: "agt_1".into(),
            agent_name: "ci-bot".into(),
            run_id: "run_9".into(),
            expires_at: "2026-11-29T12:30:00.000Z".into(),
            same_agent: false,
            renewed: false,
        });
        assert_eq!(
            start_run(&out),
            "SKIP: repo:acme/web is being worked on by agent 'ci-bot' (run run_9) until 12:30:00Z. Do not edit it now; tell the user."
        );
        out.holder = None;
        out.reason = Some(ReasonInfo {
            code: "plan_limit_active_claims".into(),
            message: "limit".into(),
        });
        out.retry_after_seconds = Some(42);
        let line = start_run(&out);
        assert!(
            line.starts_with("SKIP: the workspace already holds"),
            "{line}"
        );
        assert!(line.contains("about 42 s"), "{line}");
    }

    #[test]
    fn skip_says_when_the_holder_is_the_same_agent_or_keeps_renewing() {
        let mut out = start(Action::Skip);
        let mut h = HolderInfo {
            agent_id: "agt_1".into(),
            agent_name: "alice-claude".into(),
            run_id: "run_9".into(),
            expires_at: "2026-11-29T12:30:00.000Z".into(),
            same_agent: true,
            renewed: false,
        };
        out.holder = Some(h.clone());
        assert_eq!(
            start_run(&out),
            "SKIP: repo:acme/web is being worked on by another session of your agent 'alice-claude' (run run_9) until 12:30:00Z. Do not edit it now; tell the user."
        );
        h.same_agent = false;
        h.renewed = true;
        out.holder = Some(h);
        assert_eq!(
            start_run(&out),
            "SKIP: repo:acme/web is being worked on by agent 'alice-claude' (run run_9), held while they work (lease renewed), currently until 12:30:00Z. Do not edit it now; tell the user."
        );
    }

    #[test]
    fn a_lost_lease_is_news_that_says_stop_and_why() {
        let lost = LostLease {
            run_id: "run-1".into(),
            resource: "repo:acme/web".into(),
            cause: LostCause::Lapsed,
        };
        assert_eq!(
            lease_lost_news(&lost),
            "LEASE LOST: you no longer hold repo:acme/web (run run-1); stop editing it and tell the user. Why: no extend reached the Availsync server before it lapsed. Call start_run again before continuing."
        );
        let line = finished_after_loss(&lost, "succeeded");
        assert!(
            line.starts_with("LEASE LOST: run run-1 lost its lease on repo:acme/web"),
            "{line}"
        );
        assert!(line.contains("'succeeded' is recorded"), "{line}");
    }

    #[test]
    fn observe_proceeds_and_says_nothing_is_locked() {
        let mut out = start(Action::Proceed);
        out.mode = "observe".into();
        out.would_block = true;
        out.reason = Some(ReasonInfo {
            code: "resource_claimed".into(),
            message: "held".into(),
        });
        let line = start_run(&out);
        assert!(
            line.starts_with("PROCEED (observe mode, nothing is locked)"),
            "{line}"
        );
        assert!(
            line.contains("would have been told to skip (held)"),
            "{line}"
        );
    }

    #[test]
    fn hold_conflicts_name_the_blocking_hold() {
        let out = CreateHoldOutput {
            created: false,
            replayed: false,
            hold: None,
            conflicts: vec![BusyInfo {
                hold_id: "hold_1".into(),
                start: "2026-11-29T10:00:00.000Z".into(),
                end: "2026-11-29T11:00:00.000Z".into(),
                holder: HoldHolderInfo {
                    kind: "agent".into(),
                    id: "agt_1".into(),
                    name: "ci-bot".into(),
                },
            }],
            resource: "calendar:team".into(),
            start: "2026-11-29T10:30:00.000Z".into(),
            end: "2026-11-29T11:30:00.000Z".into(),
        };
        assert_eq!(
            create_hold(&out),
            "NOT HELD: calendar:team 2026-11-29T10:30Z–2026-11-29T11:30Z overlaps hold hold_1 by agent 'ci-bot' (2026-11-29T10:00Z–2026-11-29T11:00Z). Do not book it; pick a free window (check_availability) or tell the user."
        );
    }

    #[test]
    fn every_line_is_one_line() {
        let lines = [
            unreachable("http://x", "it is unknown whether repo:a/b is free"),
            key_refused(),
            invalid("bad."),
            lease_lost("r", None),
            shutting_down("repo:a/b"),
            timed_out("http://x", Duration::from_secs(10), "it is unknown"),
        ];
        for line in lines {
            assert!(!line.contains('\n'), "{line}");
        }
        assert_eq!(
            invalid("bad."),
            "INVALID: bad. Fix the arguments and call again."
        );
    }
}
