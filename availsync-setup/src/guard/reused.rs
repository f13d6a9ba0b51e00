//! A run id that names a run which has already ended.
//!
//! The server answers a start with a run id it has seen by replaying that
//! run — never with a second claim. When that run has finished (or its
//! lease lapsed, or its claim was released), the replay carries a lease
//! that is already gone: the command must not start, and the user needs
//! to hear that the id is spent, not that they should retry.

use availsync_sdk::types::RunStatus;
use availsync_sdk::{Client, StartRun};

use super::say;
use crate::exit;

/// What to do about a run id that is not unique.
pub const UNIQUE_HINT: &str = "Run ids must be unique per run: include something that changes with every run, such as $GITHUB_RUN_ID and $GITHUB_RUN_ATTEMPT (or leave --run-id out and the guard derives one from the CI job)";

/// Says why the command does not run under a run id whose run has ended,
/// and answers the exit code: 64 for a `--run-id` that was given (it is
/// spent: no retry can use it), and, for an id derived from the CI job,
/// 64 when that run finished (this job already guarded the resource once)
/// or 75 when its lease lapsed or was released (a re-run of the job gets a
/// new id).
pub async fn report(client: &Client, start: &StartRun, run_id: &str, given: bool) -> u8 {
    // The start is idempotent: asking again replays the same run, and
    // says where it stands.
    let status = client
        .start_run(start)
        .await
        .ok()
        .map(|answer| answer.status);
    let ended = match status {
        Some(RunStatus::Finished) => "has already finished",
        Some(RunStatus::Expired) => "has already ended: its lease lapsed",
        Some(RunStatus::Released) => "has already ended: its claim was released",
        _ => "has already ended",
    };
    let resource = start.resource();
    if given {
        say(format!(
            "not running the command: run {run_id} {ended}, and a run id names one run, so it cannot claim {resource} again. {UNIQUE_HINT}."
        ));
        return exit::USAGE;
    }
    if status == Some(RunStatus::Finished) {
        say(format!(
            "not running the command: this CI job already guarded {resource} as run {run_id}, which {}. To guard the same resource twice in one job, give each step its own --run-id. {UNIQUE_HINT}.",
            ended.trim_start_matches("has ")
        ));
        return exit::USAGE;
    }
    say(format!(
        "not running the command: this CI job's run {run_id} on {resource} {ended}; exiting 75. Re-running the job gives it a new run id."
    ));
    exit::LEASE_LOST
}
