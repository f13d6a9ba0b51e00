//! What a `start_run` line says about a wait (SPEC §13): how long the
//! server waited for the resource, that the holder still holds it when the
//! wait ran out, and that a wait was shortened to fit this server's call
//! deadline.

use crate::tools::shapes::{Action, StartRunOutput};

/// Waits shorter than this are not worth a word: the resource was free, or
/// freed as the request arrived.
const NOTICEABLE_MS: u64 = 100;

/// `3.2 s`, `5 s`, `0.4 s`: a wait as a model reads it (tenths of a
/// second, a trailing `.0` dropped).
pub fn seconds(ms: u64) -> String {
    let tenths = (ms + 50) / 100;
    match tenths % 10 {
        0 => format!("{} s", tenths / 10),
        tenth => format!("{}.{tenth} s", tenths / 10),
    }
}

/// How long the server waited, when it waited long enough to say.
pub fn waited(out: &StartRunOutput) -> Option<u64> {
    out.waited_ms.filter(|ms| *ms >= NOTICEABLE_MS)
}

/// `waited 3.2 s for repo:acme/web; ` before a grant's facts, `waited 5 s;
/// ` before a skip's; nothing when the server did not wait.
pub fn prefix(out: &StartRunOutput) -> String {
    match (waited(out), out.action) {
        (Some(ms), Action::Proceed | Action::Partial) => {
            format!("waited {} for {}; ", seconds(ms), out.resource)
        }
        (Some(ms), Action::Skip) => format!("waited {}; ", seconds(ms)),
        _ => String::new(),
    }
}

/// ` The wait was shortened from 30 s to 8 s …` when this server's call
/// deadline cut the wait asked for.
pub fn shortened(out: &StartRunOutput) -> String {
    let Some(asked) = out.wait_shortened_from else {
        return String::new();
    };
    match out.wait_seconds.unwrap_or(0) {
        0 => format!(
            " There was no time to wait (you asked for {asked} s): this server must answer each tool call sooner."
        ),
        sent => format!(
            " The wait was shortened from {asked} s to {sent} s: this server must answer each tool call within a few seconds more than that."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::start_run;
    use crate::text::tests::{ci_bot, lease, start};
    use crate::tools::work::wait_to_send;
    use std::time::Duration;

    #[test]
    fn waits_read_in_tenths_of_a_second() {
        assert_eq!(seconds(3_240), "3.2 s");
        assert_eq!(seconds(5_000), "5 s");
        assert_eq!(seconds(4_960), "5 s");
        assert_eq!(seconds(420), "0.4 s");
        assert_eq!(seconds(0), "0 s");
    }

    #[test]
    fn a_grant_after_a_wait_says_how_long_it_waited() {
        let mut granted = start(Action::Proceed);
        granted.lease = Some(lease(None, &[("repo:acme/web", 17)]));
        granted.wait_seconds = Some(8);
        granted.waited_ms = Some(3_240);
        assert_eq!(
            start_run(&granted),
            "PROCEED: waited 3.2 s for repo:acme/web; you hold repo:acme/web until 12:30:05Z (run run-1, fencing token 17), kept alive while you work until at most 14:28:05Z. Call finish_run when done."
        );
        // Free at once: nothing to say.
        granted.waited_ms = Some(3);
        assert!(start_run(&granted).starts_with("PROCEED: you hold"));
    }

    #[test]
    fn a_wait_that_ran_out_says_the_holder_still_holds_it() {
        let mut skipped = start(Action::Skip);
        skipped.holder = Some(ci_bot());
        skipped.wait_seconds = Some(5);
        skipped.waited_ms = Some(5_012);
        assert_eq!(
            start_run(&skipped),
            "SKIP: waited 5 s; repo:acme/web is still being worked on by agent 'ci-bot' (run run_9) until 12:30:00Z. Do not edit it now; tell the user."
        );
        skipped.wait_shortened_from = Some(30);
        assert!(
            start_run(&skipped).ends_with(
                "tell the user. The wait was shortened from 30 s to 5 s: this server must answer each tool call within a few seconds more than that."
            ),
            "{}",
            start_run(&skipped)
        );
        skipped.wait_seconds = Some(0);
        skipped.waited_ms = None;
        let line = start_run(&skipped);
        assert!(
            line.starts_with("SKIP: repo:acme/web is being worked on")
                && line.contains("There was no time to wait (you asked for 30 s)"),
            "{line}"
        );
    }

    #[test]
    fn the_wait_sent_leaves_a_margin_before_the_call_deadline() {
        assert_eq!(wait_to_send(30, Duration::from_secs(10)), 8);
        assert_eq!(wait_to_send(5, Duration::from_secs(10)), 5);
        assert_eq!(wait_to_send(30, Duration::from_millis(9_990)), 8);
        assert_eq!(wait_to_send(30, Duration::from_millis(9_400)), 7);
        assert_eq!(wait_to_send(30, Duration::from_secs(2)), 0);
        assert_eq!(wait_to_send(30, Duration::from_millis(2_400)), 0);
        assert_eq!(wait_to_send(60, Duration::from_secs(600)), 60);
    }
}
