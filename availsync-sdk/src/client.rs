//! The agent client: work, scheduling, activity, usage, health.

use std::time::Duration;

use availsync_types::{
    ActivityItem, AvailabilityResponse, CheckRequest, CheckResponse, ConflictsCheckRequest,
    ConflictsCheckResponse, ExtendRunRequest, ExtendRunResponse, FinishRunRequest,
    FinishRunResponse, Health, Hold, HoldResponse, Outcome, Page, ResourceKey, Run,
    StartRunResponse, Timestamp, UsageRequest, UsageResponse,
};
use futures::Stream;
use http::Method;

use crate::config::ClientBuilder;
use crate::error::Result;
use crate::guard::{self, RunStart};
use crate::paging::pages;
use crate::requests::{ActivityQuery, HoldsQuery, NewHold, RunsQuery, StartRun, pairs};
use crate::transport::{Retry, Transport};

/// An agent's client. Cheap to clone; clones share one connection pool.
///
/// ```no_run
/// # async fn demo() -> availsync_sdk::Result<()> {
/// use availsync_sdk::{Client, RunStart, StartRun};
///
/// let client = Client::from_env()?;
/// match client.claim(StartRun::new("repo:acme/web")?).await? {
///     RunStart::Claimed(guard) => {
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
        self.transport
            .json(Method::GET, "/health", &[], None::<&()>, Retry::Idempotent)
            .await
    }

    /// `POST /v1/work/run/start`: the raw decision. Most callers want
    /// [`Client::claim`], which keeps the lease alive.
    pub async fn start_run(&self, start: &StartRun) -> Result<StartRunResponse> {
        // Safe to retry: the run_id makes a repeated start a replay.
        self.transport
            .json(
                Method::POST,
                "/v1/work/run/start",
                &[],
                Some(&start.body()),
                Retry::Idempotent,
            )
            .await
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
        self.transport
            .json(Method::POST, "/v1/work/run/extend", &[], Some(&body), retry)
            .await
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
        self.transport
            .json(
                Method::POST,
                "/v1/work/run/finish",
                &[],
                Some(&body),
                Retry::Idempotent,
            )
            .await
    }

    /// `POST /v1/work/check`: whether a resource is free, changing nothing.
    pub async fn check(&self, resource: &str) -> Result<CheckResponse> {
        let resource: ResourceKey = resource.parse()?;
        let body = CheckRequest {
            resource: resource.to_string(),
            working_set: None,
        };
        self.transport
            .json(
                Method::POST,
                "/v1/work/check",
                &[],
                Some(&body),
                Retry::Idempotent,
            )
            .await
    }

    /// `GET /v1/work/runs`: one page.
    pub async fn runs_page(&self, query: &RunsQuery, cursor: Option<&str>) -> Result<Page<Run>> {
        runs_page(&self.transport, query, cursor).await
    }

    /// `GET /v1/work/runs`: every page, as a stream.
    pub fn runs(&self, query: RunsQuery) -> impl Stream<Item = Result<Run>> + Send + 'static {
        let transport = self.transport.clone();
        pages(move |cursor| {
            let (transport, query) = (transport.clone(), query.clone());
            async move { runs_page(&transport, &query, cursor.as_deref()).await }
        })
    }

    /// `GET /v1/availability`: busy holds and free windows in `[from, to)`.
    pub async fn availability(
        &self,
        resource: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<AvailabilityResponse> {
        let resource: ResourceKey = resource.parse()?;
        let query = [
            ("resource", resource.to_string()),
            ("from", from.to_string()),
            ("to", to.to_string()),
        ];
        self.transport
            .json(
                Method::GET,
                "/v1/availability",
                &query,
                None::<&()>,
                Retry::Idempotent,
            )
            .await
    }

    /// `POST /v1/conflicts/check`: live holds overlapping `[start, end)`.
    pub async fn check_conflicts(
        &self,
        resource: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<ConflictsCheckResponse> {
        let resource: ResourceKey = resource.parse()?;
        let body = ConflictsCheckRequest {
            resource: resource.to_string(),
            start: start.to_string(),
            end: end.to_string(),
        };
        self.transport
            .json(
                Method::POST,
                "/v1/conflicts/check",
                &[],
                Some(&body),
                Retry::Idempotent,
            )
            .await
    }

    /// `POST /v1/holds`. A conflict is an [`crate::Error::Api`] with code
    /// `hold_conflict` and the conflicting holds in `conflicts`.
    pub async fn create_hold(&self, hold: &NewHold) -> Result<HoldResponse> {
        // Safe to retry: the idempotency key makes a repeat a replay.
        self.transport
            .json(
                Method::POST,
                "/v1/holds",
                &[],
                Some(&hold.body()),
                Retry::Idempotent,
            )
            .await
    }

    /// `GET /v1/holds`: one page.
    pub async fn holds_page(&self, query: &HoldsQuery, cursor: Option<&str>) -> Result<Page<Hold>> {
        holds_page(&self.transport, query, cursor).await
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
        let transport = self.transport.clone();
        pages(move |cursor| {
            let (transport, query) = (transport.clone(), query.clone());
            async move { holds_page(&transport, &query, cursor.as_deref()).await }
        })
    }

    /// `DELETE /v1/holds/{id}`. Idempotent.
    pub async fn release_hold(&self, hold_id: &str) -> Result<()> {
        self.transport
            .empty(
                Method::DELETE,
                &format!("/v1/holds/{hold_id}"),
                None::<&()>,
                Retry::Idempotent,
            )
            .await
    }

    /// `GET /v1/activity`: one page.
    pub async fn activity_page(
        &self,
        query: &ActivityQuery,
        cursor: Option<&str>,
    ) -> Result<Page<ActivityItem>> {
        activity_page(&self.transport, query, cursor).await
    }

    /// `GET /v1/activity`: every page, newest first, as a stream.
    pub fn activity(
        &self,
        query: ActivityQuery,
    ) -> impl Stream<Item = Result<ActivityItem>> + Send + 'static {
        let transport = self.transport.clone();
        pages(move |cursor| {
            let (transport, query) = (transport.clone(), query.clone());
            async move { activity_page(&transport, &query, cursor.as_deref()).await }
        })
    }

    /// `POST /v1/activity/usage`: usage against the plan, and counts within
    /// `[since, until)`.
    pub async fn usage(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<UsageResponse> {
        usage(&self.transport, since, until).await
    }
}

async fn holds_page(
    transport: &Transport,
    query: &HoldsQuery,
    cursor: Option<&str>,
) -> Result<Page<Hold>> {
    let params = pairs(&[
        ("status", query.active_only.then(|| "active".to_owned())),
        ("resource", query.resource.as_ref().map(ToString::to_string)),
        ("limit", query.limit.map(|l| l.to_string())),
        ("cursor", cursor.map(str::to_owned)),
    ]);
    transport
        .json(
            Method::GET,
            "/v1/holds",
            &params,
            None::<&()>,
            Retry::Idempotent,
        )
        .await
}

pub(crate) async fn runs_page(
    transport: &Transport,
    query: &RunsQuery,
    cursor: Option<&str>,
) -> Result<Page<Run>> {
    let params = pairs(&[
        ("status", query.active_only.then(|| "active".to_owned())),
        ("resource", query.resource.as_ref().map(ToString::to_string)),
        ("limit", query.limit.map(|l| l.to_string())),
        ("cursor", cursor.map(str::to_owned)),
    ]);
    transport
        .json(
            Method::GET,
            "/v1/work/runs",
            &params,
            None::<&()>,
            Retry::Idempotent,
        )
        .await
}

pub(crate) async fn activity_page(
    transport: &Transport,
    query: &ActivityQuery,
    cursor: Option<&str>,
) -> Result<Page<ActivityItem>> {
    let params = pairs(&[
        ("agent_id", query.agent_id.clone()),
        ("resource", query.resource.as_ref().map(ToString::to_string)),
        ("kind", query.kind.clone()),
        ("limit", query.limit.map(|l| l.to_string())),
        ("cursor", cursor.map(str::to_owned)),
    ]);
    transport
        .json(
            Method::GET,
            "/v1/activity",
            &params,
            None::<&()>,
            Retry::Idempotent,
        )
        .await
}

pub(crate) async fn usage(
    transport: &Transport,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<UsageResponse> {
    let body = UsageRequest {
        since: since.map(|t| t.to_string()),
        until: until.map(|t| t.to_string()),
    };
    transport
        .json(
            Method::POST,
            "/v1/activity/usage",
            &[],
            Some(&body),
            Retry::Idempotent,
        )
        .await
}
