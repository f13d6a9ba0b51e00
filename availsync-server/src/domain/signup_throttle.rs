//! How many sign-ups one client address may make: each creates a workspace
//! and hashes a password, and a new email every time is never caught by the
//! per-email login rules. Counted in memory, per server process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window sign-ups are counted over.
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Default sign-ups per client address within ten minutes.
pub const DEFAULT_MAX_SIGNUPS: u32 = 20;
/// Clients tracked before the expired ones are swept out of the map.
const SWEEP_ABOVE: usize = 10_000;

/// Sign-ups per client address within a sliding window.
#[derive(Debug)]
pub struct SignupThrottle {
    max: u32,
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SignupThrottle {
    /// At most `max` sign-ups per client within [`WINDOW`].
    pub fn new(max: u32) -> Self {
        Self {
            max,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a sign-up by `client` at `now`, or answers how many whole
    /// seconds until it may sign up again.
    pub fn admit(&self, client: &str, now: Instant) -> Result<(), u64> {
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() > SWEEP_ABOVE {
            recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.saturating_duration_since(*last) < WINDOW)
            });
        }
        let times = recent.entry(client.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|first| now.saturating_duration_since(*first) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() >= usize::try_from(self.max).unwrap_or(usize::MAX) {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = WINDOW.saturating_sub(now.saturating_duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_is_counted_on_its_own() {
        let throttle = SignupThrottle::new(2);
        let now = Instant::now();
        assert!(throttle.admit("198.51.100.7", now).is_ok());
        assert!(throttle.admit("198.51.100.7", now).is_ok());
        assert!(throttle.admit("198.51.100.7", now).is_err());
        assert!(throttle.admit("198.51.100.8", now).is_ok());
    }

    #[test]
    fn a_client_may_sign_up_again_once_its_oldest_sign_up_leaves_the_window() {
        let throttle = SignupThrottle::new(1);
        let start = Instant::now();
        throttle.admit("a", start).unwrap();
        let wait = throttle
            .admit("a", start + Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(wait, WINDOW.as_secs() - 60);
        throttle.admit("a", start + WINDOW).unwrap();
    }
}
