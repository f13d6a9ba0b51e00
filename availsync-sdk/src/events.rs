//! `GET /v1/events`: the workspace's activity as it commits, as a
//! [`Stream`] that reconnects by itself.
//!
//! The server sends Server-Sent Events; this module parses the small
//! format itself (`id:`, `event:`, `data:` and comment lines) rather than
//! bring in a crate for it. After a dropped connection, a silent one (no
//! byte, not even the server's keep-alive comment, for
//! [`SILENCE_LIMIT`]), a server error or a `lagged` event, it reconnects
//! with `Last-Event-ID` set to the last item it yielded, waiting longer
//! after each failure in a row, so the stream goes on with nothing lost
//! and nothing repeated.

use std::collections::VecDeque;
use std::time::Duration;

use availsync_types::{ActivityItem, ActivityKind, ResourceKey};
use futures::Stream;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};

use crate::error::{Error, Result};
use crate::transport::Transport;

/// Longest the stream waits for a byte before it takes the connection for
/// dead and reconnects: three of the server's 15 s keep-alive periods.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);

/// The first wait before reconnecting after a failure; it doubles with
/// each failure in a row, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Which events to follow, and from where.
///
/// ```
/// use availsync_sdk::EventFilter;
/// use availsync_sdk::types::ActivityKind;
///
/// let filter = EventFilter::new()
///     .resource("repo:acme/web")?
///     .kind(ActivityKind::RunStarted)
///     .after("evt_0193f1c2d3e4f5a6b7c8d9e0f1a2b3c4");
/// # Ok::<(), availsync_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    resource: Option<ResourceKey>,
    kind: Option<ActivityKind>,
    after: Option<String>,
}

impl EventFilter {
    /// Every event of the workspace, from now on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events on this resource.
    pub fn resource(mut self, resource: &str) -> Result<Self> {
        self.resource = Some(resource.parse()?);
        Ok(self)
    }

    /// Only events of this kind.
    pub fn kind(mut self, kind: ActivityKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Starts after this event (an [`ActivityItem::id`]) instead of now:
    /// every event committed after it comes, once, in order. The server
    /// refuses an id it no longer keeps (`400 invalid_request`).
    pub fn after(mut self, event_id: impl Into<String>) -> Self {
        self.after = Some(event_id.into());
        self
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(resource) = &self.resource {
            query.push(("resource", resource.to_string()));
        }
        if let Some(kind) = self.kind {
            query.push(("kind", kind.to_string()));
        }
        query
    }
}

/// One event as the server framed it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

/// Server-Sent Events, bytes in, frames out; a frame may arrive split
/// across chunks anywhere, even inside a character.
#[derive(Debug, Default)]
struct Parser {
    pending: Vec<u8>,
    frame: Frame,
    has_data: bool,
}

impl Parser {
    fn push(&mut self, bytes: &[u8], frames: &mut VecDeque<Frame>) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            self.line(line, frames);
        }
    }

    fn line(&mut self, line: &str, frames: &mut VecDeque<Frame>) {
        if line.is_empty() {
            let frame = std::mem::take(&mut self.frame);
            if std::mem::take(&mut self.has_data) || frame.event.is_some() {
                frames.push_back(frame);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.frame.id = Some(value.to_owned()),
            "event" => self.frame.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.frame.data.push('\n');
                }
                self.frame.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// The stream's state between items.
struct Follower {
    transport: Transport,
    query: Vec<(&'static str, String)>,
    /// The last item yielded (or the filter's `after`): where a
    /// reconnection resumes.
    last_id: Option<String>,
    response: Option<reqwest::Response>,
    parser: Parser,
    frames: VecDeque<Frame>,
    failures: u32,
    done: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<ActivityItem>> {
        loop {
            if self.done {
                return None;
            }
            while let Some(frame) = self.frames.pop_front() {
                match frame.event.as_deref() {
                    Some("lagged") => {
                        tracing::debug!("the event stream fell behind; resuming");
                        self.response = None;
                        self.frames.clear();
                        self.parser = Parser::default();
                        break;
                    }
                    _ if frame.id.is_none() => continue,
                    _ => {}
                }
                if frame.id == self.last_id {
                    continue;
                }
                self.failures = 0;
                self.last_id.clone_from(&frame.id);
                return Some(
                    serde_json::from_str(&frame.data).map_err(|error| Error::Decode {
                        status: 200,
                        error,
                        body: frame.data.chars().take(2048).collect(),
                    }),
                );
            }
            let Some(response) = self.response.as_mut() else {
                match self.connect().await {
                    Ok(()) => continue,
                    Err(error) if error.is_retryable() => {
                        tracing::debug!(%error, "cannot open the event stream; retrying");
                        self.back_off().await;
                        continue;
                    }
                    Err(error) => {
                        self.done = true;
                        return Some(Err(error));
                    }
                }
            };
            match tokio::time::timeout(SILENCE_LIMIT, response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.parser.push(&bytes, &mut self.frames),
                Ok(Ok(None)) => {
                    tracing::debug!("the event stream ended; reconnecting");
                    self.drop_connection();
                    self.back_off().await;
                }
                Ok(Err(error)) => {
                    tracing::debug!(%error, "the event stream broke; reconnecting");
                    self.drop_connection();
                    self.back_off().await;
                }
                Err(_) => {
                    tracing::debug!("the event stream went silent; reconnecting");
                    self.drop_connection();
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(id) = &self.last_id {
            let value = HeaderValue::try_from(id.as_str())
                .map_err(|_| Error::Config(format!("event id {id:?} cannot be a header")))?;
            headers.insert("last-event-id", value);
        }
        let response = self
            .transport
            .open_stream("/v1/events", &self.query, headers)
            .await?;
        self.response = Some(response);
        Ok(())
    }

    fn drop_connection(&mut self) {
        self.response = None;
        // A half-received frame will come again, whole.
        self.parser = Parser::default();
    }

    async fn back_off(&mut self) {
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << self.failures.min(10))
            .min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        let jitter = rand::random_range(0..=wait.as_millis() as u64 / 4);
        tokio::time::sleep(wait + Duration::from_millis(jitter)).await;
    }
}

pub(crate) fn follow(
    transport: Transport,
    filter: EventFilter,
) -> impl Stream<Item = Result<ActivityItem>> + Send + 'static {
    let follower = Follower {
        transport,
        query: filter.query(),
        last_id: filter.after.clone(),
        response: None,
        parser: Parser::default(),
        frames: VecDeque::new(),
        failures: 0,
        done: false,
    };
    futures::stream::unfold(follower, |mut follower| async move {
        follower.next().await.map(|item| (item, follower))
    })
}

#[cfg(test)]
mod tests {
    use super::{Frame, Parser};
    use std::collections::VecDeque;

    fn parse(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut parser = Parser::default();
        let mut frames = VecDeque::new();
        for chunk in chunks {
            parser.push(chunk, &mut frames);
        }
        frames.into()
    }

    #[test]
    fn frames_are_parsed_across_chunk_boundaries_and_comments_skipped() {
        let text = "id: evt_1\nevent: run_started\ndata: {\"a\":\"é\"}\n\n: keep-alive\n\nid:evt_2\r\ndata: x\r\ndata: y\r\n\r\n";
        let bytes = text.as_bytes();
        let expected = vec![
            Frame {
                id: Some("evt_1".into()),
                event: Some("run_started".into()),
                data: "{\"a\":\"é\"}".into(),
            },
            Frame {
                id: Some("evt_2".into()),
                event: None,
                data: "x\ny".into(),
            },
        ];
        assert_eq!(parse(&[bytes]), expected);
        // Split at every byte, through the two-byte 'é' too.
        let single: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse(&single), expected);
    }

    #[test]
    fn an_event_without_data_still_counts_when_named() {
        let frames = parse(&[b"event: lagged\ndata: {}\n\nevent: ping\n\n"]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1].event.as_deref(), Some("ping"));
    }
}
