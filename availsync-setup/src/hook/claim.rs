//! Claiming the paths an edit touches, for the session, in one repository:
//! the server calls the hook makes and what their answers mean.
//!
//! - A path one of the session's hook runs already holds: extend that run
//!   (one call).
//! - A new path, with a live hook run on the repository: add it to that
//!   run's working set, then extend (two calls).
//! - No live hook run: start one with the path as its working set (one
//!   call). Its id is the session's base the first time, then
//!   `<base>.hook-<n>`: a run id, once used, always replays its run.
//! - Paths held by the session's own other runs (its MCP server's, or an
//!   earlier hook run of its own) are allowed without claiming them again.
//! - Before a start, the paths are asked about with a check (which
//!   records nothing): a blocked edit then spends no run id and leaves no
//!   skipped run behind, so the session's first run keeps its base id.

use std::time::Duration;

use availsync_sdk::types::{
    BlockedPath, Conflict, Decision, Holder, MAX_WORKING_SET_PATHS, Mode, PathConflict, ReasonCode,
    RunStatus, StartRunResponse,
};
use availsync_sdk::{Client, Error, PathsChange, ResourceKey, StartRun, WorkingSetMode};

use super::session::Session;
use super::state::{HookRun, SessionState};

/// Someone else's claim on a path the edit touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The path asked for.
    pub path: String,
    /// Who holds it.
    pub holder: Holder,
    /// The holder's overlapping patterns (`None`: the whole repository).
    pub held_paths: Option<Vec<String>>,
}

/// What the server said about one repository's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The session holds them (or its own other runs do).
    Allowed,
    /// Others hold some of them.
    Blocked(Vec<Blocker>),
    /// The server refused for another reason (the plan's limit of live
    /// claims); the message says which.
    Refused(String),
}

/// How a session claims.
#[derive(Debug)]
pub struct Claimer<'a> {
    /// The agent's client.
    pub client: &'a Client,
    /// The session and the sessions linked to it.
    pub session: &'a Session,
    /// Lease length, set again at every edit.
    pub ttl: Duration,
    /// What the session's runs say they are for.
    pub purpose: &'a str,
}

/// Rounds of start attempts before giving up: a replayed id (a run the
/// state forgot) costs one.
const ROUNDS: usize = 4;

impl Claimer<'_> {
    /// Claims `wanted` (normalised patterns) in `resource`, updating
    /// `state`.
    pub async fn edit(
        &self,
        state: &mut SessionState,
        resource: &ResourceKey,
        wanted: &[String],
    ) -> Result<Verdict, Error> {
        let repo = resource.as_str();
        for _ in 0..ROUNDS {
            let pending = self.extend_held(state, repo, wanted).await?;
            if pending.is_empty() {
                return Ok(Verdict::Allowed);
            }
            if let Some(verdict) = self.add_to_live(state, repo, &pending).await? {
                return Ok(verdict);
            }
            // Asked first, so that a blocked edit spends no run id (a
            // refused start would: an id, once used, replays its run) and
            // leaves no skipped run behind.
            let check = self
                .client
                .check_paths(repo, &pending, WorkingSetMode::Edit)
                .await?;
            if !check.available {
                let blockers = blockers(&pending, check.conflicts, check.holder);
                return Ok(self.judge(blockers));
            }
            let run_id = next_run_id(state, &self.session.base);
            let start = StartRun::for_key(resource.clone())
                .run_id(&run_id)
                .ttl(self.ttl)
                .purpose(self.purpose)
                .working_set(&pending, WorkingSetMode::Edit)?
                .partial();
            let answer = self.client.start_run(&start).await?;
            if answer.replayed {
                // An id this state did not know it had used: a run of an
                // earlier state. Live on this repository, it is ours to
                // use; otherwise the id is spent.
                if let Some(run) = live_run(&answer, repo) {
                    state.runs.push(run);
                }
                continue;
            }
            return Ok(self.decided(state, repo, &pending, answer));
        }
        Err(Error::Config(format!(
            "the server replayed {ROUNDS} earlier runs of this session in a row; delete the hook's state file and try again"
        )))
    }

    /// Extends the hook runs that hold some of `wanted`; answers the paths
    /// no live hook run holds. A run whose lease is gone leaves the state.
    async fn extend_held(
        &self,
        state: &mut SessionState,
        repo: &str,
        wanted: &[String],
    ) -> Result<Vec<String>, Error> {
        let mut pending = Vec::new();
        let mut holding: Vec<String> = Vec::new();
        for path in wanted {
            match state
                .runs
                .iter()
                .find(|r| r.resource == repo && r.paths.contains(path))
            {
                // An observe run holds nothing; its agent is never blocked.
                Some(run) if run.observe => {}
                Some(run) if !holding.contains(&run.run_id) => holding.push(run.run_id.clone()),
                Some(_) => {}
                None => pending.push(path.clone()),
            }
        }
        for run_id in holding {
            match self.client.extend_run(&run_id, Some(self.ttl)).await {
                Ok(_) => {}
                Err(e) if is_gone(&e) => {
                    state.runs.retain(|r| r.run_id != run_id);
                    return Box::pin(self.extend_held(state, repo, wanted)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pending)
    }

    /// Adds `pending` to a live hook run of the repository with room for
    /// them, if there is one: `None` when there is none (or it turned out
    /// to be gone).
    async fn add_to_live(
        &self,
        state: &mut SessionState,
        repo: &str,
        pending: &[String],
    ) -> Result<Option<Verdict>, Error> {
        let Some(index) = state.runs.iter().position(|r| {
            r.resource == repo
                && !r.observe
                && r.paths.len() + pending.len() <= MAX_WORKING_SET_PATHS
        }) else {
            return Ok(None);
        };
        let run_id = state.runs[index].run_id.clone();
        let change = PathsChange::new().add_paths(pending)?.partial();
        let update = match self.client.change_paths(&run_id, &change).await {
            Ok(update) => update,
            Err(Error::PathsClaimed(claimed)) => {
                let blockers = claimed.conflicts.into_iter().map(Blocker::from).collect();
                return Ok(Some(self.judge(blockers)));
            }
            Err(e) if is_gone(&e) => {
                state.runs.remove(index);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        state.runs[index].paths = update
            .claim
            .working_set
            .map(|set| set.paths)
            .unwrap_or_default();
        // The lease lasts a ttl from the last edit, whichever path it was.
        if let Err(e) = self.client.extend_run(&run_id, Some(self.ttl)).await {
            if !is_gone(&e) {
                return Err(e);
            }
            state.runs.remove(index);
            return Ok(None);
        }
        let blocked = update.blocked.unwrap_or_default();
        Ok(Some(
            self.judge(blocked.into_iter().map(Blocker::from).collect()),
        ))
    }

    /// What a fresh start's answer means.
    fn decided(
        &self,
        state: &mut SessionState,
        repo: &str,
        pending: &[String],
        answer: StartRunResponse,
    ) -> Verdict {
        if answer.mode == Mode::Observe {
            state.runs.push(HookRun {
                resource: repo.to_owned(),
                run_id: answer.run_id,
                observe: true,
                paths: pending.to_vec(),
            });
            return Verdict::Allowed;
        }
        match answer.decision {
            Decision::Proceed | Decision::PartialProceed => {
                if let Some(run) = live_run(&answer, repo) {
                    state.runs.push(run);
                }
                let blocked = answer.blocked.unwrap_or_default();
                self.judge(blocked.into_iter().map(Blocker::from).collect())
            }
            _ => {
                let Some(reason) = answer.reason else {
                    return Verdict::Refused(
                        "the server told the edit to skip without a reason".to_owned(),
                    );
                };
                if reason.code == ReasonCode::PlanLimitActiveClaims {
                    return Verdict::Refused(reason.message);
                }
                let blockers = blockers(pending, reason.conflicts, reason.holder);
                if blockers.is_empty() {
                    return Verdict::Refused(reason.message);
                }
                self.judge(blockers)
            }
        }
    }

    /// Allowed when every blocker is the session itself; else blocked by
    /// the others.
    fn judge(&self, blockers: Vec<Blocker>) -> Verdict {
        if blockers.is_empty() {
            return Verdict::Allowed;
        }
        let others: Vec<Blocker> = blockers
            .into_iter()
            .filter(|b| !self.session.owns(&b.holder.run_id))
            .collect();
        if others.is_empty() {
            Verdict::Allowed
        } else {
            Verdict::Blocked(others)
        }
    }
}

/// The session's next unused run id: its base first, then
/// `<base>.hook-<n>`.
fn next_run_id(state: &mut SessionState, base: &str) -> String {
    let id = match state.used {
        0 => base.to_owned(),
        n => format!("{base}.hook-{n}"),
    };
    state.used += 1;
    id
}

/// The state's record of a start answer's live claim on `repo`.
fn live_run(answer: &StartRunResponse, repo: &str) -> Option<HookRun> {
    let claim = answer.claim.as_ref()?;
    (answer.status == RunStatus::Active && claim.resource == repo).then(|| HookRun {
        resource: repo.to_owned(),
        run_id: answer.run_id.clone(),
        observe: false,
        paths: claim
            .working_set
            .as_ref()
            .map(|set| set.paths.clone())
            .unwrap_or_default(),
    })
}

/// The blockers of a skip or a check: its conflicts, else its holder for
/// every path asked for.
fn blockers(
    pending: &[String],
    conflicts: Option<Vec<Conflict>>,
    holder: Option<Holder>,
) -> Vec<Blocker> {
    match (conflicts.filter(|c| !c.is_empty()), holder) {
        (Some(conflicts), _) => conflicts.into_iter().map(Blocker::from).collect(),
        (None, Some(holder)) => pending
            .iter()
            .map(|path| Blocker {
                path: path.clone(),
                holder: holder.clone(),
                held_paths: None,
            })
            .collect(),
        (None, None) => Vec::new(),
    }
}

impl From<Conflict> for Blocker {
    /// A path conflict as it is; a resource conflict (another resource the
    /// server's rules tie to the repository) names that resource.
    fn from(conflict: Conflict) -> Self {
        match conflict {
            Conflict::Path(path) => path.into(),
            Conflict::Resource(resource) => Self {
                path: resource.resource,
                holder: resource.holder,
                held_paths: None,
            },
        }
    }
}

impl From<PathConflict> for Blocker {
    fn from(conflict: PathConflict) -> Self {
        Self {
            path: conflict.path.unwrap_or_default(),
            holder: conflict.holder,
            held_paths: conflict.held_paths,
        }
    }
}

impl From<BlockedPath> for Blocker {
    fn from(blocked: BlockedPath) -> Self {
        Self {
            path: blocked.path,
            holder: blocked.holder,
            held_paths: None,
        }
    }
}

/// The run is no longer live: its lease lapsed, it was released or
/// finished (`409 lease_lost`), or the server does not know it.
fn is_gone(error: &Error) -> bool {
    error.is_lease_lost() || error.is_not_found()
}
