//! The agent client: work, scheduling, activity, usage, health.

use std::time::Duration;

use availsync_types::{
    ActivityItem, AvailabilityResponse, CheckRequest, CheckResponse, ConflictsCheckRequest,
    ConflictsCheckResponse, ExtendRunRequest, ExtendRunResponse, FinishRunRequest,
    FinishRunResponse, Health, Hold, HoldResponse, Outcome, Page, ResourceKey, Rule, RuleList, Run,
    StartRunResponse, Timestamp, UpdateWorkingSetResponse, UsageRequest, UsageResponse,
    WorkingSetMode, WorkingSetRequest,
};
use futures::Stream;

use crate::config::ClientBuilder;
use crate::error::Result;
use crate::events::EventFilter;
use crate::guard::{self, RunStart};
use crate::requests::{
    ActivityQuery, HoldsQuery, NewHold, PathsChange, RunsQuery, StartRun, checked_paths,
};
use crate::transport::{Call, Retry, Transport};

/// An agent's client. Cheap to clone; clones share one connection pool.
///
/// ```no_run
/// # async fn demo() -> availsync_sdk::Result<()> {
/// use availsync_sdk::{Client, RunStart, StartRun};
///
/// let client = Client::from_env()?;
/// match client.claim(StartRun::new("repo:acme/web")?).await? {
///     // Partial answers only a `.partial()` working-set start.
///     RunStart::Claimed(guard) | RunStart::Partial(guard, _) => {
///         // ... do the work, passing guard.fencing_token() downstream ...
///         guard.finish(availsync_sdk::Outcome::Succeeded).await?;
///     }
///     RunStart::Skipped(skip) => eprintln!("skipping: {}", skip.reason.message),
///     RunStart::Observed(observed) => { observed.finish(availsync_sdk::Outcome::Succeeded).await?; }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) transport: Transport,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.transport.base_url())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client from `AVAILSYNC_URL` (default `http://127.0.0.1:8787`) and
    /// `AVAILSYNC_API_KEY` (required).
    pub fn from_env() -> Result<Self> {
        ClientBuilder::new().from_env().build()
    }

    pub(crate) fn from_transport(transport: Transport) -> Self {
        Self { transport }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health> {
        self.transport.json(Call::get("/health"), None::<&()>).await
    }

    /// `POST /v1/work/run/start`: the raw decision. Most callers want
    /// [`Client::claim`], which keeps the lease alive. A start with a
    /// [`StartRun::wait`] may take that long, beyond the client's timeout.
    pub async fn start_run(&self, start: &StartRun) -> Result<StartRunResponse> {
        // Safe to retry: the run_id makes a repeated start a replay.
        let call = Call::post("/v1/work/run/start")
            .run_id(&start.run_id)
            .resource(Some(start.resource.as_str()))
            .extra_time(start.wait_time());
        self.transport.json(call, Some(&start.body())).await
    }

    /// Starts a run and, when claimed, keeps its lease alive in the
    /// background until the guard is finished or dropped.
    pub async fn claim(&self, start: StartRun) -> Result<RunStart> {
        let sent_at = tokio::time::Instant::now();
        let answer = self.start_run(&start).await?;
        Ok(guard::from_start(
            self.clone(),
            start.resource,
            answer,
            sent_at,
        ))
    }

    /// `POST /v1/work/run/extend`: moves the lease's expiry to now + ttl
    /// (default: the run's ttl).
    pub async fn extend_run(
        &self,
        run_id: &str,
        ttl: Option<Duration>,
    ) -> Result<ExtendRunResponse> {
        self.extend(run_id, ttl, Retry::Idempotent).await
    }

    pub(crate) async fn extend(
        &self,
        run_id: &str,
        ttl: Option<Duration>,
        retry: Retry,
    ) -> Result<ExtendRunResponse> {
        let body = ExtendRunRequest {
            run_id: run_id.to_owned(),
            ttl_seconds: ttl.map(|t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX)),
        };
        let call = Call::post("/v1/work/run/extend")
            .run_id(run_id)
            .retry(retry);
        self.transport.json(call, Some(&body)).await
    }

    /// `POST /v1/work/run/finish`. Idempotent.
    pub async fn finish_run(
        &self,
        run_id: &str,
        outcome: Outcome,
        summary: Option<&str>,
    ) -> Result<FinishRunResponse> {
        let body = FinishRunRequest {
            run_id: run_id.to_owned(),
            outcome,
            summary: summary.map(str::to_owned),
        };
        let call = Call::post("/v1/work/run/finish").run_id(run_id);
        self.transport.json(call, Some(&body)).await
    }

    /// `POST /v1/work/check`: whether a resource is free, changing nothing.
    pub async fn check(&self, resource: &str) -> Result<CheckResponse> {
        self.check_with(resource, None).await
    }

    /// `POST /v1/work/check` for paths of a repository: whether a start
    /// with this working set would be granted now, with the `conflicts`
    /// (each requested path that is held, and by whom) when it would not.
    /// The paths are checked before anything is sent, as
    /// [`StartRun::working_set`]'s are.
    ///
    /// ```no_run
    /// # async fn demo(client: availsync_sdk::Client) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::WorkingSetMode;
    ///
    /// let check = client
    ///     .check_paths("repo:acme/web", ["src/db/**"], WorkingSetMode::Edit)
    ///     .await?;
    /// for conflict in check.conflicts.unwrap_or_default() {
    ///     if let Some(path) = conflict.as_path() {
    ///         println!("{:?} is held by {}", path.path, path.holder.agent_name);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_paths<I>(
        &self,
        resource: &str,
        paths: I,
        mode: WorkingSetMode,
    ) -> Result<CheckResponse>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let working_set = WorkingSetRequest {
            paths: checked_paths("working_set.paths", paths)?,
            mode: Some(mode),
        };
        self.check_with(resource, Some(working_set)).await
    }

    async fn check_with(
        &self,
        resource: &str,
        working_set: Option<WorkingSetRequest>,
    ) -> Result<CheckResponse> {
        let resource: ResourceKey = resource.parse()?;
        let call = Call::post("/v1/work/check").resource(Some(resource.as_str()));
        let body = CheckRequest {
            resource: Some(resource.to_string()),
            resources: None,
            working_set,
        };
        self.transport.json(call, Some(&body)).await
    }

    /// `POST /v1/work/run/working-set`: adds and removes paths of a run's
    /// live working-set claim, atomically; the fencing token stays. An added
    /// path another live claim holds refuses the whole change with
    /// [`Error::PathsClaimed`](crate::Error::PathsClaimed) (with
    /// [`PathsChange::partial`], the free ones are added and the rest listed
    /// in `blocked`); a claim no longer live is `409 lease_lost`.
    ///
    /// A guard's own [`RunGuard::add_paths`](crate::RunGuard::add_paths)
    /// and friends call this and keep the guard's paths up to date; this
    /// is for a run held elsewhere (another process of the same agent).
    ///
    /// ```no_run
    /// # async fn demo(client: availsync_sdk::Client) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::PathsChange;
    ///
    /// let change = PathsChange::new().add_paths(["migrations/"])?.remove_paths(["src/api/"])?;
    /// let update = client.change_paths("deploy-42", &change).await?;
    /// println!("now holding {:?}", update.claim.working_set);
    /// # Ok(()) }
    /// ```
    pub async fn change_paths(
        &self,
        run_id: &str,
        change: &PathsChange,
    ) -> Result<UpdateWorkingSetResponse> {
        // Safe to retry: adding a path already held and removing one no
        // longer held change nothing.
        let call = Call::post("/v1/work/run/working-set").run_id(run_id);
        self.transport.json(call, Some(&change.body(run_id))).await
    }

    /// `GET /v1/work/runs`: one page.
    pub async fn runs_page(&self, query: &RunsQuery, cursor: Option<&str>) -> Result<Page<Run>> {
        self.transport.page(query, cursor).await
    }

    /// `GET /v1/work/runs`: every page, as a stream.
    pub fn runs(&self, query: RunsQuery) -> impl Stream<Item = Result<Run>> + Send + 'static {
        self.transport.list(query)
    }

    /// `GET /v1/availability`: busy holds and free windows in `[from, to)`.
    pub async fn availability(
        &self,
        resource: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<AvailabilityResponse> {
        let resource: ResourceKey = resource.parse()?;
        let call = Call::get("/v1/availability")
            .resource(Some(resource.as_str()))
            .query(vec![
                ("resource", resource.to_string()),
                ("from", from.to_string()),
                ("to", to.to_string()),
            ]);
        self.transport.json(call, None::<&()>).await
    }

    /// `POST /v1/conflicts/check`: live holds overlapping `[start, end)`.
    pub async fn check_conflicts(
        &self,
        resource: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<ConflictsCheckResponse> {
        let resource: ResourceKey = resource.parse()?;
        let call = Call::post("/v1/conflicts/check").resource(Some(resource.as_str()));
        let body = ConflictsCheckRequest {
            resource: resource.to_string(),
            start: start.to_string(),
            end: end.to_string(),
        };
        self.transport.json(call, Some(&body)).await
    }

    /// `POST /v1/holds`. A conflict is an [`crate::Error::Api`] with code
    /// `hold_conflict` and the conflicting holds in `conflicts`.
    pub async fn create_hold(&self, hold: &NewHold) -> Result<HoldResponse> {
        // Safe to retry: the idempotency key makes a repeat a replay.
        let call = Call::post("/v1/holds").resource(Some(hold.resource.as_str()));
        self.transport.json(call, Some(&hold.body())).await
    }

    /// `GET /v1/holds`: one page.
    pub async fn holds_page(&self, query: &HoldsQuery, cursor: Option<&str>) -> Result<Page<Hold>> {
        self.transport.page(query, cursor).await
    }

    /// `GET /v1/holds`: every page, as a stream.
    ///
    /// ```no_run
    /// use availsync_sdk::{Client, HoldsQuery};
    /// use futures::TryStreamExt;
    ///
    /// # async fn demo(client: Client) -> availsync_sdk::Result<()> {
    /// let live: Vec<_> = client
    ///     .holds(HoldsQuery { active_only: true, ..HoldsQuery::default() })
    ///     .try_collect()
    ///     .await?;
    /// println!("{} live holds", live.len());
    /// # Ok(()) }
    /// ```
    pub fn holds(&self, query: HoldsQuery) -> impl Stream<Item = Result<Hold>> + Send + 'static {
        self.transport.list(query)
    }

    /// `DELETE /v1/holds/{id}`. Idempotent.
    pub async fn release_hold(&self, hold_id: &str) -> Result<()> {
        let call = Call::delete("/v1/holds/{hold_id}").id(hold_id);
        self.transport.empty(call, None::<&()>).await
    }

    /// `GET /v1/activity`: one page.
    pub async fn activity_page(
        &self,
        query: &ActivityQuery,
        cursor: Option<&str>,
    ) -> Result<Page<ActivityItem>> {
        self.transport.page(query, cursor).await
    }

    /// `GET /v1/activity`: every page, newest first, as a stream.
    pub fn activity(
        &self,
        query: ActivityQuery,
    ) -> impl Stream<Item = Result<ActivityItem>> + Send + 'static {
        self.transport.list(query)
    }

    /// `GET /v1/events`: the workspace's activity as it commits, one item
    /// at a time, for as long as the stream is polled.
    ///
    /// The stream reconnects by itself after a dropped or silent
    /// connection, a server error or a `lagged` notice (the client read too
    /// slowly), resuming after the last item it yielded, with a growing
    /// wait between failed attempts: no item is lost or repeated. It ends
    /// only with an error that retrying cannot fix (a refused key, an
    /// unknown [`EventFilter::after`] id), which it yields last.
    ///
    /// ```no_run
    /// use availsync_sdk::{Client, EventFilter};
    /// use futures::StreamExt;
    ///
    /// # async fn demo(client: Client) -> availsync_sdk::Result<()> {
    /// let events = client.events(EventFilter::new().resource("repo:acme/web")?);
    /// futures::pin_mut!(events);
    /// while let Some(item) = events.next().await {
    ///     let item = item?;
    ///     println!("{} {} {:?}", item.at, item.kind, item.agent_name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn events(
        &self,
        filter: EventFilter,
    ) -> impl Stream<Item = Result<ActivityItem>> + Send + 'static {
        crate::events::follow(self.transport.clone(), filter)
    }

    /// `GET /v1/rules`: the workspace's rules (SPEC §11), which humans
    /// write and agents read — to learn why a start was skipped on a
    /// resource it did not name (a `depends_on` closure), or how many runs a
    /// resource admits.
    pub async fn rules(&self) -> Result<Vec<Rule>> {
        self.transport.rules().await
    }

    /// `POST /v1/activity/usage`: usage against the plan, and counts within
    /// `[since, until)`.
    pub async fn usage(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<UsageResponse> {
        self.transport.usage(since, until).await
    }
}

impl Transport {
    /// `GET /v1/rules`, for agents and humans alike.
    pub(crate) async fn rules(&self) -> Result<Vec<Rule>> {
        let list: RuleList = self.json(Call::get("/v1/rules"), None::<&()>).await?;
        Ok(list.items)
    }

    /// `POST /v1/activity/usage`, for agents and humans alike.
    pub(crate) async fn usage(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<UsageResponse> {
        let body = UsageRequest {
            since: since.map(|t| t.to_string()),
            until: until.map(|t| t.to_string()),
        };
        self.json(Call::post("/v1/activity/usage"), Some(&body))
            .await
    }
}
