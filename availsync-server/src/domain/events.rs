//! Every activity and audit event the server records, built in one place:
//! a use case asks here for the events of what it decided, and a store
//! writes them in the same transaction as the change. Kinds and actions are
//! typed; each payload (`detail`) is spelled once.

use availsync_types::{ActivityKind, AuditAction, Claim, Decision, Mode, Outcome, Plan, Timestamp};
use serde_json::{Value, json};

use availsync_types::{Agent, Hold, Rule};

use super::callers::{Actor, AgentContext, Credentials, Principal, SessionContext};
use super::ids::{AgentId, ClaimId, HoldId, RunId, WorkspaceId};
use super::lease::{Blocker, StartDecision};
use super::runs::LostBecause;
use super::schedule::Window;

/// One runtime-traffic event.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// The workspace.
    pub workspace_id: String,
    /// The agent that called (or whose run it is), if an agent.
    pub agent_id: Option<String>,
    /// Its name.
    pub agent_name: Option<String>,
    /// What happened.
    pub kind: ActivityKind,
    /// The resource.
    pub resource: Option<String>,
    /// The decision told, for run starts.
    pub decision: Option<Decision>,
    /// The run.
    pub run_id: Option<String>,
    /// Kind-specific detail.
    pub detail: Value,
}

/// One governance event.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// The workspace (none for failed logins of unknown emails).
    pub workspace_id: Option<String>,
    /// Who did it.
    pub actor: Actor,
    /// What was done.
    pub action: AuditAction,
    /// The resource.
    pub resource: Option<String>,
    /// Action-specific detail.
    pub detail: Value,
}

impl Actor {
    /// `(type, id, name)` as stored.
    pub fn columns(&self) -> (&'static str, Option<&str>, Option<&str>) {
        match self {
            Actor::User { id, name } => ("user", Some(id.as_str()), Some(name.as_str())),
            Actor::Agent { id, name } => ("agent", Some(id.as_str()), Some(name.as_str())),
            Actor::System => ("system", None, None),
        }
    }
}

/// The run an event is about: its workspace, agent, resource and id.
#[derive(Debug, Clone, Copy)]
pub struct RunSubject<'a> {
    /// The workspace.
    pub workspace_id: &'a WorkspaceId,
    /// The run's agent.
    pub agent_id: &'a AgentId,
    /// That agent's name.
    pub agent_name: &'a str,
    /// The resource.
    pub resource: &'a str,
    /// The run.
    pub run_id: &'a RunId,
}

impl<'a> RunSubject<'a> {
    /// A run of the calling agent.
    pub fn of(agent: &'a AgentContext, resource: &'a str, run_id: &'a RunId) -> Self {
        Self {
            workspace_id: &agent.workspace_id,
            agent_id: &agent.agent_id,
            agent_name: &agent.agent_name,
            resource,
            run_id,
        }
    }

    fn activity(&self, kind: ActivityKind, decision: Option<Decision>, detail: Value) -> Activity {
        Activity {
            workspace_id: self.workspace_id.to_string(),
            agent_id: Some(self.agent_id.to_string()),
            agent_name: Some(self.agent_name.to_owned()),
            kind,
            resource: Some(self.resource.to_owned()),
            decision,
            run_id: Some(self.run_id.to_string()),
            detail,
        }
    }

    fn audit(&self, actor: &Actor, action: AuditAction, detail: Value) -> Audit {
        Audit {
            workspace_id: Some(self.workspace_id.to_string()),
            actor: actor.clone(),
            action,
            resource: Some(self.resource.to_owned()),
            detail,
        }
    }

    fn agent_actor(&self) -> Actor {
        Actor::Agent {
            id: self.agent_id.to_string(),
            name: self.agent_name.to_owned(),
        }
    }
}

/// The events of one use case: at most one activity event, and the audit
/// events, in the order they are written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    /// The runtime-traffic event, if the use case has one.
    pub activity: Option<Activity>,
    /// The governance events.
    pub audits: Vec<Audit>,
}

impl Events {
    fn activity(activity: Activity) -> Self {
        Self {
            activity: Some(activity),
            audits: Vec::new(),
        }
    }

    fn audit(audit: Audit) -> Self {
        Self {
            activity: None,
            audits: vec![audit],
        }
    }

    fn and(mut self, audit: Audit) -> Self {
        self.audits.push(audit);
        self
    }
}

// ---- Runs and claims ----

/// A `run/start`: `run_started` and `claim_created` for a grant;
/// `run_skipped`, `run_blocked` (and `plan_limit_reached` at the plan's
/// limit) for a skip; `run_observed` (and `observe_would_block`) for an
/// observe run.
pub fn run_start(
    run: &RunSubject<'_>,
    decided: &StartDecision,
    granted: Option<&Claim>,
    purpose: Option<&str>,
) -> Events {
    let actor = run.agent_actor();
    let activity = |kind, detail| run.activity(kind, Some(decided.decision), detail);
    let reason = &decided.reason;
    match (decided.mode, granted) {
        (Mode::Enforce, Some(claim)) => {
            let mut started = json!({"claim_id": claim.claim_id, "fencing_token": claim.fencing_token,
                                     "ttl_seconds": claim.ttl_seconds, "purpose": purpose});
            let mut created = json!({"claim_id": claim.claim_id, "run_id": run.run_id,
                                     "fencing_token": claim.fencing_token, "expires_at": claim.expires_at});
            if let Some(set) = &claim.working_set {
                started["working_set"] = json!(set);
                created["working_set"] = json!(set);
            }
            if let Some(resources) = &claim.resources {
                started["resources"] = json!(resources);
                created["resources"] = json!(resources);
            }
            if let Some(blocked) = &decided.blocked {
                started["blocked"] = json!(blocked);
            }
            Events::activity(activity(ActivityKind::RunStarted, started)).and(run.audit(
                &actor,
                AuditAction::ClaimCreated,
                created,
            ))
        }
        (Mode::Enforce, None) => {
            let mut events = Events::activity(activity(
                ActivityKind::RunSkipped,
                json!({"reason": reason, "retry_after": decided.retry_after}),
            ))
            .and(run.audit(
                &actor,
                AuditAction::RunBlocked,
                json!({"run_id": run.run_id, "reason": reason}),
            ));
            if let Some(Blocker::PlanLimit { limit, .. }) = &decided.blocker {
                events = events.and(run.audit(
                    &actor,
                    AuditAction::PlanLimitReached,
                    json!({"limit": "active_claims", "plan": decided.plan.as_str(), "value": limit}),
                ));
            }
            events
        }
        (Mode::Observe, _) => {
            let events = Events::activity(activity(
                ActivityKind::RunObserved,
                json!({"would_block": decided.would_block, "reason": reason}),
            ));
            if decided.would_block {
                events.and(run.audit(
                    &actor,
                    AuditAction::ObserveWouldBlock,
                    json!({"run_id": run.run_id, "reason": reason}),
                ))
            } else {
                events
            }
        }
    }
}

/// An extend that found the lease gone.
pub fn lease_lost(run: &RunSubject<'_>, why: LostBecause, at: Timestamp) -> Events {
    Events::activity(run.activity(
        ActivityKind::LeaseLost,
        None,
        json!({"why": why.as_str(), "at": at}),
    ))
}

/// An extend: of a live claim (`claim` is `(its id, the new expiry)`), or
/// of an observe run's deadline.
pub fn run_extended(
    run: &RunSubject<'_>,
    ttl_seconds: u32,
    claim: Option<(&ClaimId, Timestamp)>,
) -> Events {
    let detail = match claim {
        Some((claim_id, expires_at)) => {
            json!({"ttl_seconds": ttl_seconds, "expires_at": expires_at, "claim_id": claim_id})
        }
        None => json!({"ttl_seconds": ttl_seconds, "observe": true}),
    };
    Events::activity(run.activity(ActivityKind::RunExtended, None, detail))
}

/// A live claim's working set changed: `added` and `removed` patterns, and
/// the `paths` it holds now.
pub fn working_set_updated(
    run: &RunSubject<'_>,
    claim_id: &ClaimId,
    added: &[String],
    removed: &[String],
    paths: &[String],
) -> Events {
    Events::activity(run.activity(
        ActivityKind::WorkingSetUpdated,
        None,
        json!({"claim_id": claim_id, "added": added, "removed": removed, "paths": paths}),
    ))
}

/// A finish by the run's agent: `run_finished`, and `claim_released` when
/// it released the live claim `released` names.
pub fn run_finished(
    run: &RunSubject<'_>,
    outcome: Outcome,
    summary: Option<&str>,
    released: Option<&ClaimId>,
) -> Events {
    let events = Events::activity(run.activity(
        ActivityKind::RunFinished,
        None,
        json!({"outcome": outcome, "released": released.is_some(), "summary": summary}),
    ));
    match released {
        Some(claim_id) => events.and(run.audit(
            &run.agent_actor(),
            AuditAction::ClaimReleased,
            json!({"claim_id": claim_id, "run_id": run.run_id,
                   "reason": "finished", "outcome": outcome}),
        )),
        None => events,
    }
}

/// A person released a run's live claim.
pub fn claim_released_by_user(
    run: &RunSubject<'_>,
    claim_id: &ClaimId,
    by: &SessionContext,
) -> Events {
    let released_by = json!({"type": "user", "id": by.user.id, "name": by.user.email});
    Events::activity(run.activity(
        ActivityKind::RunReleased,
        None,
        json!({"claim_id": claim_id, "released_by": released_by}),
    ))
    .and(run.audit(
        &by.actor(),
        AuditAction::ClaimReleased,
        json!({"claim_id": claim_id, "run_id": run.run_id, "reason": "released_by_user",
               "agent_id": run.agent_id, "agent_name": run.agent_name}),
    ))
}

/// A live claim released because its agent is being deleted.
pub fn claim_released_agent_deleted(
    workspace_id: &WorkspaceId,
    resource: &str,
    claim_id: &ClaimId,
    agent_id: &AgentId,
    by: &Actor,
) -> Events {
    Events::audit(Audit {
        workspace_id: Some(workspace_id.to_string()),
        actor: by.clone(),
        action: AuditAction::ClaimReleased,
        resource: Some(resource.to_owned()),
        detail: json!({"claim_id": claim_id.as_str(), "reason": "agent_deleted",
                       "agent_id": agent_id.as_str()}),
    })
}

/// A claim whose lapse the sweep records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapsedClaim {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The resource.
    pub resource: String,
    /// The claim.
    pub claim_id: ClaimId,
    /// Its run.
    pub run_id: RunId,
    /// Its agent.
    pub agent_id: AgentId,
    /// When it lapsed.
    pub expired_at: Timestamp,
}

/// The sweep recorded a claim's lapse.
pub fn claim_expired(claim: &LapsedClaim) -> Events {
    Events::audit(Audit {
        workspace_id: Some(claim.workspace_id.to_string()),
        actor: Actor::System,
        action: AuditAction::ClaimExpired,
        resource: Some(claim.resource.clone()),
        detail: json!({"claim_id": claim.claim_id.as_str(), "run_id": claim.run_id.as_str(),
                       "agent_id": claim.agent_id.as_str(), "expired_at": claim.expired_at}),
    })
}

// ---- Accounts and agents ----

fn workspace_audit(workspace_id: &str, actor: Actor, action: AuditAction, detail: Value) -> Audit {
    Audit {
        workspace_id: Some(workspace_id.to_owned()),
        actor,
        action,
        resource: None,
        detail,
    }
}

/// A workspace and its first user were created; `session` is that user's.
pub fn signup(session: &SessionContext) -> Events {
    Events::audit(workspace_audit(
        &session.workspace.id,
        session.actor(),
        AuditAction::Signup,
        json!({"workspace_name": session.workspace.name}),
    ))
}

/// A user logged in.
pub fn login(session: &SessionContext) -> Events {
    Events::audit(workspace_audit(
        &session.workspace.id,
        session.actor(),
        AuditAction::Login,
        json!({}),
    ))
}

/// A log-in failed: against a real account, recorded in its workspace, or
/// for an unknown email, recorded without one (the system as actor).
pub fn login_failed(email_norm: &str, account: Option<&Credentials>) -> Events {
    let (workspace_id, actor) = match account {
        Some(account) => (Some(account.workspace_id.clone()), account.actor()),
        None => (None, Actor::System),
    };
    Events::audit(Audit {
        workspace_id,
        actor,
        action: AuditAction::LoginFailed,
        resource: None,
        detail: json!({"email": email_norm}),
    })
}

/// A user logged out.
pub fn logout(session: &SessionContext) -> Events {
    Events::audit(workspace_audit(
        &session.workspace.id,
        session.actor(),
        AuditAction::Logout,
        json!({}),
    ))
}

/// The plan refused another agent.
pub fn agent_limit_reached(by: &SessionContext, plan: Plan, limit: u32) -> Events {
    Events::audit(workspace_audit(
        &by.workspace.id,
        by.actor(),
        AuditAction::PlanLimitReached,
        json!({"limit": "agents", "plan": plan.as_str(), "value": limit}),
    ))
}

/// An agent was created.
pub fn agent_created(by: &SessionContext, agent: &Agent) -> Events {
    Events::audit(workspace_audit(
        &by.workspace.id,
        by.actor(),
        AuditAction::AgentCreated,
        json!({"agent_id": agent.id, "name": agent.name, "mode": agent.mode,
               "key_prefix": agent.key_prefix}),
    ))
}

/// An agent was renamed or its mode changed.
pub fn agent_updated(by: &SessionContext, before: &Agent, after: &Agent) -> Events {
    Events::audit(workspace_audit(
        &by.workspace.id,
        by.actor(),
        AuditAction::AgentUpdated,
        json!({
            "agent_id": after.id,
            "name": {"from": before.name, "to": after.name},
            "mode": {"from": before.mode, "to": after.mode},
        }),
    ))
}

/// An agent's key was rotated.
pub fn agent_key_rotated(by: &SessionContext, before: &Agent, after: &Agent) -> Events {
    Events::audit(workspace_audit(
        &by.workspace.id,
        by.actor(),
        AuditAction::AgentKeyRotated,
        json!({"agent_id": after.id, "old_key_prefix": before.key_prefix,
               "key_prefix": after.key_prefix}),
    ))
}

/// An agent was deleted, releasing `claims_released` live claims.
pub fn agent_deleted(by: &SessionContext, agent: &Agent, claims_released: usize) -> Events {
    Events::audit(workspace_audit(
        &by.workspace.id,
        by.actor(),
        AuditAction::AgentDeleted,
        json!({"agent_id": agent.id, "name": agent.name, "claims_released": claims_released}),
    ))
}

// ---- Rules ----

fn rule_audit(by: &SessionContext, action: AuditAction, rule: &Rule, detail: Value) -> Events {
    Events::audit(Audit {
        workspace_id: Some(by.workspace.id.clone()),
        actor: by.actor(),
        action,
        resource: Some(rule.resource.clone()),
        detail,
    })
}

/// A rule was created.
pub fn rule_created(by: &SessionContext, rule: &Rule) -> Events {
    rule_audit(by, AuditAction::RuleCreated, rule, json!({"rule": rule}))
}

/// A rule changed: each field that did, `{from, to}`.
pub fn rule_updated(by: &SessionContext, before: &Rule, after: &Rule) -> Events {
    let mut changed = serde_json::Map::new();
    let (from, to) = (json!(before), json!(after));
    for field in ["depends_on", "capacity", "mode", "max_ttl_seconds", "note"] {
        if from[field] != to[field] {
            changed.insert(field.into(), json!({"from": from[field], "to": to[field]}));
        }
    }
    changed.insert("rule_id".into(), json!(after.rule_id));
    rule_audit(by, AuditAction::RuleUpdated, after, Value::Object(changed))
}

/// A rule was deleted.
pub fn rule_deleted(by: &SessionContext, rule: &Rule) -> Events {
    rule_audit(by, AuditAction::RuleDeleted, rule, json!({"rule": rule}))
}

// ---- Holds and schedules ----

/// An activity event caused by `principal` on a schedulable resource: an
/// agent is named as such, a human by `user_id` in the detail.
fn schedule_activity(
    principal: &Principal,
    kind: ActivityKind,
    resource: &str,
    mut detail: Value,
) -> Activity {
    let (agent_id, agent_name) = match principal {
        Principal::Agent(a) => (Some(a.agent_id.to_string()), Some(a.agent_name.clone())),
        Principal::Human(s) => {
            if let Some(map) = detail.as_object_mut() {
                map.insert("user_id".into(), json!(s.user.id));
            }
            (None, None)
        }
    };
    Activity {
        workspace_id: principal.workspace_id().to_owned(),
        agent_id,
        agent_name,
        kind,
        resource: Some(resource.to_owned()),
        decision: None,
        run_id: None,
        detail,
    }
}

fn schedule_audit(
    principal: &Principal,
    action: AuditAction,
    resource: &str,
    detail: Value,
) -> Audit {
    Audit {
        workspace_id: Some(principal.workspace_id().to_owned()),
        actor: principal.actor(),
        action,
        resource: Some(resource.to_owned()),
        detail,
    }
}

fn window_json(window: Window) -> Value {
    json!({"start": window.start, "end": window.end})
}

/// A hold refused for overlapping the live holds `conflicts` names.
pub fn hold_rejected(
    principal: &Principal,
    resource: &str,
    window: Window,
    conflicts: &[&str],
) -> Events {
    let detail = json!({"window": window_json(window), "conflicts": conflicts});
    Events::activity(schedule_activity(
        principal,
        ActivityKind::HoldRejected,
        resource,
        detail.clone(),
    ))
    .and(schedule_audit(
        principal,
        AuditAction::HoldConflict,
        resource,
        detail,
    ))
}

/// A hold was created.
pub fn hold_created(
    principal: &Principal,
    resource: &str,
    hold_id: &HoldId,
    window: Window,
    expires_at: Option<Timestamp>,
    purpose: Option<&str>,
) -> Events {
    let detail = json!({"hold_id": hold_id.as_str(), "window": window_json(window),
                        "expires_at": expires_at, "purpose": purpose});
    Events::activity(schedule_activity(
        principal,
        ActivityKind::HoldCreated,
        resource,
        detail.clone(),
    ))
    .and(schedule_audit(
        principal,
        AuditAction::HoldCreated,
        resource,
        detail,
    ))
}

/// A live hold was released.
pub fn hold_released(principal: &Principal, hold: &Hold) -> Events {
    let detail = json!({"hold_id": hold.hold_id, "holder": hold.holder});
    Events::activity(schedule_activity(
        principal,
        ActivityKind::HoldReleased,
        &hold.resource,
        detail.clone(),
    ))
    .and(schedule_audit(
        principal,
        AuditAction::HoldReleased,
        &hold.resource,
        detail,
    ))
}

/// The sweep recorded a tentative hold's lapse.
pub fn hold_expired(
    workspace_id: &WorkspaceId,
    resource: &str,
    hold_id: &HoldId,
    expired_at: Timestamp,
) -> Events {
    Events::audit(Audit {
        workspace_id: Some(workspace_id.to_string()),
        actor: Actor::System,
        action: AuditAction::HoldExpired,
        resource: Some(resource.to_owned()),
        detail: json!({"hold_id": hold_id.as_str(), "expired_at": expired_at}),
    })
}

/// Availability of a window was read: `busy` holds, `free` free windows.
pub fn availability_checked(
    principal: &Principal,
    resource: &str,
    window: Window,
    busy: usize,
    free: usize,
) -> Events {
    Events::activity(schedule_activity(
        principal,
        ActivityKind::AvailabilityChecked,
        resource,
        json!({"from": window.start, "to": window.end, "busy": busy, "free": free}),
    ))
}

/// A window was checked for conflicting holds.
pub fn conflicts_checked(
    principal: &Principal,
    resource: &str,
    window: Window,
    conflict: bool,
) -> Events {
    Events::activity(schedule_activity(
        principal,
        ActivityKind::ConflictsChecked,
        resource,
        json!({"window": window_json(window), "conflict": conflict}),
    ))
}

#[cfg(test)]
mod tests {
    use availsync_types::{HoldHolder, HoldStatus};

    use super::*;
    use crate::domain::fixtures::{agent, at, human};
    use crate::domain::lease::ClaimState;

    fn claim() -> Claim {
        Claim {
            claim_id: "clm_1".into(),
            resource: "repo:a/b".into(),
            expires_at: at(70_000),
            ttl_seconds: 60,
            fencing_token: 7,
            working_set: None,
            resources: None,
        }
    }

    fn kinds(events: &Events) -> (Option<ActivityKind>, Vec<AuditAction>) {
        (
            events.activity.as_ref().map(|a| a.kind),
            events.audits.iter().map(|a| a.action).collect(),
        )
    }

    fn decide(state: &ClaimState, mode: Mode) -> StartDecision {
        let want = crate::domain::working_sets::Want::Whole;
        state.decide(mode, &want, 60, at(10_000)).unwrap()
    }

    #[test]
    fn a_start_is_recorded_by_what_was_decided() {
        let a = agent();
        let run_id = RunId::new("run-1");
        let run = RunSubject::of(&a, "repo:a/b", &run_id);
        let full = ClaimState {
            resources: vec![crate::domain::lease::ResourceState {
                governs: crate::domain::rules::Governs::default_for("repo:a/b".parse().unwrap()),
                held: vec![],
            }],
            live_claims: 3,
            earliest_expiry: Some(at(20_000)),
            plan: Plan::Free,
        };
        let open = ClaimState {
            live_claims: 0,
            ..full.clone()
        };
        let granted = run_start(
            &run,
            &decide(&open, Mode::Enforce),
            Some(&claim()),
            Some("deploy"),
        );
        // A grant: run_started with the claim, claim_created for the audit.
        assert_eq!(
            kinds(&granted),
            (
                Some(ActivityKind::RunStarted),
                vec![AuditAction::ClaimCreated]
            )
        );
        let started = granted.activity.unwrap();
        assert_eq!(started.detail["fencing_token"], 7);
        assert_eq!(started.detail["purpose"], "deploy");
        assert_eq!(started.run_id.as_deref(), Some("run-1"));
        // A skip at the plan's limit: run_skipped, run_blocked and the limit.
        let skipped = run_start(&run, &decide(&full, Mode::Enforce), None, None);
        assert_eq!(
            kinds(&skipped),
            (
                Some(ActivityKind::RunSkipped),
                vec![AuditAction::RunBlocked, AuditAction::PlanLimitReached]
            )
        );
        assert_eq!(skipped.audits[1].detail["limit"], "active_claims");
        assert_eq!(skipped.audits[1].detail["plan"], "free");
        assert_eq!(skipped.activity.unwrap().decision, Some(Decision::SkipRun));
        // Observe: run_observed, and observe_would_block when it would have.
        let observed = run_start(&run, &decide(&full, Mode::Observe), None, None);
        assert_eq!(
            kinds(&observed),
            (
                Some(ActivityKind::RunObserved),
                vec![AuditAction::ObserveWouldBlock]
            )
        );
        let quiet = run_start(&run, &decide(&open, Mode::Observe), None, None);
        assert_eq!(kinds(&quiet), (Some(ActivityKind::RunObserved), vec![]));
    }

    #[test]
    fn extends_finishes_and_releases_name_the_claim_and_why() {
        let a = agent();
        let (run_id, claim_id) = (RunId::new("run-1"), ClaimId::new("clm_1"));
        let run = RunSubject::of(&a, "repo:a/b", &run_id);
        let lost = lease_lost(&run, LostBecause::Released, at(5));
        assert_eq!(lost.activity.as_ref().unwrap().detail["why"], "released");
        let extended = run_extended(&run, 60, Some((&claim_id, at(70_000))));
        assert_eq!(
            extended.activity.as_ref().unwrap().detail["claim_id"],
            "clm_1"
        );
        let observe = run_extended(&run, 60, None);
        assert_eq!(observe.activity.as_ref().unwrap().detail["observe"], true);
        let finished = run_finished(&run, Outcome::Succeeded, Some("done"), Some(&claim_id));
        assert_eq!(
            kinds(&finished),
            (
                Some(ActivityKind::RunFinished),
                vec![AuditAction::ClaimReleased]
            )
        );
        assert_eq!(finished.audits[0].detail["reason"], "finished");
        let nothing_held = run_finished(&run, Outcome::Failed, None, None);
        assert_eq!(
            kinds(&nothing_held),
            (Some(ActivityKind::RunFinished), vec![])
        );
        assert_eq!(nothing_held.activity.unwrap().detail["released"], false);
        let released = claim_released_by_user(&run, &claim_id, &human());
        assert_eq!(
            kinds(&released),
            (
                Some(ActivityKind::RunReleased),
                vec![AuditAction::ClaimReleased]
            )
        );
        assert_eq!(released.audits[0].actor, human().actor());
        assert_eq!(released.audits[0].detail["reason"], "released_by_user");
        let deleted = claim_released_agent_deleted(
            &a.workspace_id,
            "repo:a/b",
            &claim_id,
            &a.agent_id,
            &human().actor(),
        );
        assert_eq!(deleted.audits[0].detail["reason"], "agent_deleted");
        assert_eq!(deleted.audits[0].detail["agent_id"], "agt_1");
        let expired = claim_expired(&LapsedClaim {
            workspace_id: a.workspace_id.clone(),
            resource: "repo:a/b".into(),
            claim_id,
            run_id,
            agent_id: a.agent_id.clone(),
            expired_at: at(9),
        });
        assert_eq!(expired.audits[0].actor, Actor::System);
        assert_eq!(expired.audits[0].detail["run_id"], "run-1");
    }

    #[test]
    fn account_events_are_audited_with_their_actor() {
        let h = human();
        assert_eq!(kinds(&login(&h)).1, vec![AuditAction::Login]);
        assert_eq!(kinds(&logout(&h)).1, vec![AuditAction::Logout]);
        let unknown = login_failed("x@example.com", None);
        assert_eq!(unknown.audits[0].workspace_id, None);
        assert_eq!(unknown.audits[0].actor, Actor::System);
        let limit = agent_limit_reached(&h, Plan::Free, 3);
        assert_eq!(limit.audits[0].detail["limit"], "agents");
        let before = Agent {
            id: "agt_1".into(),
            name: "a".into(),
            mode: Mode::Enforce,
            key_prefix: "avs_live_AAAA".into(),
            created_at: at(0),
            last_used_at: None,
        };
        let after = Agent {
            name: "b".into(),
            mode: Mode::Observe,
            key_prefix: "avs_live_BBBB".into(),
            ..before.clone()
        };
        let updated = agent_updated(&h, &before, &after);
        assert_eq!(updated.audits[0].detail["mode"]["to"], "observe");
        assert_eq!(updated.audits[0].detail["name"]["from"], "a");
        let rotated = agent_key_rotated(&h, &before, &after);
        assert_eq!(rotated.audits[0].detail["old_key_prefix"], "avs_live_AAAA");
        assert_eq!(
            agent_deleted(&h, &before, 2).audits[0].detail["claims_released"],
            2
        );
        let created = agent_created(&h, &before);
        assert_eq!(created.audits[0].action, AuditAction::AgentCreated);
        assert_eq!(created.audits[0].detail["key_prefix"], "avs_live_AAAA");
        let signed_up = signup(&h);
        assert_eq!(signed_up.audits[0].detail["workspace_name"], "Acme");
    }

    #[test]
    fn schedule_events_name_an_agent_as_such_and_a_human_by_user_id() {
        let window = Window {
            start: at(10_000),
            end: at(20_000),
        };
        let hold_id = HoldId::new("hold_1");
        let by_agent = hold_created(
            &Principal::Agent(agent()),
            "calendar:x",
            &hold_id,
            window,
            None,
            None,
        );
        let activity = by_agent.activity.unwrap();
        assert_eq!(activity.agent_id.as_deref(), Some("agt_1"));
        assert!(activity.detail.get("user_id").is_none());
        let by_human = hold_created(
            &Principal::Human(human()),
            "calendar:x",
            &hold_id,
            window,
            None,
            None,
        );
        let activity = by_human.activity.unwrap();
        assert_eq!(activity.agent_id, None);
        assert_eq!(activity.detail["user_id"], "usr_1");
        let rejected = hold_rejected(
            &Principal::Agent(agent()),
            "calendar:x",
            window,
            &["hold_2"],
        );
        assert_eq!(
            kinds(&rejected),
            (
                Some(ActivityKind::HoldRejected),
                vec![AuditAction::HoldConflict]
            )
        );
        let checked = conflicts_checked(&Principal::Agent(agent()), "calendar:x", window, true);
        assert_eq!(checked.activity.unwrap().detail["conflict"], true);
        let availability =
            availability_checked(&Principal::Agent(agent()), "calendar:x", window, 1, 2);
        assert_eq!(availability.activity.unwrap().detail["free"], 2);
        let expired = hold_expired(&WorkspaceId::new("ws_1"), "calendar:x", &hold_id, at(3));
        assert_eq!(expired.audits[0].action, AuditAction::HoldExpired);
        let hold = Hold {
            hold_id: "hold_1".into(),
            resource: "calendar:x".into(),
            start: window.start,
            end: window.end,
            purpose: None,
            status: HoldStatus::Active,
            holder: HoldHolder {
                kind: "agent".into(),
                id: "agt_1".into(),
                name: "ci-bot".into(),
            },
            expires_at: None,
            created_at: at(0),
        };
        let released = hold_released(&Principal::Agent(agent()), &hold);
        assert_eq!(released.audits[0].detail["holder"]["id"], "agt_1");
        assert_eq!(
            kinds(&released),
            (
                Some(ActivityKind::HoldReleased),
                vec![AuditAction::HoldReleased]
            )
        );
    }
}
