//! Checks on request fields that serde's types cannot express, each naming
//! the field at fault.

use availsync_types::{
    CreateRuleRequest, MAX_CAPACITY, MAX_RULE_CLOSURE, MAX_RULE_NOTE_CHARS, MAX_RULE_TTL_SECONDS,
    MIN_RULE_TTL_SECONDS, UpdateRuleRequest,
};
use availsync_types::{
    DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS, PathPattern, ResourceKey,
    WorkingSetError, WorkingSetRequest, code_point, disallowed_character, is_valid_run_id,
    parse_working_set,
};

use std::borrow::Cow;

use super::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::queue::MAX_WAIT_SECONDS;
use super::rules::{RuleChange, RuleSettings};
use super::schedule::Window;
use super::working_sets::{RequestedSet, Want};
use availsync_types::{MAX_HOLD_TTL_SECONDS, MAX_WINDOW_MILLIS, MIN_HOLD_TTL_SECONDS, Timestamp};

/// Longest display name of a workspace or an agent, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest `purpose` of a run or hold, in characters.
pub const MAX_PURPOSE_CHARS: usize = 500;
/// Longest `summary` of a finished run, in characters.
pub const MAX_SUMMARY_CHARS: usize = 2000;
/// Longest email address, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// What kind of fault it is.
    pub kind: InvalidKind,
    /// The request field at fault.
    pub field: Cow<'static, str>,
    /// One human sentence.
    pub message: String,
}

/// Kinds of validation fault, each with its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// `invalid_request`
    Request,
    /// `invalid_resource`
    Resource,
    /// `invalid_window`
    Window,
    /// `invalid_working_set`
    WorkingSet,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        kind: InvalidKind::Request,
        field: field.into(),
        message: message.into(),
    }
}

/// What a start or a check asks of `resource`: the whole of it, or the
/// working set `requested` (only on a `repo:` resource), with `partial`.
pub fn want(
    resource: &ResourceKey,
    also: &[ResourceKey],
    requested: Option<WorkingSetRequest>,
    partial: Option<bool>,
) -> Result<Want, Invalid> {
    let Some(requested) = requested else {
        return Ok(Want::Whole);
    };
    if !also.is_empty() {
        return Err(working_set_error(
            "working_set".into(),
            "a working set goes with one repo: resource, not with resources",
        ));
    }
    if resource.resource_type() != "repo" {
        return Err(working_set_error(
            "working_set".into(),
            "a working set claims paths inside a repository: only a repo: resource can have one",
        ));
    }
    let paths = paths("working_set.paths", &requested.paths)?;
    Ok(Want::Paths(RequestedSet {
        paths,
        mode: requested.mode.unwrap_or_default(),
        partial: partial.unwrap_or(false),
    }))
}

/// Parses a list of working-set patterns named `field` (`working_set.paths`,
/// `add`, `remove`), naming the one at fault as `field[i]`.
pub fn paths(field: &'static str, raw: &[String]) -> Result<Vec<PathPattern>, Invalid> {
    parse_working_set(raw).map_err(|e| match e {
        WorkingSetError::Path { index, error } => {
            working_set_error(format!("{field}[{index}]").into(), format!("{error}"))
        }
        other => working_set_error(field.into(), other.to_string()),
    })
}

fn working_set_error(field: Cow<'static, str>, message: impl Into<String>) -> Invalid {
    Invalid {
        kind: InvalidKind::WorkingSet,
        field,
        message: message.into(),
    }
}

/// A rule's settings from a create request: `depends_on` valid and
/// distinct, `capacity`, `max_ttl_seconds` and `note` within their bounds.
pub fn rule_settings(request: &CreateRuleRequest) -> Result<RuleSettings, Invalid> {
    Ok(RuleSettings {
        depends_on: depends_on(request.depends_on.as_deref().unwrap_or_default())?,
        capacity: capacity(request.capacity.unwrap_or(1))?,
        mode: request.mode,
        max_ttl_seconds: request.max_ttl_seconds.map(rule_ttl).transpose()?,
        note: rule_note(request.note.clone())?,
    })
}

/// A rule change from a PATCH: the same bounds; naming `resource` is
/// refused (a rule's resource never changes).
pub fn rule_change(request: &UpdateRuleRequest) -> Result<RuleChange, Invalid> {
    if request.resource.is_some() {
        return Err(invalid(
            "resource",
            "a rule's resource never changes; delete the rule and create one for the other resource",
        ));
    }
    Ok(RuleChange {
        depends_on: request.depends_on.as_deref().map(depends_on).transpose()?,
        capacity: request.capacity.map(capacity).transpose()?,
        mode: request.mode,
        max_ttl_seconds: request
            .max_ttl_seconds
            .map(|t| t.map(rule_ttl).transpose())
            .transpose()?,
        note: request.note.clone().map(rule_note).transpose()?,
    })
}

fn depends_on(raw: &[String]) -> Result<Vec<ResourceKey>, Invalid> {
    let mut keys: Vec<ResourceKey> = Vec::with_capacity(raw.len());
    for (index, text) in raw.iter().enumerate() {
        let key = ResourceKey::parse(text).map_err(|e| Invalid {
            kind: InvalidKind::Resource,
            field: format!("depends_on[{index}]").into(),
            message: e.to_string(),
        })?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.len() >= MAX_RULE_CLOSURE {
        return Err(invalid(
            "depends_on",
            format!("a rule depends on fewer than {MAX_RULE_CLOSURE} resources"),
        ));
    }
    Ok(keys)
}

fn capacity(value: u32) -> Result<u32, Invalid> {
    if (1..=MAX_CAPACITY).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            "capacity",
            format!("capacity must be 1 to {MAX_CAPACITY}"),
        ))
    }
}

fn rule_ttl(value: u32) -> Result<u32, Invalid> {
    if (MIN_RULE_TTL_SECONDS..=MAX_RULE_TTL_SECONDS).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            "max_ttl_seconds",
            format!("max_ttl_seconds must be {MIN_RULE_TTL_SECONDS} to {MAX_RULE_TTL_SECONDS}"),
        ))
    }
}

fn rule_note(note: Option<String>) -> Result<Option<String>, Invalid> {
    match note {
        Some(text) if text.chars().count() > MAX_RULE_NOTE_CHARS => Err(invalid(
            "note",
            format!("note must be at most {MAX_RULE_NOTE_CHARS} characters"),
        )),
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// The resources a start or a check names: `resource`, or 2 to
/// [`availsync_types::MAX_REQUESTED_RESOURCES`] distinct `resources` (any
/// type, SPEC §3; the list's rule is [`availsync_types::parse_resource_set`],
/// which the SDK checks too); exactly one of the two. The first named first.
pub fn requested(
    resource: Option<&str>,
    resources: Option<&[String]>,
) -> Result<(ResourceKey, Vec<ResourceKey>), Invalid> {
    match (resource, resources) {
        (Some(one), None) => Ok((any_resource("resource", one)?, Vec::new())),
        (None, Some(list)) => {
            let mut keys = availsync_types::parse_resource_set(list).map_err(|e| Invalid {
                kind: match e {
                    availsync_types::ResourceSetError::Key { .. } => InvalidKind::Resource,
                    _ => InvalidKind::Request,
                },
                field: e.field().into(),
                message: e.to_string(),
            })?;
            let first = keys.remove(0);
            Ok((first, keys))
        }
        _ => Err(invalid(
            "resources",
            "give either resource (one) or resources (2 to 16), not both or neither",
        )),
    }
}

/// Any valid resource key.
pub fn any_resource(field: &'static str, raw: &str) -> Result<ResourceKey, Invalid> {
    ResourceKey::parse(raw).map_err(|e| Invalid {
        kind: InvalidKind::Resource,
        field: field.into(),
        message: e.to_string(),
    })
}

/// An optional resource filter: valid when given.
pub fn optional_resource(
    field: &'static str,
    raw: Option<&str>,
) -> Result<Option<ResourceKey>, Invalid> {
    raw.map(|r| any_resource(field, r)).transpose()
}

/// A lease length: 10-3600 seconds, default 300.
pub fn ttl_seconds(raw: Option<u32>) -> Result<u32, Invalid> {
    let ttl = raw.unwrap_or(DEFAULT_TTL_SECONDS);
    if (MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
        Ok(ttl)
    } else {
        Err(invalid(
            "ttl_seconds",
            format!(
                "ttl_seconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}, got {ttl}"
            ),
        ))
    }
}

/// How long a start may wait (SPEC §13): 0-60 seconds; `None` for 0
/// (answer at once, as v1 does).
pub fn wait_seconds(raw: Option<u32>) -> Result<Option<std::time::Duration>, Invalid> {
    match raw.unwrap_or(0) {
        0 => Ok(None),
        seconds if seconds <= MAX_WAIT_SECONDS => {
            Ok(Some(std::time::Duration::from_secs(u64::from(seconds))))
        }
        seconds => Err(invalid(
            "wait_seconds",
            format!("wait_seconds must be between 0 and {MAX_WAIT_SECONDS}, got {seconds}"),
        )),
    }
}

/// A client-chosen run id.
pub fn run_id(field: &'static str, raw: &str) -> Result<(), Invalid> {
    if is_valid_run_id(raw) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{field} must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'"),
        ))
    }
}

/// An RFC 3339 instant (any offset) in a window field.
pub fn instant(field: &'static str, raw: &str) -> Result<Timestamp, Invalid> {
    raw.parse().map_err(|_| Invalid {
        kind: InvalidKind::Window,
        field: field.into(),
        message: format!(
            "{field} must be an RFC 3339 time such as 2026-12-01T09:00:00Z, got '{raw}'"
        ),
    })
}

/// A window `[start, end)`: both parse, `end > start`, at most 31 days.
pub fn window(
    start_field: &'static str,
    start: &str,
    end_field: &'static str,
    end: &str,
) -> Result<Window, Invalid> {
    let window = Window {
        start: instant(start_field, start)?,
        end: instant(end_field, end)?,
    };
    if window.end <= window.start {
        return Err(Invalid {
            kind: InvalidKind::Window,
            field: end_field.into(),
            message: format!("{end_field} must be after {start_field}"),
        });
    }
    if window.end.unix_millis() - window.start.unix_millis() > MAX_WINDOW_MILLIS {
        return Err(Invalid {
            kind: InvalidKind::Window,
            field: end_field.into(),
            message: "a window may span at most 31 days".to_owned(),
        });
    }
    Ok(window)
}

/// A tentative hold's ttl: 10-86400 seconds.
pub fn hold_ttl(raw: Option<u32>) -> Result<Option<u32>, Invalid> {
    match raw {
        Some(ttl) if !(MIN_HOLD_TTL_SECONDS..=MAX_HOLD_TTL_SECONDS).contains(&ttl) => Err(invalid(
            "ttl_seconds",
            format!(
                "ttl_seconds of a hold must be between {MIN_HOLD_TTL_SECONDS} and {MAX_HOLD_TTL_SECONDS}, got {ttl}"
            ),
        )),
        other => Ok(other),
    }
}

/// Optional free text with a length bound; blank becomes `None`.
pub fn optional_text(
    field: &'static str,
    raw: Option<String>,
    max_chars: usize,
) -> Result<Option<String>, Invalid> {
    match raw {
        Some(text) if text.chars().count() > max_chars => Err(invalid(
            field,
            format!("{field} must be at most {max_chars} characters"),
        )),
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A display name: 1-100 characters, not blank, no control, invisible or
/// space-like characters but plain spaces.
pub fn name(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("{field} must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    // Spaces between words are fine; anything invisible or space-like
    // other than a plain space would let two names look the same.
    if let Some((c, kind)) = trimmed
        .chars()
        .filter(|&c| c != ' ')
        .find_map(|c| disallowed_character(c).map(|kind| (c, kind)))
    {
        return Err(invalid(
            field,
            format!(
                "{field} must not contain {} ({kind}); use visible characters and plain spaces",
                code_point(c)
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An email address; answers the lower-cased form used to compare emails.
pub fn email(raw: &str) -> Result<String, Invalid> {
    let bad = || invalid("email", "email must be an address such as ana@example.com");
    if raw.chars().count() > MAX_EMAIL_CHARS
        || raw
            .chars()
            .any(|c| c.is_whitespace() || disallowed_character(c).is_some())
    {
        return Err(bad());
    }
    let (local, domain) = raw.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
        return Err(bad());
    }
    Ok(normalise_email(raw))
}

/// The form in which emails are compared.
pub fn normalise_email(raw: &str) -> String {
    raw.to_lowercase()
}

/// A new password: 10-1024 characters.
pub fn new_password(raw: &str) -> Result<(), Invalid> {
    let chars = raw.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            format!("password must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            format!("password must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_bounds_are_inclusive_and_named() {
        assert_eq!(ttl_seconds(None), Ok(300));
        assert_eq!(ttl_seconds(Some(10)), Ok(10));
        assert_eq!(ttl_seconds(Some(3600)), Ok(3600));
        assert_eq!(ttl_seconds(Some(9)).unwrap_err().field, "ttl_seconds");
        assert!(ttl_seconds(Some(3601)).is_err());
    }

    #[test]
    fn a_start_names_one_resource_or_several_distinct_ones() {
        let (first, also) = requested(Some("pool:gpu"), None).unwrap();
        assert_eq!((first.as_str(), also.len()), ("pool:gpu", 0));
        let list = ["repo:A/B".to_owned(), "env:staging".to_owned()];
        let (first, also) = requested(None, Some(&list)).unwrap();
        assert_eq!(
            (first.as_str(), also[0].as_str()),
            ("repo:a/b", "env:staging")
        );
        for (resource, resources, field) in [
            (Some("repo:a/b"), Some(&list[..]), "resources"),
            (None, None, "resources"),
            (None, Some(&list[..1]), "resources"),
        ] {
            assert_eq!(requested(resource, resources).unwrap_err().field, field);
        }
        let twice = ["repo:a/b".to_owned(), "repo:A/B".to_owned()];
        assert_eq!(
            requested(None, Some(&twice)).unwrap_err().field,
            "resources"
        );
        let bad = ["repo:a/b".to_owned(), "nope".to_owned()];
        let err = requested(None, Some(&bad)).unwrap_err();
        assert_eq!(
            (err.kind, err.field.as_ref()),
            (InvalidKind::Resource, "resources[1]")
        );
    }

    #[test]
    fn windows_must_be_ordered_and_at_most_31_days() {
        assert!(
            window(
                "start",
                "2026-12-01T09:00:00Z",
                "end",
                "2026-12-01T10:00:00+01:00"
            )
            .is_err()
        );
        assert!(
            window(
                "start",
                "2026-12-01T09:00:00Z",
                "end",
                "2027-01-01T09:00:00Z"
            )
            .is_ok()
        );
        let long = window(
            "start",
            "2026-12-01T09:00:00Z",
            "end",
            "2027-01-01T09:00:00.001Z",
        );
        assert_eq!(long.unwrap_err().kind, InvalidKind::Window);
        assert_eq!(
            window("start", "tomorrow", "end", "x").unwrap_err().field,
            "start"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// `millis` written as RFC 3339 at a UTC offset of `offset_minutes`.
        fn written(millis: i64, offset_minutes: i64) -> String {
            if offset_minutes == 0 {
                return Timestamp::from_unix_millis(millis).to_string();
            }
            let local = Timestamp::from_unix_millis(millis + offset_minutes * 60_000).to_string();
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let abs = offset_minutes.abs();
            format!(
                "{}{sign}{:02}:{:02}",
                &local[..local.len() - 1],
                abs / 60,
                abs % 60
            )
        }

        fn offsets() -> impl Strategy<Value = i64> {
            prop_oneof![Just(0i64), -1439i64..=1439]
        }

        fn lengths() -> impl Strategy<Value = i64> {
            prop_oneof![
                -86_400_000i64..=86_400_000,
                Just(0),
                Just(1),
                Just(MAX_WINDOW_MILLIS),
                Just(MAX_WINDOW_MILLIS + 1),
                0..=MAX_WINDOW_MILLIS + 86_400_000,
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// The `time_window` fuzz target's property: a window is accepted
            /// exactly when `start < end` and it spans at most 31 days,
            /// whatever offsets its ends are written in; a refusal is
            /// `invalid_window` naming `end`.
            #[test]
            fn a_window_is_accepted_exactly_when_ordered_and_short(
                start in 1_700_000_000_000i64..1_900_000_000_000,
                length in lengths(),
                start_offset in offsets(),
                end_offset in offsets(),
            ) {
                let (start_s, end_s) = (written(start, start_offset), written(start + length, end_offset));
                prop_assert_eq!(instant("start", &start_s).unwrap().unix_millis(), start);
                match window("start", &start_s, "end", &end_s) {
                    Ok(w) => {
                        prop_assert!((1..=MAX_WINDOW_MILLIS).contains(&length), "{} {}", start_s, end_s);
                        prop_assert_eq!((w.start.unix_millis(), w.end.unix_millis()), (start, start + length));
                    }
                    Err(e) => {
                        prop_assert!(!(1..=MAX_WINDOW_MILLIS).contains(&length), "{} {}: {}", start_s, end_s, e);
                        prop_assert_eq!(e.kind, InvalidKind::Window);
                        prop_assert_eq!(e.field, "end");
                    }
                }
            }

            /// An end that does not parse is named, never taken for a time.
            #[test]
            fn an_unparseable_end_is_named(junk in ".{0,30}") {
                if junk.parse::<Timestamp>().is_err() {
                    let e = window("start", "2026-12-01T09:00:00Z", "end", &junk).unwrap_err();
                    prop_assert_eq!((e.kind, e.field.as_ref()), (InvalidKind::Window, "end"));
                }
            }
        }
    }

    #[test]
    fn emails_compare_case_insensitively() {
        assert_eq!(email("Ana@Example.COM").unwrap(), "ana@example.com");
        assert!(email("no-at-sign").is_err());
        assert!(email("a b@example.com").is_err());
        assert!(email("@example.com").is_err());
        assert!(email("ana\u{200B}@example.com").is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  ci bot ").unwrap(), "ci bot");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
    }

    #[test]
    fn names_refuse_invisible_and_space_like_characters_by_code_point() {
        for c in ['\u{200B}', '\u{202E}', '\u{00A0}', '\u{7}'] {
            let err = name("name", &format!("ci{c}bot")).unwrap_err();
            assert!(err.message.contains(&code_point(c)), "{}", err.message);
        }
        assert_eq!(name("name", "caf\u{E9} bot").unwrap(), "caf\u{E9} bot");
    }
}
