//! `guard --wait`: wait for a busy resource instead of skipping at once,
//! up to a deadline of the user's (SPEC §13).
//!
//! The server waits at most 60 s per `run/start`, so a longer wait is a
//! chain of starts, each one waiting server-side until it is granted or
//! its own wait runs out. Each start of the chain is a new run with its
//! own run id (`<id>.w2`, `<id>.w3`, …): a run id that was skipped
//! replays its skip, so reusing it would never be granted. The ids are
//! derived from the first, so a guard restarted by its CI step walks the
//! same chain: the skips replay at once and a grant it never read is
//! found again. A start that failed in transport is sent again with its
//! own id after a backoff (its grant, if the server made one, replays).
//!
//! The chain never spins: each start waits on the server; one that came
//! back sooner than its wait without a grant is followed by a pause for
//! the rest of that wait; and a server that does not wait at all (no
//! `waited_ms`: older than SPEC §13) ends the wait at once with a skip.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use availsync_sdk::{
    Client, Outcome, RetryPolicy, RunStart, Skipped, StartRun, types::is_valid_run_id,
};
use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::say;
use super::signals::Signals;
use crate::describe;

/// The longest `--wait`: a day. Longer belongs in a scheduler.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// How often a log (not a terminal) hears that the guard still waits.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// How often the terminal's status line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// Parses `--wait`: a duration as `--grace` takes them (`90s`, `5m`,
/// `1h 30m`, a bare number of seconds), at most [`MAX_WAIT`]; `0` waits
/// not at all.
pub fn parse(raw: &str) -> Result<Duration, String> {
    let wait = super::duration::parse(raw.trim())?;
    if wait > MAX_WAIT {
        return Err(format!(
            "'{raw}' is longer than a day; a job that may wait that long belongs in a scheduler"
        ));
    }
    Ok(wait)
}

/// The run id of start number `attempt` (from 1) of a chain: the first
/// keeps `base`; later ones add `.w<attempt>`, cutting `base` to keep the
/// id within 128 characters.
pub fn attempt_run_id(base: &str, attempt: u32) -> String {
    if attempt <= 1 {
        return base.to_owned();
    }
    let suffix = format!(".w{attempt}");
    let keep = 128 - suffix.len();
    let cut = base
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|end| *end <= keep)
        .last()
        .unwrap_or(0);
    let id = format!("{}{suffix}", &base[..cut]);
    debug_assert!(is_valid_run_id(&id), "{id}");
    id
}

/// The wait to ask of the server when `left` remains: to the nearest
/// whole second (so a chain ends within half a second of the deadline,
/// rather than up to a second short of it: the first start's few
/// milliseconds would otherwise cost a whole second), at most the server's
/// 60 s. Zero: no time is left.
pub fn server_wait(left: Duration) -> Duration {
    let nearest = left.saturating_add(Duration::from_millis(500)).as_secs();
    Duration::from_secs(nearest).min(availsync_sdk::MAX_WAIT)
}

/// `45s`, `1m12s`, `2h5m`: how long the guard has waited.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// Who holds what the guard waits for: `ci-bot (run r1)`, or the skip's
/// reason when no single holder is named.
pub fn blocker(skip: &Skipped) -> String {
    match skip.holder() {
        Some(holder) => format!("{} (run {})", holder.agent_name, holder.run_id),
        None => skip.reason.message.clone(),
    }
}

/// How a wait ended.
#[allow(
    clippy::large_enum_variant,
    reason = "made once per guard run and matched at once"
)]
pub enum Waited {
    /// The last start's answer (a grant, a skip at the deadline, an error)
    /// and that start, whose run id is the one the answer is about.
    Answer(availsync_sdk::Result<RunStart>, StartRun),
    /// SIGINT or SIGTERM arrived first: the wait was given up, and the
    /// start in flight finished as cancelled in case it had been granted.
    Signalled(Signal),
}

/// Claims `start`, waiting up to `wait` when it is busy; `signals` (SIGINT,
/// SIGTERM) end the wait.
pub async fn claim(
    client: &Client,
    start: &StartRun,
    wait: Duration,
    what: &str,
    signals: &mut Signals,
) -> Waited {
    let began = Instant::now();
    let deadline = began + wait;
    let base = start.run_id_value().to_owned();
    let mut progress = Progress::new(what, wait, began);
    let backoff = RetryPolicy {
        max_attempts: u32::MAX,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(15),
    };
    // The first start asks for no wait: a free resource is granted at once
    // as without --wait, and a busy one names its holder for the status.
    let mut attempt = 1;
    let mut current = start.clone();
    let mut failures = 0;
    loop {
        let sent_at = Instant::now();
        let answer = match progress
            .during(signals, client.claim(current.clone()))
            .await
        {
            Ok(answer) => answer,
            Err(signal) => return given_up(client, &current, what, signal, &mut progress).await,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let more = !server_wait(left).is_zero();
        match &answer {
            Ok(RunStart::Skipped(skip)) if more => {
                failures = 0;
                if attempt > 1 && skip.waited.is_none() && !skip.replayed {
                    progress.clear();
                    say(format!(
                        "the server at {} does not wait for busy resources (it is older than this guard), so --wait cannot work with it",
                        client.base_url()
                    ));
                    progress.end(&answer);
                    return Waited::Answer(answer, current);
                }
                progress.blocked_by(skip);
                // A start the server answered before its wait ran out,
                // without a grant: pause for the rest of that wait rather
                // than ask again at once. A replayed skip is an earlier
                // run's, answered at once: the chain moves on.
                if !skip.replayed {
                    let until = (sent_at + current.wait_time()).min(deadline);
                    let pause = tokio::time::sleep_until(until);
                    if let Err(signal) = progress.during(signals, pause).await {
                        return given_up(client, &current, what, signal, &mut progress).await;
                    }
                }
                attempt += 1;
            }
            Err(e) if e.is_retryable() && more => {
                let pause = backoff.backoff(failures).max(Duration::from_millis(500));
                failures += 1;
                progress.clear();
                say(format!(
                    "{}; trying again in {} (--wait {}, {} left)",
                    describe::sdk_error(e),
                    super::duration::show(Duration::from_millis(
                        u64::try_from(pause.as_millis()).unwrap_or(u64::MAX)
                    )),
                    elapsed(wait),
                    elapsed(left)
                ));
                let pause = tokio::time::sleep(pause.min(left));
                if let Err(signal) = progress.during(signals, pause).await {
                    return given_up(client, &current, what, signal, &mut progress).await;
                }
                // The same run id again: a grant the failed call never
                // read replays.
            }
            _ => {
                progress.end(&answer);
                return Waited::Answer(answer, current);
            }
        }
        // When a pause ate the last of the wait, the next start asks for
        // none: its answer is the one to end on.
        let left = deadline.saturating_duration_since(Instant::now());
        current = start
            .clone()
            .run_id(attempt_run_id(&base, attempt))
            .wait(server_wait(left));
    }
}

/// A signal ended the wait. The start in flight was dropped, so the server
/// gives up its place; a grant made just before is an ordinary claim,
/// which is finished here as cancelled rather than left to lapse (finishing
/// a run that was skipped, or that the server never saw, changes nothing
/// that matters).
async fn given_up(
    client: &Client,
    current: &StartRun,
    what: &str,
    signal: Signal,
    progress: &mut Progress,
) -> Waited {
    progress.clear();
    say(format!(
        "received {signal} while waiting for {what}; not running the command"
    ));
    let finish = client.finish_run(
        current.run_id_value(),
        Outcome::Cancelled,
        Some("the guard was stopped while it waited"),
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), finish).await;
    Waited::Signalled(signal)
}

/// What the user sees while the guard waits: on a terminal (stderr), one
/// status line redrawn in place; in a log, a line when the wait begins,
/// one every [`LOG_EVERY`], and one when it ends.
struct Progress {
    what: String,
    wait: Duration,
    began: Instant,
    terminal: bool,
    /// Who holds it, once a skip said so: the wait has begun.
    holder: Option<String>,
    last_logged: Instant,
    drawn: bool,
}

impl Progress {
    fn new(what: &str, wait: Duration, began: Instant) -> Self {
        Self {
            what: what.to_owned(),
            wait,
            began,
            terminal: std::io::stderr().is_terminal(),
            holder: None,
            last_logged: began,
            drawn: false,
        }
    }

    /// `future`, with the status kept up to date while it runs, unless a
    /// signal comes first.
    async fn during<T>(
        &mut self,
        signals: &mut Signals,
        future: impl Future<Output = T>,
    ) -> Result<T, Signal> {
        tokio::pin!(future);
        let mut redraw = tokio::time::interval(REDRAW_EVERY);
        loop {
            tokio::select! {
                out = &mut future => return Ok(out),
                signal = signals.recv() => return Err(signal),
                _ = redraw.tick() => self.show(),
            }
        }
    }

    /// A skip named who holds the resource: the first one begins the wait.
    fn blocked_by(&mut self, skip: &Skipped) {
        let holder = blocker(skip);
        if self.holder.is_none() && !self.terminal {
            say(format!(
                "{} is held by {holder}; waiting up to {} for it (--wait)",
                self.what,
                elapsed(self.wait)
            ));
            self.last_logged = Instant::now();
        }
        self.holder = Some(holder);
        self.show();
    }

    fn show(&mut self) {
        let Some(holder) = &self.holder else { return };
        let so_far = elapsed(self.began.elapsed());
        let line = format!("waiting for {} — held by {holder} for {so_far}", self.what);
        if self.terminal {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2Kavailsync guard: {line}");
            let _ = stderr.flush();
            self.drawn = true;
        } else if self.last_logged.elapsed() >= LOG_EVERY {
            say(format!("still {line}"));
            self.last_logged = Instant::now();
        }
    }

    /// Takes the status line off the terminal, before a line of its own.
    fn clear(&mut self) {
        if self.drawn {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
            self.drawn = false;
        }
    }

    /// The wait is over: say how it ended, if it began.
    fn end(&mut self, answer: &availsync_sdk::Result<RunStart>) {
        self.clear();
        if self.holder.is_none() {
            return;
        }
        let waited = elapsed(self.began.elapsed());
        let how = match answer {
            Ok(RunStart::Skipped(skip)) => format!("still held by {}", blocker(skip)),
            Ok(RunStart::Claimed(_) | RunStart::Partial(..) | RunStart::Observed(_)) => {
                "it is free".to_owned()
            }
            Err(_) => "the server could not be reached".to_owned(),
        };
        say(format!("waited {waited} for {}; {how}", self.what));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_takes_durations_up_to_a_day() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("24h"), Ok(MAX_WAIT));
        assert!(parse("25h").unwrap_err().contains("longer than a day"));
        assert!(parse("soon").is_err());
        assert!(parse("-5m").is_err());
    }

    #[test]
    fn each_start_of_a_chain_is_a_new_run_id_derived_from_the_first() {
        assert_eq!(attempt_run_id("deploy-42", 1), "deploy-42");
        assert_eq!(attempt_run_id("deploy-42", 2), "deploy-42.w2");
        assert_eq!(attempt_run_id("deploy-42", 17), "deploy-42.w17");
        let long = "x".repeat(128);
        let id = attempt_run_id(&long, 1234);
        assert_eq!(id.len(), 128);
        assert!(id.ends_with(".w1234") && is_valid_run_id(&id), "{id}");
        assert_ne!(attempt_run_id(&long, 2), attempt_run_id(&long, 3));
    }

    #[test]
    fn the_server_is_asked_for_the_nearest_whole_seconds_up_to_60() {
        let secs = |ms| server_wait(Duration::from_millis(ms)).as_secs();
        assert_eq!(secs(300_000), 60);
        assert_eq!(secs(2_990), 3);
        assert_eq!(secs(42_400), 42);
        assert_eq!(secs(600), 1);
        assert_eq!(secs(499), 0);
    }

    #[test]
    fn waits_read_as_the_status_line_writes_them() {
        assert_eq!(elapsed(Duration::from_secs(45)), "45s");
        assert_eq!(elapsed(Duration::from_secs(72)), "1m12s");
        assert_eq!(elapsed(Duration::from_secs(300)), "5m");
        assert_eq!(elapsed(Duration::from_secs(3600)), "1h");
        assert_eq!(elapsed(Duration::from_secs(7500)), "2h5m");
        assert_eq!(elapsed(Duration::from_millis(400)), "0s");
    }
}
