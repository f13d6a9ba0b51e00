//! Lists: one generic call per page, and streams that follow
//! `next_cursor` page by page.

use std::future::Future;

use availsync_types::{ActivityItem, Agent, AuditItem, Hold, Page, Run};
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
    /// The query parameters, unset ones as `None` (the page size
    /// included, the cursor not).
    fn filters(&self) -> Vec<(&'static str, Option<String>)>;
    /// The resource the list is filtered on, for the call's span.
    fn resource(&self) -> Option<&str>;
}

impl Transport {
    /// One page of a list, from `cursor` (the first page without one).
    pub(crate) async fn page<Q: ListQuery>(
        &self,
        query: &Q,
        cursor: Option<&str>,
    ) -> Result<Page<Q::Item>> {
        let mut filters = query.filters();
        filters.push(("cursor", cursor.map(str::to_owned)));
        let params = filters
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .collect();
        let call = Call::get(Q::ROUTE).query(params).resource(query.resource());
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

fn limit(limit: Option<u32>) -> (&'static str, Option<String>) {
    ("limit", limit.map(|l| l.to_string()))
}

fn resource(resource: Option<&availsync_types::ResourceKey>) -> (&'static str, Option<String>) {
    ("resource", resource.map(ToString::to_string))
}

fn active_only(active_only: bool) -> (&'static str, Option<String>) {
    ("status", active_only.then(|| "active".to_owned()))
}

impl ListQuery for RunsQuery {
    type Item = Run;
    const ROUTE: &'static str = "/v1/work/runs";

    fn filters(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            active_only(self.active_only),
            resource(self.resource.as_ref()),
            limit(self.limit),
        ]
    }

    fn resource(&self) -> Option<&str> {
        self.resource.as_ref().map(|r| r.as_str())
    }
}

impl ListQuery for HoldsQuery {
    type Item = Hold;
    const ROUTE: &'static str = "/v1/holds";

    fn filters(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            active_only(self.active_only),
            resource(self.resource.as_ref()),
            limit(self.limit),
        ]
    }

    fn resource(&self) -> Option<&str> {
        self.resource.as_ref().map(|r| r.as_str())
    }
}

impl ListQuery for ActivityQuery {
    type Item = ActivityItem;
    const ROUTE: &'static str = "/v1/activity";

    fn filters(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("agent_id", self.agent_id.clone()),
            resource(self.resource.as_ref()),
            ("kind", self.kind.clone()),
            limit(self.limit),
        ]
    }

    fn resource(&self) -> Option<&str> {
        self.resource.as_ref().map(|r| r.as_str())
    }
}

impl ListQuery for AuditQuery {
    type Item = AuditItem;
    const ROUTE: &'static str = "/v1/audit";

    fn filters(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("actor_id", self.actor_id.clone()),
            resource(self.resource.as_ref()),
            ("action", self.action.clone()),
            limit(self.limit),
        ]
    }

    fn resource(&self) -> Option<&str> {
        self.resource.as_ref().map(|r| r.as_str())
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

    fn filters(&self) -> Vec<(&'static str, Option<String>)> {
        vec![limit(self.limit)]
    }

    fn resource(&self) -> Option<&str> {
        None
    }
}
