//! `GET /v1/events`: the workspace's activity as Server-Sent Events, as it
//! commits (SPEC §14).
//!
//! A stream starts at the event its client names (`Last-Event-ID`, else
//! `?after=`), or at the newest committed event when it names none. It
//! first reads what it missed from the store, then follows the server's
//! one [`EventHub`](crate::app::event_hub::EventHub), skipping every event
//! at or before the last position it sent: nothing lost, nothing twice.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use availsync_types::ErrorBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use super::feeds::activity_filter;
use super::json::ApiQuery;
use crate::store::cursor::Position;
use crate::store::{ActivityFilter, FeedEvent, FeedScope, Store, WorkspaceId};

/// The header a reconnecting client names its last event with.
const LAST_EVENT_ID: &str = "last-event-id";

/// Events a stream reads from the store at once while catching up.
const CATCH_UP_BATCH: u32 = 200;

/// The event a stream that fell too far behind ends with.
pub const LAGGED_EVENT: &str = "lagged";

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events on this resource.
    resource: Option<String>,
    /// Only events of this kind.
    kind: Option<String>,
    /// Resume after this event id (as `Last-Event-ID` does; the header
    /// wins when both are given).
    after: Option<String>,
}

/// The workspace's activity as it commits, as Server-Sent Events: `id:` is
/// the event's id (resume with it as `Last-Event-ID` or `?after=`),
/// `event:` its kind and `data:` the activity item as `GET /v1/activity`
/// answers it. A `: keep-alive` comment comes after at most 15 s of
/// silence. A client that reads too slowly gets a last `event: lagged`
/// (its data names the last event delivered) and the stream ends: reconnect
/// with `Last-Event-ID`.
#[utoipa::path(get, path = "/v1/events", tag = "activity", params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header,
         description = "Resume after this event (an activity item's id)")),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "A stream of `id:` / `event:` / `data:` events, one per committed activity item"),
        (status = 400, body = ErrorBody,
         description = "invalid_request: an unknown filter, or an event id (field `Last-Event-ID` or `after`) that is unknown to this workspace or was pruned"),
        (status = 401, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let filter = activity_filter(None, query.resource.as_deref(), query.kind)?;
    let resume = match headers.get(LAST_EVENT_ID) {
        Some(value) => Some((
            "Last-Event-ID",
            value
                .to_str()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "Last-Event-ID is not text"))?
                .trim()
                .to_owned(),
        )),
        None => query.after.map(|after| ("after", after)),
    }
    .filter(|(_, id)| !id.is_empty());
    let hub = &state.services.events;
    // Subscribed before the start is read: whatever the hub sends from now
    // on lies after it or is skipped, and what lies between is caught up.
    let live = hub.subscribe();
    let workspace_id = caller.workspace();
    let store = Arc::clone(state.store());
    let position = match &resume {
        Some((field, id)) => store
            .activity_position(&workspace_id, id)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!(
                        "{field} names no event of this workspace that is still kept (unknown, or pruned past retention); \
                         reconnect without it to follow from now, and page GET /v1/activity for what came before"
                    ),
                )
            })?,
        None => store.activity_head().await?,
    };
    let reader = Reader {
        store,
        live,
        stopping: hub.stopping(),
        workspace_id,
        filter,
        position,
        catching_up: true,
        pending: VecDeque::new(),
        last_delivered: resume.map(|(_, id)| id),
        done: false,
    };
    let mut response = Sse::new(events(reader))
        .keep_alive(
            KeepAlive::new()
                .interval(state.config.events_keep_alive)
                .text(" keep-alive"),
        )
        .into_response();
    // Proxies that buffer answers (nginx) must pass this one on as it comes.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// One stream's place in the feed.
struct Reader {
    store: Arc<dyn Store>,
    live: broadcast::Receiver<Arc<FeedEvent>>,
    stopping: watch::Receiver<bool>,
    workspace_id: WorkspaceId,
    filter: ActivityFilter,
    /// The last position read (sent, or skipped by the filter).
    position: Position,
    /// Reading from the store until it has nothing newer.
    catching_up: bool,
    pending: VecDeque<Arc<FeedEvent>>,
    /// The id of the last event sent (or resumed from).
    last_delivered: Option<String>,
    done: bool,
}

impl Reader {
    fn wants(&self, event: &FeedEvent) -> bool {
        let item = &event.item;
        event.workspace_id == self.workspace_id.as_str()
            && self
                .filter
                .agent_id
                .as_ref()
                .is_none_or(|agent| item.agent_id.as_ref() == Some(agent))
            && self
                .filter
                .resource
                .as_ref()
                .is_none_or(|resource| item.resource.as_deref() == Some(resource.as_str()))
            && self
                .filter
                .kind
                .is_none_or(|kind| item.kind == kind.as_str())
    }

    /// The next event to send, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                self.last_delivered = Some(event.item.id.clone());
                return Some(sse_event(&event));
            }
            if self.catching_up {
                let scope = FeedScope::Workspace(&self.workspace_id, &self.filter);
                match self
                    .store
                    .activity_since(scope, self.position, CATCH_UP_BATCH)
                    .await
                {
                    Ok(events) => {
                        self.catching_up = events.len() == CATCH_UP_BATCH as usize;
                        if let Some(last) = events.last() {
                            self.position = last.position;
                        }
                        self.pending.extend(events.into_iter().map(Arc::new));
                        continue;
                    }
                    Err(e) => {
                        // The client resumes from its last event.
                        tracing::warn!(error = %e, "an event stream could not read activity; ending it");
                        return None;
                    }
                }
            }
            let received = tokio::select! {
                received = self.live.recv() => received,
                _ = self.stopping.wait_for(|stop| *stop) => return None,
            };
            match received {
                Ok(event) => {
                    if event.position > self.position {
                        self.position = event.position;
                        if self.wants(&event) {
                            self.pending.push_back(event);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.done = true;
                    return Some(lagged_event(self.last_delivered.as_deref()));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

fn events(reader: Reader) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(reader, |mut reader| async move {
        reader.next().await.map(|event| (Ok(event), reader))
    })
}

fn sse_event(event: &FeedEvent) -> Event {
    let data = serde_json::to_string(&event.item).unwrap_or_else(|_| "{}".to_owned());
    Event::default()
        .id(event.item.id.as_str())
        .event(&event.item.kind)
        .data(data)
}

/// The last event of a stream that fell too far behind; it carries no
/// `id:`, so a client's last event id stays that of the last event it got.
fn lagged_event(last_delivered: Option<&str>) -> Event {
    let data = serde_json::json!({
        "last_event_id": last_delivered,
        "message": "this stream fell too far behind and was closed; reconnect with Last-Event-ID set to last_event_id to resume without losing events",
    });
    Event::default().event(LAGGED_EVENT).data(data.to_string())
}
