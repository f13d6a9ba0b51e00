//! A lease length, and the one place a length becomes a deadline.

use availsync_types::Timestamp;

/// A time-to-live in whole seconds (a claim's, an observe run's, a
/// tentative hold's), validated where it came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(u32);

impl Ttl {
    /// `seconds` long.
    pub const fn from_seconds(seconds: u32) -> Self {
        Self(seconds)
    }

    /// When something given this ttl at `now` lapses.
    pub const fn expiry_from(self, now: Timestamp) -> Timestamp {
        now.add_millis(self.0 as i64 * 1000)
    }
}

impl From<u32> for Ttl {
    fn from(seconds: u32) -> Self {
        Self(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ttl_counts_from_now_in_whole_seconds() {
        let now = Timestamp::from_unix_millis(1_000);
        assert_eq!(
            Ttl::from_seconds(30).expiry_from(now),
            Timestamp::from_unix_millis(31_000)
        );
        assert_eq!(Ttl::from(3600).expiry_from(now).unix_millis(), 3_601_000);
    }
}
