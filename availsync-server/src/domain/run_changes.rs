//! What an extend, a finish and a person's release change in a run, and
//! what each answers. A store loads the run (under the locks it needs),
//! asks here, then writes the change and its events in one transaction.

use availsync_types::{
    Claim, ExtendRunResponse, FinishRunResponse, MAX_WORKING_SET_PATHS, Outcome, PathPattern,
    ReleaseClaimResponse, RunStatus, Timestamp, UpdateWorkingSetResponse, WorkingSet,
    WorkingSetMode,
};

use super::callers::{AgentContext, SessionContext};
use super::events::{self, Events, RunSubject};
use super::ids::ClaimId;
use super::lease::capped_ttl;
use super::refusal::Refusal;
use super::rules::Governs;
use super::runs::{Extendable, StoredRun};
use super::ttl::Ttl;
use super::working_sets::{self, Held, Meeting, PathsChange, RequestedSet, Want};

/// What an extend moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtendTarget {
    /// An observe run's nominal deadline (the run's row).
    ObserveRun,
    /// The live claim with this id.
    Claim(ClaimId),
}

/// An extend to write: move `target` to `expires_at` with `ttl_seconds`,
/// record `events`, answer `answer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    /// What moves.
    pub target: ExtendTarget,
    /// The lease length from now on.
    pub ttl_seconds: u32,
    /// The new deadline.
    pub expires_at: Timestamp,
    /// `run_extended`.
    pub events: Events,
    /// The `run/extend` answer.
    pub answer: ExtendRunResponse,
}

/// How an extend goes.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtendOutcome {
    /// The lease is live (or the run observes): extend it.
    Extend(Extension),
    /// The lease is gone: record `events` (`lease_lost`), then refuse.
    Lost {
        /// `lease_lost`.
        events: Events,
        /// The [`Refusal::LeaseLost`] the caller is told.
        refusal: Refusal,
    },
}

/// A finish to write, or the answer of one already made.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per finish and taken apart at once, never stored"
)]
pub enum FinishOutcome {
    /// Finish the run now.
    Finish(Finishing),
    /// The run was finished before: its first finish's answer, replayed.
    AlreadyFinished(FinishRunResponse),
}

/// A finish to write: release `releases`, record `events`, answer
/// `answer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finishing {
    /// The live claim the finish releases, if any.
    pub releases: Option<ClaimId>,
    /// `run_finished` (and `claim_released`).
    pub events: Events,
    /// The `run/finish` answer.
    pub answer: FinishRunResponse,
}

/// A working-set change to write.
#[derive(Debug, Clone, PartialEq)]
pub struct PathsUpdate {
    /// The claim that changes.
    pub claim_id: ClaimId,
    /// Its mode.
    pub mode: WorkingSetMode,
    /// Patterns it gains.
    pub added: Vec<PathPattern>,
    /// Patterns it loses.
    pub removed: Vec<PathPattern>,
    /// `working_set_updated` (none when nothing changes).
    pub events: Events,
    /// The answer, with the claim's paths after the change.
    pub answer: UpdateWorkingSetResponse,
}

/// How a working-set change goes.
#[derive(Debug, Clone, PartialEq)]
pub enum PathsOutcome {
    /// Write it.
    Update(Box<PathsUpdate>),
    /// The lease is gone: record `events` (`lease_lost`), then refuse.
    Lost {
        /// `lease_lost`.
        events: Events,
        /// [`Refusal::LeaseLost`].
        refusal: Refusal,
    },
    /// Refused, nothing changed or recorded.
    Refused(Refusal),
}

/// A person's release of a claim: what to write, and the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRelease {
    /// Whether the claim was live, so is released now (an earlier release,
    /// a finish or a lapse leave nothing to do).
    pub releases: bool,
    /// `run_released` and `claim_released`, when it releases.
    pub events: Events,
    /// The answer.
    pub answer: ReleaseClaimResponse,
}

impl StoredRun {
    /// What a working-set change must look up before [`Self::change_paths`]:
    /// the added paths in the claim's mode (`None` when nothing is added),
    /// and the claim's own id, to leave out.
    pub fn paths_lookup(&self, change: &PathsChange) -> (Option<Want>, Option<&str>) {
        let claim = self.claim.as_ref().map(|c| &c.claim);
        let mode = claim
            .and_then(|c| c.working_set.as_ref())
            .map_or(WorkingSetMode::Edit, |s| s.mode);
        let want = (!change.add.is_empty()).then(|| {
            Want::Paths(RequestedSet {
                paths: change.add.clone(),
                mode,
                partial: change.partial,
            })
        });
        (want, claim.map(|c| c.claim_id.as_str()))
    }

    /// Changes the paths this run of `agent` holds, given the other live
    /// claims on the repository that may overlap the added paths.
    pub fn change_paths(
        &self,
        agent: &AgentContext,
        change: &PathsChange,
        others: &[Held],
        now: Timestamp,
    ) -> PathsOutcome {
        let stored = match self.extendable(now) {
            Err(refusal) => {
                let events = match &refusal {
                    Refusal::LeaseLost { why, at, .. } => {
                        events::lease_lost(&self.subject_of(agent), *why, *at)
                    }
                    _ => Events::default(),
                };
                return PathsOutcome::Lost { events, refusal };
            }
            Ok(Extendable::Observe) => {
                return PathsOutcome::Refused(Refusal::InvalidWorkingSet {
                    field: "run_id",
                    message: "an observe run holds no claim whose paths could change",
                });
            }
            Ok(Extendable::Claim(stored)) => stored,
        };
        let Some(set) = &stored.claim.working_set else {
            return PathsOutcome::Refused(Refusal::InvalidWorkingSet {
                field: "working_set",
                message: "the claim holds the whole repository; finish the run and start one with a working set",
            });
        };
        let mut paths: Vec<PathPattern> = set
            .paths
            .iter()
            .map(|p| p.parse().unwrap_or_else(|_| PathPattern::any()))
            .collect();
        let removed: Vec<PathPattern> = change
            .remove
            .iter()
            .filter(|r| paths.contains(r))
            .cloned()
            .collect();
        paths.retain(|p| !removed.contains(p));
        let new: Vec<PathPattern> = change
            .add
            .iter()
            .filter(|a| !paths.contains(a))
            .cloned()
            .collect();
        let (added, blocked) = if new.is_empty() {
            (Vec::new(), None)
        } else {
            let want = Want::Paths(RequestedSet {
                paths: new.clone(),
                mode: set.mode,
                partial: change.partial,
            });
            match working_sets::meet(&want, others) {
                Meeting::Free => (new, None),
                Meeting::Partial {
                    granted, blocked, ..
                } => (granted, Some(blocked)),
                Meeting::Blocked(block) => {
                    return PathsOutcome::Refused(Refusal::PathsClaimed {
                        conflicts: block.conflicts.unwrap_or_default(),
                    });
                }
            }
        };
        paths.extend(added.iter().cloned());
        if paths.is_empty() {
            return PathsOutcome::Refused(Refusal::InvalidWorkingSet {
                field: "remove",
                message: "removing every path leaves nothing to hold; finish the run instead",
            });
        }
        if paths.len() > MAX_WORKING_SET_PATHS {
            return PathsOutcome::Refused(Refusal::InvalidWorkingSet {
                field: "add",
                message: "a working set holds at most 200 paths",
            });
        }
        let text = |list: &[PathPattern]| -> Vec<String> {
            list.iter().map(|p| p.as_str().to_owned()).collect()
        };
        let claim_id = ClaimId::new(stored.claim.claim_id.as_str());
        let events = if added.is_empty() && removed.is_empty() {
            Events::default()
        } else {
            events::working_set_updated(
                &self.subject_of(agent),
                &claim_id,
                &text(&added),
                &text(&removed),
                &text(&paths),
            )
        };
        let claim = Claim {
            working_set: Some(WorkingSet {
                paths: text(&paths),
                mode: set.mode,
            }),
            ..stored.claim.clone()
        };
        PathsOutcome::Update(Box::new(PathsUpdate {
            claim_id,
            mode: set.mode,
            added,
            removed,
            events,
            answer: UpdateWorkingSetResponse {
                run_id: self.run_id.to_string(),
                claim,
                blocked,
                server_time: now,
            },
        }))
    }

    /// The calling agent's run as the subject of its events.
    fn subject_of<'a>(&'a self, agent: &'a AgentContext) -> RunSubject<'a> {
        RunSubject::of(agent, &self.resource, &self.run_id)
    }

    /// Extends this run of `agent` at `now`, by `ttl_seconds` or else by the
    /// run's own lease length, cut to the shortest `max_ttl_seconds` of
    /// `rules` (those of the claim's resources); climbs the lease-lost
    /// ladder first.
    pub fn extend(
        &self,
        agent: &AgentContext,
        ttl_seconds: Option<u32>,
        rules: &[Governs],
        now: Timestamp,
    ) -> ExtendOutcome {
        let subject = self.subject_of(agent);
        let ttl = capped_ttl(ttl_seconds.unwrap_or(self.ttl_seconds), rules);
        let expires_at = Ttl::from_seconds(ttl).expiry_from(now);
        let (target, events, claim) = match self.extendable(now) {
            Err(refusal) => {
                let events = match &refusal {
                    Refusal::LeaseLost { why, at, .. } => events::lease_lost(&subject, *why, *at),
                    _ => Events::default(),
                };
                return ExtendOutcome::Lost { events, refusal };
            }
            Ok(Extendable::Observe) => (
                ExtendTarget::ObserveRun,
                events::run_extended(&subject, ttl, None),
                None,
            ),
            Ok(Extendable::Claim(stored)) => {
                let claim_id = ClaimId::new(stored.claim.claim_id.as_str());
                (
                    ExtendTarget::Claim(claim_id.clone()),
                    events::run_extended(&subject, ttl, Some((&claim_id, expires_at))),
                    Some(Claim {
                        expires_at,
                        ttl_seconds: ttl,
                        ..stored.claim.clone()
                    }),
                )
            }
        };
        ExtendOutcome::Extend(Extension {
            target,
            ttl_seconds: ttl,
            expires_at,
            events,
            answer: ExtendRunResponse {
                run_id: self.run_id.to_string(),
                claim,
                server_time: now,
            },
        })
    }

    /// Finishes this run of `agent` at `now` with `outcome`, releasing its
    /// claim if live; a run finished before answers as it did then.
    pub fn finish(
        &self,
        agent: &AgentContext,
        outcome: Outcome,
        summary: Option<&str>,
        now: Timestamp,
    ) -> FinishOutcome {
        if let (Some(_), Some(first)) = (self.finished_at, self.outcome) {
            return FinishOutcome::AlreadyFinished(FinishRunResponse {
                run_id: self.run_id.to_string(),
                status: RunStatus::Finished,
                released: self.released.unwrap_or(false),
                outcome: first,
                server_time: now,
            });
        }
        let releases = self
            .live_claim(now)
            .map(|c| ClaimId::new(c.claim.claim_id.as_str()));
        let events =
            events::run_finished(&self.subject_of(agent), outcome, summary, releases.as_ref());
        FinishOutcome::Finish(Finishing {
            answer: FinishRunResponse {
                run_id: self.run_id.to_string(),
                status: RunStatus::Finished,
                released: releases.is_some(),
                outcome,
                server_time: now,
            },
            releases,
            events,
        })
    }

    /// A person's release, on `by`'s order at `now`, of this run's claim
    /// `claim_id`.
    pub fn release_by_user(
        mut self,
        claim_id: &ClaimId,
        by: &SessionContext,
        now: Timestamp,
    ) -> UserRelease {
        let releases = self.live_claim(now).is_some();
        let events = if releases {
            events::claim_released_by_user(&self.subject(&by.workspace_id()), claim_id, by)
        } else {
            Events::default()
        };
        if let (true, Some(stored)) = (releases, self.claim.as_mut()) {
            stored.released_at = Some(now);
        }
        UserRelease {
            releases,
            events,
            answer: ReleaseClaimResponse {
                claim_id: claim_id.to_string(),
                status: self.status(now),
                resource: self.resource,
                run_id: self.run_id.into_string(),
                agent_id: self.agent_id.into_string(),
                agent_name: self.agent_name,
                released: releases,
                server_time: now,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use availsync_types::{ActivityKind, AuditAction, Mode};

    use super::*;
    use crate::domain::fixtures::{agent, human};
    use crate::domain::runs::LostBecause;
    use crate::domain::runs::tests::{at, claim, run};

    #[test]
    fn an_extend_moves_a_live_claim_by_the_runs_own_ttl_by_default() {
        let now = at(50_000);
        let live = run(Mode::Enforce, Some(claim(60_000, None, false)));
        let ExtendOutcome::Extend(x) = live.extend(&agent(), None, &[], now) else {
            panic!("not extended")
        };
        assert_eq!(x.target, ExtendTarget::Claim(ClaimId::new("clm_1")));
        assert_eq!((x.ttl_seconds, x.expires_at), (60, at(110_000)));
        assert_eq!(x.answer.claim.unwrap().expires_at, at(110_000));
        let activity = x.events.activity.unwrap();
        assert_eq!(activity.kind, ActivityKind::RunExtended);
        assert_eq!(activity.detail["claim_id"], "clm_1");
        let observe = run(Mode::Observe, None);
        let ExtendOutcome::Extend(x) = observe.extend(&agent(), Some(5), &[], now) else {
            panic!("not extended")
        };
        assert_eq!(
            (x.target, x.expires_at),
            (ExtendTarget::ObserveRun, at(55_000))
        );
        assert!(x.answer.claim.is_none());
    }

    #[test]
    fn an_extend_of_a_lost_lease_records_why_and_refuses() {
        let lapsed = run(Mode::Enforce, Some(claim(40_000, None, false)));
        let ExtendOutcome::Lost { events, refusal } =
            lapsed.extend(&agent(), None, &[], at(50_000))
        else {
            panic!("extended a lapsed claim")
        };
        assert!(matches!(
            refusal,
            Refusal::LeaseLost {
                why: LostBecause::Expired,
                ..
            }
        ));
        let activity = events.activity.unwrap();
        assert_eq!(activity.kind, ActivityKind::LeaseLost);
        assert_eq!(activity.detail["why"], "expired");
    }

    #[test]
    fn a_finish_releases_a_live_claim_once_and_replays_after() {
        let now = at(50_000);
        let mut live = run(Mode::Enforce, Some(claim(60_000, None, false)));
        let FinishOutcome::Finish(Finishing {
            releases,
            events,
            answer,
        }) = live.finish(&agent(), Outcome::Succeeded, Some("done"), now)
        else {
            panic!("not finished")
        };
        assert_eq!(releases, Some(ClaimId::new("clm_1")));
        assert!(answer.released);
        assert_eq!(events.audits[0].action, AuditAction::ClaimReleased);
        live.finished_at = Some(now);
        live.outcome = Some(Outcome::Succeeded);
        live.released = Some(true);
        let FinishOutcome::AlreadyFinished(again) =
            live.finish(&agent(), Outcome::Failed, None, at(70_000))
        else {
            panic!("finished twice")
        };
        assert_eq!((again.outcome, again.released), (Outcome::Succeeded, true));
        let lapsed = run(Mode::Enforce, Some(claim(40_000, None, false)));
        let FinishOutcome::Finish(Finishing {
            releases, events, ..
        }) = lapsed.finish(&agent(), Outcome::Failed, None, now)
        else {
            panic!("not finished")
        };
        assert!(releases.is_none() && events.audits.is_empty());
    }

    #[test]
    fn a_person_releases_only_a_live_claim_and_the_answer_shows_it_released() {
        let now = at(50_000);
        let by = human();
        let live = run(Mode::Enforce, Some(claim(60_000, None, false)));
        let released = live.release_by_user(&ClaimId::new("clm_1"), &by, now);
        assert!(released.releases && released.answer.released);
        assert_eq!(released.answer.status, RunStatus::Released);
        assert_eq!(released.events.audits[0].action, AuditAction::ClaimReleased);
        let lapsed = run(Mode::Enforce, Some(claim(40_000, None, false)));
        let untouched = lapsed.release_by_user(&ClaimId::new("clm_1"), &by, now);
        assert!(!untouched.releases && untouched.events == Events::default());
        assert_eq!(untouched.answer.status, RunStatus::Expired);
    }
}
