//! The lines of claims: `start_run` (a whole resource, some paths of a
//! repository, or several resources at once), `claim_paths`, and the rules
//! (`list_rules`) that decide what a claim holds.

use super::waiting;
use super::{LISTED, clock, held_until, holder, listed};
use crate::tools::shapes::{
    Action, BlockedResourceInfo, ClaimPathsOutput, HeldPathInfo, LeaseInfo, ListRulesOutput,
    RuleInfo, StartRunOutput,
};

/// `src/db/** of repo:acme/web is held by agent 'ci-bot' (run r1, holding
/// src/db/schema.rs) until 12:00:05Z`.
fn held_path(resource: &str, c: &HeldPathInfo) -> String {
    let what = match &c.path {
        Some(path) => format!("{path} of {resource}"),
        None => resource.to_owned(),
    };
    let holding = match &c.held_paths {
        Some(paths) => format!(", holding {}", paths.join(", ")),
        None => String::new(),
    };
    let who = holder(&c.holder);
    let who = who.strip_suffix(')').unwrap_or(&who);
    format!("{what} is held by {who}{holding}){}", held_until(&c.holder))
}

fn held_paths(resource: &str, list: &[HeldPathInfo]) -> String {
    listed(list, "; ", |c| held_path(resource, c))
}

/// `db:billing is held by agent 'ci' (run r1) until 12:00:05Z`, or that
/// all of a resource's places are taken.
fn blocked_resource(b: &BlockedResourceInfo) -> String {
    if b.code == "capacity_full" {
        format!(
            "{} has no free place (it admits a fixed number of runs; {} holds one{})",
            b.resource,
            holder(&b.holder),
            held_until(&b.holder)
        )
    } else {
        format!(
            "{} is held by {}{}",
            b.resource,
            holder(&b.holder),
            held_until(&b.holder)
        )
    }
}

/// What a lease holds: `src/api/**, docs/api.md of repo:acme/web`,
/// `service:billing (fencing token 3) and db:billing (fencing token 7)`,
/// or the resource.
fn holding(resource: &str, lease: &LeaseInfo) -> String {
    match &lease.paths {
        Some(paths) => format!("{} of {resource}", paths.join(", ")),
        None if lease.resources.len() > 1 => {
            let each: Vec<String> = lease
                .resources
                .iter()
                .map(|r| format!("{} (fencing token {})", r.resource, r.fencing_token))
                .collect();
            each.join(" and ")
        }
        None => resource.to_owned(),
    }
}

/// `until 12:00:05Z (run r1, fencing token 4), kept alive while you work
/// until at most 14:00:00Z`.
fn lease_terms(run_id: &str, lease: &LeaseInfo) -> String {
    let token = if lease.paths.is_none() && lease.resources.len() > 1 {
        String::new()
    } else {
        format!(", fencing token {}", lease.fencing_token)
    };
    format!(
        "until {} (run {run_id}{token}), kept alive while you work{}",
        clock(&lease.expires_at),
        lease
            .kept_alive_until
            .as_deref()
            .map(|until| format!(" until at most {}", clock(until)))
            .unwrap_or_default(),
    )
}

/// What to do with a working set: edit only its paths.
fn paths_rule(lease: &LeaseInfo) -> &'static str {
    match (lease.paths.is_some(), lease.paths_mode.as_deref()) {
        (true, Some("read")) => {
            " Read only these paths (you claimed them for reading); call claim_paths before you touch any other file."
        }
        (true, _) => {
            " Edit only these paths; call claim_paths before you edit any other file of the repository."
        }
        (false, _) => "",
    }
}

/// The line of a `start_run` answer, with how long it waited for the
/// resource, if it did.
pub fn start_run(out: &StartRunOutput) -> String {
    let line = decision(out);
    format!("{line}{}", waiting::shortened(out))
}

fn decision(out: &StartRunOutput) -> String {
    let resource = &out.resource;
    let waited = waiting::prefix(out);
    match (out.action, &out.lease) {
        (Action::Proceed, Some(lease)) => format!(
            "PROCEED: {waited}you hold {} {}.{} Call finish_run when done.",
            holding(resource, lease),
            lease_terms(&out.run_id, lease),
            paths_rule(lease)
        ),
        (Action::Partial, Some(lease)) => format!(
            "PARTIAL: {waited}you hold {} {}; not yours: {}.{} Tell the user which paths are held by others. Call finish_run when done.",
            holding(resource, lease),
            lease_terms(&out.run_id, lease),
            held_paths(resource, &out.blocked_paths),
            paths_rule(lease)
        ),
        (Action::Proceed | Action::Partial, None) => observed(out),
        (Action::Skip, _) => skipped(out),
        (Action::Stop, _) => format!(
            "STOP: run {} no longer holds its lease on {resource} (it lapsed, was finished or was released). Do not work under it; call start_run without run_id for a new claim.",
            out.run_id
        ),
    }
}

fn observed(out: &StartRunOutput) -> String {
    let would = match (&out.holder, &out.reason) {
        _ if !out.would_block => String::new(),
        _ if !out.blocked_paths.is_empty() => format!(
            "; an enforcing run would have been told to skip ({})",
            held_paths(&out.resource, &out.blocked_paths)
        ),
        (Some(h), _) => format!(
            "; an enforcing run would have been told to skip ({} holds it)",
            holder(h)
        ),
        (None, Some(r)) => format!(
            "; an enforcing run would have been told to skip ({})",
            r.message
        ),
        (None, None) => "; an enforcing run would have been told to skip".to_owned(),
    };
    format!(
        "PROCEED (observe mode, nothing is locked): go ahead with {} (run {}){would}. Call finish_run when done.",
        out.resource, out.run_id
    )
}

fn skipped(out: &StartRunOutput) -> String {
    let resource = &out.resource;
    let code = out.reason.as_ref().map(|r| r.code.as_str());
    // After a wait that ran out: "waited 5 s; repo:x is still being
    // worked on by …".
    let waited = waiting::prefix(out);
    let still = if waited.is_empty() { "" } else { "still " };
    if !out.blocked_paths.is_empty() {
        return format!(
            "SKIP: {waited}{}. Do not edit those paths now; tell the user. Paths no one holds can still be claimed.",
            held_paths(resource, &out.blocked_paths)
        );
    }
    if !out.blocked_resources.is_empty() {
        return format!(
            "SKIP: {waited}nothing was claimed, because {}. Do not do the work now; tell the user.",
            listed(&out.blocked_resources, "; ", blocked_resource)
        );
    }
    if code == Some("capacity_full") && !out.holders.is_empty() {
        let who = listed(&out.holders, ", ", |h| {
            format!("{}{}", holder(h), held_until(h))
        });
        return format!(
            "SKIP: {waited}{resource} admits {} run{} at once and all places are {still}taken: {who}. Do not do the work now; tell the user.",
            out.holders.len(),
            if out.holders.len() == 1 { "" } else { "s" }
        );
    }
    let why = match (&out.holder, &out.reason) {
        (Some(h), _) => format!(
            "{resource} is {still}being worked on by {}{}",
            holder(h),
            held_until(h)
        ),
        (None, Some(r)) if r.code == "plan_limit_active_claims" => format!(
            "the workspace already holds as many leases as its plan allows, so {resource} cannot be claimed now{}",
            out.retry_after_seconds
                .map(|s| format!(" (one lapses in about {s} s)"))
                .unwrap_or_default()
        ),
        (None, Some(r)) => format!("{resource} is not available now: {}", r.message),
        (None, None) => format!("{resource} is not available now"),
    };
    format!("SKIP: {waited}{why}. Do not edit it now; tell the user.")
}

/// The line of a `claim_paths` answer.
pub fn claim_paths(out: &ClaimPathsOutput) -> String {
    let resource = &out.resource;
    let yours = format!("{} of {resource}", out.paths.join(", "));
    let rule = if out.paths_mode == "read" {
        "Read only these paths"
    } else {
        "Edit only these paths"
    };
    match out.action {
        Action::Skip => format!(
            "SKIP: nothing changed: {}. Do not edit those paths now; tell the user. You still hold {yours} (run {}).",
            held_paths(resource, &out.blocked_paths),
            out.run_id
        ),
        Action::Partial => format!(
            "PARTIAL: you now hold {yours} (run {}); not yours: {}. {rule}, and tell the user which are held by others.",
            out.run_id,
            held_paths(resource, &out.blocked_paths)
        ),
        Action::Proceed | Action::Stop => format!(
            "PROCEED: you now hold {yours} (run {}). {rule}; call claim_paths again before any other file.",
            out.run_id
        ),
    }
}

fn rule_item(rule: &RuleInfo) -> String {
    let mut facts = Vec::new();
    if !rule.depends_on.is_empty() {
        facts.push(format!("a claim also holds {}", rule.depends_on.join(", ")));
    }
    if rule.capacity > 1 {
        facts.push(format!("admits {} runs at once", rule.capacity));
    }
    if rule.mode.as_deref() == Some("observe") {
        facts.push("every run is a dry run (observe)".to_owned());
    }
    if let Some(max) = rule.max_ttl_seconds {
        facts.push(format!("leases of at most {max} s"));
    }
    if facts.is_empty() {
        facts.push("no constraint beyond the default".to_owned());
    }
    format!("{}: {}", rule.resource, facts.join(", "))
}

/// The line of a `list_rules` answer.
pub fn list_rules(out: &ListRulesOutput) -> String {
    if out.rules.is_empty() {
        return "RULES: none. Each resource admits one run at a time, and a claim holds only what it names.".to_owned();
    }
    let mut items: Vec<String> = out.rules.iter().take(LISTED * 4).map(rule_item).collect();
    if out.rules.len() > LISTED * 4 {
        items.push(format!(
            "and {} more (in the structured answer)",
            out.rules.len() - LISTED * 4
        ));
    }
    format!(
        "RULES: {}. Other resources admit one run at a time.",
        items.join("; ")
    )
}
