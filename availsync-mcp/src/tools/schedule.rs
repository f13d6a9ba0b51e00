//! Scheduling tools: whether a resource is free (`check_availability`),
//! whether a time window overlaps holds (`check_conflicts`), and holding or
//! giving back a window (`create_hold`, `release_hold`).

use std::time::Duration;

use availsync_sdk::types::{MAX_HOLD_TTL_SECONDS, MIN_HOLD_TTL_SECONDS};
use availsync_sdk::{NewHold, ResourceKey, Timestamp};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::shapes::{
    AvailabilityKind, AvailabilityOutput, BusyInfo, ConflictsOutput, CreateHoldOutput, FreeInfo,
    HoldInfo, ReleaseHoldOutput,
};
use super::{AvailsyncMcp, failure, invalid_argument, output_schema, sdk_failure, success};
use crate::text;

/// Window of `check_availability` when it is given no `to`.
const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Arguments of `check_availability`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckAvailabilityArgs {
    /// The resource: 'repo:owner/name' or 'project:key' to learn whether it
    /// is free to claim now; any key such as 'calendar:team-eng',
    /// 'release:web' or 'deploy:prod' to see which parts of a time window
    /// are free of holds.
    pub resource: String,
    /// Start of the time window, RFC 3339 (e.g. '2026-05-04T09:00:00Z');
    /// default now. Giving a window also looks at holds on a repo or project.
    #[serde(default)]
    pub from: Option<String>,
    /// End of the time window, RFC 3339; default 24 hours after 'from'. At
    /// most 31 days after 'from'.
    #[serde(default)]
    pub to: Option<String>,
}

/// Arguments of `check_conflicts`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckConflictsArgs {
    /// The schedulable resource, e.g. 'calendar:team-eng' or 'deploy:prod'.
    pub resource: String,
    /// Start of the window, RFC 3339 (inclusive), e.g. '2026-05-04T10:00:00Z'.
    pub start: String,
    /// End of the window, RFC 3339 (exclusive); after start, at most 31 days
    /// later. Back-to-back windows do not conflict.
    pub end: String,
}

/// Arguments of `create_hold`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHoldArgs {
    /// The schedulable resource, e.g. 'calendar:team-eng' or 'deploy:prod'.
    pub resource: String,
    /// Start of the window, RFC 3339 (inclusive), e.g. '2026-05-04T10:00:00Z'.
    pub start: String,
    /// End of the window, RFC 3339 (exclusive); after start, at most 31 days
    /// later.
    pub end: String,
    /// What the hold is for, shown to others (e.g. 'release 2.4 deploy').
    #[serde(default)]
    pub purpose: Option<String>,
    /// Make the hold tentative: it lapses after this many seconds
    /// (10-86400) unless released earlier. Default: it stays until released.
    #[serde(default)]
    #[schemars(range(min = 10, max = 86400))]
    pub ttl_seconds: Option<u32>,
    /// Leave out. Only to repeat a create_hold whose answer you never got:
    /// the same key returns the first hold instead of making a second.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Arguments of `release_hold`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHoldArgs {
    /// The hold_id that create_hold returned.
    pub hold_id: String,
}

fn parse_resource(text: &str) -> Result<ResourceKey, CallToolResult> {
    text.trim()
        .parse()
        .map_err(|e| invalid_argument(&format!("'{text}' is not a valid resource: {e}")))
}

fn parse_time(name: &str, text: &str) -> Result<Timestamp, CallToolResult> {
    text.trim()
        .parse()
        .map_err(|e| invalid_argument(&format!("{name}: {e}")))
}

fn parse_window(
    start_name: &str,
    start: &str,
    end_name: &str,
    end: &str,
) -> Result<(Timestamp, Timestamp), CallToolResult> {
    let start_at = parse_time(start_name, start)?;
    let end_at = parse_time(end_name, end)?;
    if end_at <= start_at {
        return Err(invalid_argument(&format!(
            "'{end_name}' ({end}) must be after '{start_name}' ({start})"
        )));
    }
    Ok((start_at, end_at))
}

#[tool_router(router = schedule_router, vis = "pub(crate)")]
impl AvailsyncMcp {
    /// Is a resource available? Without a time window, for a repo or project:
    /// AVAILABLE (free to claim right now; still call start_run before you
    /// edit) or BUSY (someone is working on it: do not edit it). With a window
    /// ('from'/'to'), or for any other resource (calendar:, deploy:,
    /// release:, ...): which parts of the window are free of holds (FREE,
    /// PARTLY FREE, BUSY), listing the holds and free windows. Changes nothing.
    #[tool(
        annotations(
            title = "Is it free?",
            read_only_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<AvailabilityOutput>()
    )]
    async fn check_availability(
        &self,
        Parameters(args): Parameters<CheckAvailabilityArgs>,
    ) -> CallToolResult {
        let resource = match parse_resource(&args.resource) {
            Ok(resource) => resource,
            Err(invalid) => return invalid,
        };
        let from = args.from.filter(|t| !t.trim().is_empty());
        let to = args.to.filter(|t| !t.trim().is_empty());
        if from.is_none() && to.is_none() && resource.is_claimable() {
            return match self.bounded(self.client.check(resource.as_str())).await {
                Ok(answer) => {
                    let holder = match &answer.holder {
                        Some(holder) => Some(
                            self.describe_holder(
                                holder,
                                &resource,
                                None,
                                self.options.call_timeout / 2,
                            )
                            .await,
                        ),
                        None => None,
                    };
                    let out = AvailabilityOutput {
                        kind: AvailabilityKind::Work,
                        resource: answer.resource,
                        available: answer.available,
                        holder,
                        retry_after_seconds: answer.retry_after,
                        from: None,
                        to: None,
                        busy: Vec::new(),
                        free: Vec::new(),
                    };
                    let line = text::availability(&out);
                    success(&out, line)
                }
                Err(e) => sdk_failure(
                    &self.client,
                    &e,
                    &format!("it is unknown whether {resource} is free"),
                ),
            };
        }
        let from_at = match from.as_deref().map(|t| parse_time("from", t)) {
            None => Timestamp::now(),
            Some(Ok(t)) => t,
            Some(Err(invalid)) => return invalid,
        };
        let to_at = match to.as_deref().map(|t| parse_time("to", t)) {
            None => {
                from_at.add_millis(i64::try_from(DEFAULT_WINDOW.as_millis()).unwrap_or(i64::MAX))
            }
            Some(Ok(t)) => t,
            Some(Err(invalid)) => return invalid,
        };
        if to_at <= from_at {
            return invalid_argument(&format!("'to' ({to_at}) must be after 'from' ({from_at})"));
        }
        match self
            .bounded(self.client.availability(resource.as_str(), from_at, to_at))
            .await
        {
            Ok(answer) => {
                let out = AvailabilityOutput {
                    kind: AvailabilityKind::Schedule,
                    resource: answer.resource,
                    available: answer.busy.is_empty(),
                    holder: None,
                    retry_after_seconds: None,
                    from: Some(answer.from.to_string()),
                    to: Some(answer.to.to_string()),
                    busy: answer.busy.iter().map(BusyInfo::from).collect(),
                    free: answer.free.iter().map(FreeInfo::from).collect(),
                };
                let line = text::availability(&out);
                success(&out, line)
            }
            Err(e) => sdk_failure(
                &self.client,
                &e,
                &format!("it is unknown which times on {resource} are free"),
            ),
        }
    }

    /// Does a time window [start, end) on a schedulable resource overlap
    /// anyone's hold? NO CONFLICT: the window is free now (call create_hold
    /// to reserve it before you book the downstream system). CONFLICT: it
    /// overlaps the listed holds; do not book it. Changes nothing.
    #[tool(
        annotations(
            title = "Would this window conflict?",
            read_only_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<ConflictsOutput>()
    )]
    async fn check_conflicts(
        &self,
        Parameters(args): Parameters<CheckConflictsArgs>,
    ) -> CallToolResult {
        let resource = match parse_resource(&args.resource) {
            Ok(resource) => resource,
            Err(invalid) => return invalid,
        };
        let (start, end) = match parse_window("start", &args.start, "end", &args.end) {
            Ok(window) => window,
            Err(invalid) => return invalid,
        };
        match self
            .bounded(self.client.check_conflicts(resource.as_str(), start, end))
            .await
        {
            Ok(answer) => {
                let out = ConflictsOutput {
                    resource: resource.to_string(),
                    start: start.to_string(),
                    end: end.to_string(),
                    conflict: answer.conflict,
                    conflicts: answer.conflicts.iter().map(BusyInfo::from).collect(),
                };
                let line = text::conflicts(&out);
                success(&out, line)
            }
            Err(e) => sdk_failure(
                &self.client,
                &e,
                &format!("it is unknown whether that window on {resource} is free"),
            ),
        }
    }

    /// Reserve a time window [start, end) on a schedulable resource (a
    /// calendar, a release train, a deploy slot) BEFORE you book or change the
    /// downstream system. HELD: the window is yours; go ahead, and call
    /// release_hold if you end up not using it. NOT HELD: it overlaps someone
    /// else's hold (named); do not book it; pick a free window or tell the
    /// user. Checking and holding are one atomic step.
    #[tool(
        annotations(
            title = "Hold a time window",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = output_schema::<CreateHoldOutput>()
    )]
    async fn create_hold(&self, Parameters(args): Parameters<CreateHoldArgs>) -> CallToolResult {
        let resource = match parse_resource(&args.resource) {
            Ok(resource) => resource,
            Err(invalid) => return invalid,
        };
        let (start, end) = match parse_window("start", &args.start, "end", &args.end) {
            Ok(window) => window,
            Err(invalid) => return invalid,
        };
        let mut hold = match NewHold::new(resource.as_str(), start, end) {
            Ok(hold) => hold,
            Err(e) => return invalid_argument(&e.to_string()),
        };
        if let Some(purpose) = args
            .purpose
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
        {
            hold = hold.purpose(purpose);
        }
        if let Some(ttl) = args.ttl_seconds {
            if !(MIN_HOLD_TTL_SECONDS..=MAX_HOLD_TTL_SECONDS).contains(&ttl) {
                return invalid_argument(&format!(
                    "ttl_seconds must be between {MIN_HOLD_TTL_SECONDS} and {MAX_HOLD_TTL_SECONDS}, not {ttl}"
                ));
            }
            hold = hold.tentative(Duration::from_secs(ttl.into()));
        }
        if let Some(key) = args
            .idempotency_key
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
        {
            hold = hold.idempotency_key(key);
        }
        let mut out = CreateHoldOutput {
            created: false,
            replayed: false,
            hold: None,
            conflicts: Vec::new(),
            resource: resource.to_string(),
            start: start.to_string(),
            end: end.to_string(),
        };
        match self.bounded(self.client.create_hold(&hold)).await {
            Ok(answer) => {
                tracing::info!(%resource, hold_id = %answer.hold.hold_id, "create_hold: held");
                out.created = true;
                out.replayed = answer.replayed;
                out.hold = Some(HoldInfo::from(&answer.hold));
            }
            Err(e) if e.code() == Some("hold_conflict") => {
                tracing::info!(%resource, "create_hold: conflict");
                out.conflicts = e.conflicts().iter().map(BusyInfo::from).collect();
            }
            Err(e) => {
                return sdk_failure(
                    &self.client,
                    &e,
                    &format!("the window on {resource} is not known to be held"),
                );
            }
        }
        let line = text::create_hold(&out);
        success(&out, line)
    }

    /// Give back a hold you made (with create_hold) and no longer need, so
    /// others can use the window. Releasing twice is harmless. You cannot
    /// release another agent's hold.
    #[tool(
        annotations(
            title = "Release a hold",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<ReleaseHoldOutput>()
    )]
    async fn release_hold(&self, Parameters(args): Parameters<ReleaseHoldArgs>) -> CallToolResult {
        let hold_id = args.hold_id.trim().to_owned();
        let valid = !hold_id.is_empty()
            && hold_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return invalid_argument(&format!(
                "'{hold_id}' is not a hold id; use the hold_id that create_hold returned"
            ));
        }
        match self.bounded(self.client.release_hold(&hold_id)).await {
            Ok(()) => {
                tracing::info!(%hold_id, "release_hold");
                let out = ReleaseHoldOutput {
                    hold_id,
                    released: true,
                };
                let line = text::release_hold(&out);
                success(&out, line)
            }
            Err(e) if e.is_not_found() => failure(
                "not_found",
                &e.to_string(),
                false,
                text::not_found(
                    &format!("there is no hold {hold_id}"),
                    "Use the hold_id that create_hold returned.",
                ),
            ),
            Err(e) => sdk_failure(
                &self.client,
                &e,
                &format!("hold {hold_id} is not known to be released"),
            ),
        }
    }
}
