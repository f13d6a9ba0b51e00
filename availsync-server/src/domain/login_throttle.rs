//! How failed logins slow down and stop further attempts (SPEC §5, v1.1).
//!
//! A hard stop keyed on the email alone would let anyone lock a person out
//! by failing on their email five times every 15 minutes. So the hard stop
//! is per (email, client): the client that keeps failing is stopped, and
//! the same person logging in from their own machine is not. Per email
//! alone, failures only slow every answer down a little, which costs a
//! spread-out guesser time without locking anyone out. A client that fails
//! on many emails (credential stuffing) is stopped on its own count.

use std::time::Duration;

use availsync_types::Timestamp;

/// How far back failures count, in milliseconds: 15 minutes.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failures for one email from one client before that client is stopped
/// (for that email) until the oldest of them leaves the window.
pub const MAX_FAILURES_PER_EMAIL_AND_CLIENT: u32 = 5;
/// Failures from one client, any emails, before it is stopped.
pub const MAX_FAILURES_PER_CLIENT: u32 = 30;
/// Failures for one email, any clients, before answers about it slow down.
pub const SLOW_AFTER_FAILURES_PER_EMAIL: u32 = 5;
/// Extra wait per failure past [`SLOW_AFTER_FAILURES_PER_EMAIL`].
const SLOWDOWN_STEP: Duration = Duration::from_millis(250);
/// Longest extra wait.
const MAX_SLOWDOWN: Duration = Duration::from_secs(2);

/// Failures within the window, and the oldest of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub count: u32,
    /// When the oldest happened.
    pub oldest: Option<Timestamp>,
}

/// The failures a login attempt is judged by, as the store read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// For this email, from any client.
    pub email: Tally,
    /// For this email, from this client.
    pub email_and_client: Tally,
    /// From this client, for any email.
    pub client: Tally,
    /// The store's clock.
    pub now: Timestamp,
}

/// What to do with a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Check the password, after waiting this long (zero: at once).
    Check {
        /// The slowdown for an email that others keep failing on.
        delay: Duration,
    },
    /// Refuse with `429`; the client may try again after this many seconds.
    Refuse {
        /// Whole seconds until the oldest counted failure leaves the window.
        retry_after: u64,
    },
}

impl LoginFailures {
    /// Judges an attempt.
    pub fn verdict(&self) -> Verdict {
        let stopped = [
            (self.email_and_client, MAX_FAILURES_PER_EMAIL_AND_CLIENT),
            (self.client, MAX_FAILURES_PER_CLIENT),
        ]
        .into_iter()
        .filter(|(tally, max)| tally.count >= *max)
        .map(|(tally, _)| self.seconds_until_it_clears(tally))
        .max();
        if let Some(retry_after) = stopped {
            return Verdict::Refuse { retry_after };
        }
        let past = self
            .email
            .count
            .saturating_sub(SLOW_AFTER_FAILURES_PER_EMAIL - 1);
        Verdict::Check {
            delay: SLOWDOWN_STEP.saturating_mul(past).min(MAX_SLOWDOWN),
        }
    }

    fn seconds_until_it_clears(&self, tally: Tally) -> u64 {
        let clears_at = tally.oldest.unwrap_or(self.now).add_millis(WINDOW_MS);
        self.now.seconds_until(clears_at).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(count: u32, age_ms: i64, now: Timestamp) -> Tally {
        Tally {
            count,
            oldest: Some(now.add_millis(-age_ms)),
        }
    }

    fn failures(email: u32, email_and_client: u32, client: u32) -> LoginFailures {
        let now = Timestamp::from_unix_millis(10_000_000_000);
        LoginFailures {
            email: tally(email, 60_000, now),
            email_and_client: tally(email_and_client, 60_000, now),
            client: tally(client, 120_000, now),
            now,
        }
    }

    #[test]
    fn a_client_failing_on_one_email_is_stopped_until_its_oldest_failure_leaves_the_window() {
        assert_eq!(
            failures(4, 4, 4).verdict(),
            Verdict::Check {
                delay: Duration::ZERO
            }
        );
        assert_eq!(
            failures(5, 5, 5).verdict(),
            Verdict::Refuse {
                retry_after: 14 * 60
            }
        );
    }

    #[test]
    fn failures_by_others_on_an_email_slow_its_answers_but_never_stop_them() {
        for email in [5, 6, 20, 10_000] {
            let Verdict::Check { delay } = failures(email, 0, 0).verdict() else {
                panic!("a client that has not failed is never refused");
            };
            assert!(!delay.is_zero() && delay <= MAX_SLOWDOWN, "{delay:?}");
        }
    }

    #[test]
    fn a_client_failing_on_many_emails_is_stopped() {
        assert!(matches!(
            failures(1, 1, MAX_FAILURES_PER_CLIENT).verdict(),
            Verdict::Refuse { retry_after: 780 }
        ));
    }
}
