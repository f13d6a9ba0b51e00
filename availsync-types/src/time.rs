//! Timestamps on the wire: RFC 3339, UTC, `Z`, millisecond precision.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant with millisecond precision, written as RFC 3339 UTC with `Z`
/// (`2026-11-29T06:31:55.123Z`). Parsing accepts any UTC offset, and
/// refuses instants outside the years 0000-9999 (UTC), which RFC 3339
/// cannot write.
///
/// ```
/// use availsync_types::Timestamp;
///
/// let t: Timestamp = "2026-11-29T08:31:55.123456+02:00".parse()?;
/// assert_eq!(t.to_string(), "2026-11-29T06:31:55.123Z");
/// assert_eq!(Timestamp::from_unix_millis(t.unix_millis()), t);
/// # Ok::<(), availsync_types::TimestampError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A string that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an RFC 3339 timestamp such as 2026-11-29T06:31:55Z")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// The current system time, truncated to milliseconds.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// This instant moved by `millis` milliseconds (negative moves back).
    pub const fn add_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// As a chrono `DateTime<Utc>`.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whole seconds from `self` until `later`, rounded up, never negative.
    ///
    /// ```
    /// use availsync_types::Timestamp;
    /// let now = Timestamp::from_unix_millis(1_000);
    /// assert_eq!(now.seconds_until(Timestamp::from_unix_millis(2_001)), 2);
    /// assert_eq!(now.seconds_until(Timestamp::from_unix_millis(0)), 0);
    /// ```
    pub fn seconds_until(self, later: Timestamp) -> u64 {
        let millis = later.0.saturating_sub(self.0).max(0) as u64;
        millis.div_ceil(1000)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Self(value.timestamp_millis())
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            // An offset can carry 0000-01-01 or 9999-12-31 into a year that
            // RFC 3339 cannot write (`-0001-…`, `+10000-…`), so the answer
            // would not parse back; such instants are refused here.
            .filter(|t| (0..=9999).contains(&t.year()))
            .map(|t| Self(t.timestamp_millis()))
            .ok_or_else(|| TimestampError(s.to_owned()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

    impl utoipa::PartialSchema for super::Timestamp {
        fn schema() -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .description(Some("RFC 3339 UTC timestamp with millisecond precision"))
                .into()
        }
    }

    impl utoipa::ToSchema for super::Timestamp {}
}
