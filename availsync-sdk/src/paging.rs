//! Lists: one generic call per page, and streams that follow
//! `next_cursor` page by page.

use std::future::Future;

use availsync_types::{ActivityItem, Agent, AuditItem, Hold, Page, ResourceKey, Run};
use futures::{Stream, TryStreamExt, stream};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::requests::{ActivityQuery, AuditQuery, HoldsQuery, RunsQuery};
use crate::transport::{Call, Transport};

/// The filters of one list endpoint, and what its items are.
pub(crate) trait ListQuery: Clone + Send + Sync + 'static {
    /// One item of a page.
    type Item: DeserializeOwned + Send + 'static;
    /// The endpoint, e.g. `/v1/holds`.
    const ROUTE: &'static str;
    /// The query's filters (the cursor aside).
    fn filters(&self) -> Filters<'_>;
}

/// A list's query parameters, unset ones left out, and the resource it is
/// filtered on (for the call's span).
pub(crate) struct Filters<'a> {
    resource: Option<&'a ResourceKey>,
    params: Vec<(&'static str, String)>,
}

impl<'a> Filters<'a> {
    /// The filters every list takes: a resource and a page size.
    fn new(resource: Option<&'a ResourceKey>, limit: Option<u32>) -> Self {
        Self {
            resource,
            params: Vec::new(),
        }
        .and("resource", resource.map(ToString::to_string))
        .and("limit", limit.map(|l| l.to_string()))
    }

    /// One more parameter, when set.
    fn and(mut self, name: &'static str, value: Option<String>) -> Self {
        if let Some(value) = value {
            self.params.push((name, value));
        }
        self
    }

    /// `status=active` when only live ones are asked for.
    fn active_only(self, active_only: bool) -> Self {
        self.and("status", active_only.then(|| "active".to_owned()))
    }
}

impl Transport {
    /// One page of a list, from `cursor` (the first page without one).
    pub(crate) async fn page<Q: ListQuery>(
        &self,
        query: &Q,
        cursor: Option<&str>,
    ) -> Result<Page<Q::Item>> {
        let filters = query.filters().and("cursor", cursor.map(str::to_owned));
        let call = Call::get(Q::ROUTE)
            .query(filters.params)
            .resource(filters.resource.map(ResourceKey::as_str));
        self.json(call, None::<&()>).await
    }

    /// Every item of every page, fetched lazily as the stream is polled.
    pub(crate) fn list<Q: ListQuery>(
        &self,
        query: Q,
    ) -> impl Stream<Item = Result<Q::Item>> + Send + 'static {
        let transport = self.clone();
        pages(move |cursor| {
            let (transport, query) = (transport.clone(), query.clone());
            async move { transport.page(&query, cursor.as_deref()).await }
        })
    }
}

enum Position {
    First,
    After(String),
    End,
}

fn pages<T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(Option<String>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<T>>> + Send + 'static,
{
    stream::try_unfold((fetch, Position::First), |(fetch, position)| async move {
        let cursor = match position {
            Position::First => None,
            Position::After(cursor) => Some(cursor),
            Position::End => return Ok::<_, Error>(None),
        };
        let page = fetch(cursor).await?;
        let next = page.next_cursor.map_or(Position::End, Position::After);
        let items = stream::iter(page.items.into_iter().map(Ok::<T, Error>));
        Ok::<_, Error>(Some((items, (fetch, next))))
    })
    .try_flatten()
}

impl ListQuery for RunsQuery {
    type Item = Run;
    const ROUTE: &'static str = "/v1/work/runs";

    fn filters(&self) -> Filters<'_> {
        Filters::new(self.resource.as_ref(), self.limit).active_only(self.active_only)
    }
}

impl ListQuery for HoldsQuery {
    type Item = Hold;
    const ROUTE: &'static str = "/v1/holds";

    fn filters(&self) -> Filters<'_> {
        Filters::new(self.resource.as_ref(), self.limit).active_only(self.active_only)
    }
}

impl ListQuery for ActivityQuery {
    type Item = ActivityItem;
    const ROUTE: &'static str = "/v1/activity";

    fn filters(&self) -> Filters<'_> {
        Filters::new(self.resource.as_ref(), self.limit)
            .and("agent_id", self.agent_id.clone())
            .and("kind", self.kind.clone())
    }
}

impl ListQuery for AuditQuery {
    type Item = AuditItem;
    const ROUTE: &'static str = "/v1/audit";

    fn filters(&self) -> Filters<'_> {
        Filters::new(self.resource.as_ref(), self.limit)
            .and("actor_id", self.actor_id.clone())
            .and("action", self.action.clone())
    }
}

/// `GET /v1/agents` takes a page size only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AgentsQuery {
    pub(crate) limit: Option<u32>,
}

impl ListQuery for AgentsQuery {
    type Item = Agent;
    const ROUTE: &'static str = "/v1/agents";

    fn filters(&self) -> Filters<'_> {
        Filters::new(None, self.limit)
    }
}
