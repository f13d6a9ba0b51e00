//! Options of the calls that take more than one or two arguments.

use std::time::Duration;

use availsync_types::{
    Mode, ResourceKey, Timestamp, UpdateWorkingSetRequest, WorkingSetError, WorkingSetMode,
    WorkingSetRequest, parse_resource_set, parse_working_set,
};
use rand::RngCore;

use crate::error::Error;

/// A `run/start`: the resource and its options.
///
/// The SDK always sends a `run_id` (yours, or a random one), so a retried
/// start replays the same run instead of taking a second claim.
///
/// ```
/// use availsync_sdk::StartRun;
/// use std::time::Duration;
///
/// let start = StartRun::new("repo:Acme/Web")?
///     .ttl(Duration::from_secs(120))
///     .purpose("nightly deploy")
///     .run_id("deploy-42");
/// assert_eq!(start.resource().as_str(), "repo:acme/web");
/// assert_eq!(start.run_id_value(), "deploy-42");
/// # Ok::<(), availsync_sdk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StartRun {
    pub(crate) resource: ResourceKey,
    /// The other resources of a several-resource start (SPEC §12), after
    /// `resource`.
    pub(crate) others: Vec<ResourceKey>,
    pub(crate) ttl_seconds: Option<u32>,
    pub(crate) run_id: String,
    pub(crate) purpose: Option<String>,
    pub(crate) observe: bool,
    pub(crate) metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub(crate) working_set: Option<WorkingSetRequest>,
    pub(crate) partial: bool,
    /// Whole seconds the server may wait for the resource (SPEC §13); 0
    /// answers at once.
    pub(crate) wait_seconds: u32,
}

/// The longest wait one `run/start` may ask of the server (SPEC §13). A
/// longer wait is a chain of starts, each a new run: see
/// [`StartRun::wait`].
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// A new client-side run id (`run-` plus 32 hex digits): 6 bytes of the
/// time in milliseconds, then 10 random bytes (a UUIDv7's layout), so ids
/// sort by creation and new ones land at the edge of the server's index.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes[6..]);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX).to_be_bytes();
    bytes[..6].copy_from_slice(&millis[2..]);
    format!("run-{:032x}", u128::from_be_bytes(bytes))
}

impl StartRun {
    /// A start on `resource` (validated and normalised here).
    pub fn new(resource: &str) -> crate::Result<Self> {
        Ok(Self::for_key(resource.parse()?))
    }

    /// A start on an already parsed resource key.
    pub fn for_key(resource: ResourceKey) -> Self {
        Self {
            resource,
            others: Vec::new(),
            ttl_seconds: None,
            run_id: new_run_id(),
            purpose: None,
            observe: false,
            metadata: None,
            working_set: None,
            partial: false,
            wait_seconds: 0,
        }
    }

    /// A start on several resources at once (SPEC §12): all of them are
    /// granted in one claim, each with its own fencing token, or none is
    /// (the skip names every blocker). 2 to 16 distinct resources, checked
    /// here after normalisation; the first is [`StartRun::resource`].
    /// Extending, finishing and releasing act on the whole claim.
    ///
    /// ```
    /// use availsync_sdk::StartRun;
    ///
    /// let start = StartRun::resources(["project:homepage", "pool:gpu"])?;
    /// assert_eq!(start.resource().as_str(), "project:homepage");
    /// assert_eq!(start.resource_keys().len(), 2);
    ///
    /// assert!(StartRun::resources(["pool:gpu"]).is_err());
    /// assert!(StartRun::resources(["repo:acme/web", "repo:Acme/Web"]).is_err());
    /// # Ok::<(), availsync_sdk::Error>(())
    /// ```
    pub fn resources<I>(resources: I) -> crate::Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut keys = parse_resource_set(resources)?;
        let others = keys.split_off(1);
        let mut start = Self::for_key(keys.remove(0));
        start.others = others;
        Ok(start)
    }

    /// Lease length (10-3600 s; whole seconds, rounded up).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        let rounded_up = ttl
            .as_secs()
            .saturating_add(u64::from(ttl.subsec_nanos() > 0));
        self.ttl_seconds = Some(u32::try_from(rounded_up).unwrap_or(u32::MAX));
        self
    }

    /// A stable run id, e.g. from the CI environment, so a retried job
    /// replays its claim.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// What the run is for, shown to other agents and humans.
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    /// A dry run: proceed without a lease and learn whether it would have
    /// been blocked.
    pub fn observe(mut self) -> Self {
        self.observe = true;
        self
    }

    /// Free-form JSON kept with the run.
    pub fn metadata(mut self, metadata: serde_json::Map<String, serde_json::Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Claims only these paths of a `repo:` resource instead of the whole
    /// repository (SPEC §10): files (`src/main.rs`), directories (`src/api/`,
    /// sent as `src/api/**`), `*` within a segment, `**` as a whole segment.
    /// Two runs whose paths cannot name one file both proceed; `read` sets
    /// never block each other.
    ///
    /// The paths (strings or [`PathPattern`](crate::PathPattern)s) are
    /// checked here, before anything is sent: 1 to 200, each a valid
    /// pattern. A refused one is an [`Error::InvalidWorkingSet`] naming it
    /// (`working_set.paths[1]`). Only the server knows whether the resource
    /// takes a working set (a `project:` does not): it answers `400
    /// invalid_working_set` otherwise.
    ///
    /// ```
    /// use availsync_sdk::{Error, StartRun, WorkingSetMode};
    ///
    /// let start = StartRun::new("repo:acme/web")?
    ///     .working_set(["src/api/", "docs/*.md"], WorkingSetMode::Edit)?;
    /// assert_eq!(start.working_set_paths(), ["src/api/**", "docs/*.md"]);
    ///
    /// let refused = StartRun::new("repo:acme/web")?
    ///     .working_set(["src/", "../etc/passwd"], WorkingSetMode::Read);
    /// assert!(matches!(
    ///     refused,
    ///     Err(Error::InvalidWorkingSet { ref field, .. }) if field == "working_set.paths[1]"
    /// ));
    /// # Ok::<(), availsync_sdk::Error>(())
    /// ```
    pub fn working_set<I>(mut self, paths: I, mode: WorkingSetMode) -> crate::Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.working_set = Some(WorkingSetRequest {
            paths: checked_paths("working_set.paths", paths)?,
            mode: Some(mode),
        });
        Ok(self)
    }

    /// With a working set: when some paths are held by others, take the
    /// free ones ([`RunStart::Partial`](crate::RunStart::Partial), listing
    /// the rest) instead of skipping. A start none of whose paths are free
    /// is still skipped.
    pub fn partial(mut self) -> Self {
        self.partial = true;
        self
    }

    /// When others hold the resource (or all of its places, or the plan's
    /// active claims), let the server wait up to `wait` for it and grant it
    /// as soon as it can, waiters in arrival order, instead of answering
    /// `skip_run` at once (SPEC §13). At the deadline the answer is the
    /// usual skip. The answer says how long the server waited:
    /// [`RunStart::waited`](crate::RunStart::waited), or the raw
    /// `waited_ms`.
    ///
    /// The wait is sent in whole seconds: a part of a second rounds up (so
    /// 200 ms waits up to 1 s), and anything above [`MAX_WAIT`] (60 s) is
    /// cut to it. To wait longer, start again when the skip comes, with a
    /// new run id: a run id that was skipped replays its skip. Waiting is
    /// for short waits; a run that may not start soon should skip.
    ///
    /// The call's timeout ([`ClientBuilder::timeout`](crate::ClientBuilder::timeout))
    /// is counted from the end of the wait, so a waited start is not cut
    /// off while the server waits. Observe runs never wait. A zero wait
    /// answers at once, as without this call.
    ///
    /// ```
    /// use availsync_sdk::StartRun;
    /// use std::time::Duration;
    ///
    /// let start = StartRun::new("repo:acme/web")?.wait(Duration::from_secs(20));
    /// assert_eq!(start.wait_time(), Duration::from_secs(20));
    /// // Rounded up to whole seconds, and at most 60 s.
    /// assert_eq!(start.clone().wait(Duration::from_millis(1_200)).wait_time(), Duration::from_secs(2));
    /// assert_eq!(start.wait(Duration::from_secs(600)).wait_time(), Duration::from_secs(60));
    /// # Ok::<(), availsync_sdk::Error>(())
    /// ```
    ///
    /// ```no_run
    /// # async fn demo(client: availsync_sdk::Client) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::{Outcome, RunStart, StartRun};
    /// use std::time::Duration;
    ///
    /// let start = StartRun::new("repo:acme/web")?.wait(Duration::from_secs(30));
    /// match client.claim(start).await? {
    ///     RunStart::Claimed(guard) => {
    ///         println!("granted after {:?}", guard.waited().unwrap_or_default());
    ///         guard.finish(Outcome::Succeeded).await?;
    ///     }
    ///     RunStart::Skipped(skip) => println!("still busy after {:?}", skip.waited),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait_seconds = wait_seconds(wait);
        self
    }

    /// How long the server may wait, as it will be sent (zero: no wait).
    pub fn wait_time(&self) -> Duration {
        Duration::from_secs(self.wait_seconds.into())
    }

    /// The working set's paths as they will be sent (normalised; empty when
    /// the start claims the whole resource).
    pub fn working_set_paths(&self) -> &[String] {
        self.working_set.as_ref().map_or(&[], |set| &set.paths)
    }

    /// The resource (the first one, for a several-resource start).
    pub fn resource(&self) -> &ResourceKey {
        &self.resource
    }

    /// Every resource the start asks for, the first one first.
    pub fn resource_keys(&self) -> Vec<&ResourceKey> {
        std::iter::once(&self.resource)
            .chain(&self.others)
            .collect()
    }

    /// The run id that will be sent.
    pub fn run_id_value(&self) -> &str {
        &self.run_id
    }

    pub(crate) fn body(&self) -> availsync_types::StartRunRequest {
        availsync_types::StartRunRequest {
            resource: self.others.is_empty().then(|| self.resource.to_string()),
            resources: (!self.others.is_empty()).then(|| {
                self.resource_keys()
                    .into_iter()
                    .map(ToString::to_string)
                    .collect()
            }),
            ttl_seconds: self.ttl_seconds,
            run_id: Some(self.run_id.clone()),
            purpose: self.purpose.clone(),
            mode: self.observe.then_some(Mode::Observe),
            metadata: self.metadata.clone(),
            working_set: self.working_set.clone(),
            partial: self.partial.then_some(true),
            wait_seconds: (self.wait_seconds > 0).then_some(self.wait_seconds),
        }
    }
}

/// `wait` as the whole seconds `wait_seconds` carries: rounded up, at most
/// [`MAX_WAIT`].
fn wait_seconds(wait: Duration) -> u32 {
    let rounded_up = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    u32::try_from(rounded_up.min(MAX_WAIT.as_secs())).unwrap_or(u32::MAX)
}

/// Paths checked with SPEC §10's rules and normalised, a refused one named
/// as the server would name it: `field[i]`, or `field` for the count.
pub(crate) fn checked_paths<I>(field: &str, paths: I) -> crate::Result<Vec<String>>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let raw: Vec<String> = paths
        .into_iter()
        .map(|path| path.as_ref().to_owned())
        .collect();
    let parsed = parse_working_set(&raw).map_err(|error| Error::InvalidWorkingSet {
        field: match &error {
            WorkingSetError::Path { index, .. } => format!("{field}[{index}]"),
            _ => field.to_owned(),
        },
        error,
    })?;
    Ok(parsed.iter().map(|p| p.as_str().to_owned()).collect())
}

/// A change to the paths of a run's live working-set claim
/// (`POST /v1/work/run/working-set`): paths to add, paths to remove, and
/// whether to take the free ones when some added paths are held.
///
/// Both lists are checked as they are given, like
/// [`StartRun::working_set`]'s (`add[0]`, `remove[2]`).
///
/// ```
/// use availsync_sdk::PathsChange;
///
/// let change = PathsChange::new()
///     .add_paths(["src/db/", "migrations/*.sql"])?
///     .remove_paths(["src/api/**"])?
///     .partial();
/// assert_eq!(change.added(), ["src/db/**", "migrations/*.sql"]);
/// assert!(PathsChange::new().remove_paths(["/etc"]).is_err());
/// # Ok::<(), availsync_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathsChange {
    add: Vec<String>,
    remove: Vec<String>,
    partial: bool,
}

impl PathsChange {
    /// No change yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The paths to add (replacing any given before). An added path
    /// another live claim holds refuses the whole change
    /// ([`Error::PathsClaimed`]), unless [`PathsChange::partial`].
    pub fn add_paths<I>(mut self, paths: I) -> crate::Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.add = checked_paths("add", paths)?;
        Ok(self)
    }

    /// The paths to remove, as given at the start or as the server echoed
    /// them (replacing any given before). Removing every path is refused:
    /// finish the run instead.
    pub fn remove_paths<I>(mut self, paths: I) -> crate::Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.remove = checked_paths("remove", paths)?;
        Ok(self)
    }

    /// Add the free paths when some are held, listing the rest in the
    /// answer's `blocked`, instead of refusing the change.
    pub fn partial(mut self) -> Self {
        self.partial = true;
        self
    }

    /// The paths to add, normalised.
    pub fn added(&self) -> &[String] {
        &self.add
    }

    /// The paths to remove, normalised.
    pub fn removed(&self) -> &[String] {
        &self.remove
    }

    pub(crate) fn body(&self, run_id: &str) -> UpdateWorkingSetRequest {
        let list = |paths: &[String]| (!paths.is_empty()).then(|| paths.to_vec());
        UpdateWorkingSetRequest {
            run_id: run_id.to_owned(),
            add: list(&self.add),
            remove: list(&self.remove),
            partial: self.partial.then_some(true),
        }
    }
}

/// A hold to create on `[start, end)`.
///
/// A random idempotency key is sent unless you set one, so a retried create
/// never makes two holds.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub(crate) resource: ResourceKey,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) purpose: Option<String>,
    pub(crate) ttl_seconds: Option<u32>,
    pub(crate) idempotency_key: String,
}

impl NewHold {
    /// A hold of `[start, end)` on `resource`.
    pub fn new(resource: &str, start: Timestamp, end: Timestamp) -> crate::Result<Self> {
        Ok(Self {
            resource: resource.parse()?,
            start,
            end,
            purpose: None,
            ttl_seconds: None,
            idempotency_key: new_run_id().replacen("run-", "hold-", 1),
        })
    }

    /// What the hold is for.
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    /// A tentative hold that lapses after `ttl` unless released earlier.
    pub fn tentative(mut self, ttl: Duration) -> Self {
        self.ttl_seconds = Some(u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX));
        self
    }

    /// Your own idempotency key (e.g. the downstream booking's id).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = key.into();
        self
    }

    pub(crate) fn body(&self) -> availsync_types::CreateHoldRequest {
        availsync_types::CreateHoldRequest {
            resource: self.resource.to_string(),
            start: self.start.to_string(),
            end: self.end.to_string(),
            purpose: self.purpose.clone(),
            ttl_seconds: self.ttl_seconds,
            idempotency_key: Some(self.idempotency_key.clone()),
        }
    }
}

/// Filters of `GET /v1/work/runs`.
#[derive(Debug, Clone, Default)]
pub struct RunsQuery {
    /// Only runs holding a live lease.
    pub active_only: bool,
    /// Only runs on this resource.
    pub resource: Option<ResourceKey>,
    /// Page size (1-200).
    pub limit: Option<u32>,
}

/// Filters of `GET /v1/holds`.
#[derive(Debug, Clone, Default)]
pub struct HoldsQuery {
    /// Only live holds.
    pub active_only: bool,
    /// Only holds on this resource.
    pub resource: Option<ResourceKey>,
    /// Page size (1-200).
    pub limit: Option<u32>,
}

/// Filters of `GET /v1/activity`.
#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    /// Only this agent's events.
    pub agent_id: Option<String>,
    /// Only events on this resource.
    pub resource: Option<ResourceKey>,
    /// Only events of this kind (see `availsync_types::ActivityKind`).
    pub kind: Option<String>,
    /// Page size (1-200).
    pub limit: Option<u32>,
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this actor's events.
    pub actor_id: Option<String>,
    /// Only events on this resource.
    pub resource: Option<ResourceKey>,
    /// Only this action (see `availsync_types::AuditAction`).
    pub action: Option<String>,
    /// Page size (1-200).
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ttl_is_sent_in_whole_seconds_rounded_up_without_overflowing() {
        let start = StartRun::new("repo:acme/web").unwrap();
        for (ttl, sent) in [
            (Duration::from_millis(1), 1),
            (Duration::from_secs(120), 120),
            (Duration::from_millis(10_500), 11),
            (Duration::MAX, u32::MAX),
        ] {
            assert_eq!(
                start.clone().ttl(ttl).body().ttl_seconds,
                Some(sent),
                "{ttl:?}"
            );
        }
    }

    #[test]
    fn a_wait_is_sent_in_whole_seconds_rounded_up_and_capped_at_60() {
        let start = StartRun::new("repo:acme/web").unwrap();
        assert_eq!(start.body().wait_seconds, None, "no wait asked");
        for (wait, sent) in [
            (Duration::ZERO, None),
            (Duration::from_millis(1), Some(1)),
            (Duration::from_millis(999), Some(1)),
            (Duration::from_secs(1), Some(1)),
            (Duration::from_millis(5_001), Some(6)),
            (Duration::from_secs(60), Some(60)),
            (Duration::from_secs(61), Some(60)),
            (Duration::MAX, Some(60)),
        ] {
            assert_eq!(
                start.clone().wait(wait).body().wait_seconds,
                sent,
                "{wait:?}"
            );
        }
    }
}
