//! A scheduling agent books a meeting without double-booking: it finds a
//! free window, holds it tentatively while it books the downstream calendar,
//! then confirms with a permanent hold that a retry cannot duplicate.
//!
//! ```text
//! cargo run -p availsync-examples --example schedule_hold
//! ```
//!
//! Uses the embedded server (or the one at `AVAILSYNC_URL`), signs up a new
//! workspace and creates two agents: `calendar-sync`, which mirrors meetings
//! already in the team's calendar into holds, and `scheduler`, which books
//! a 90-minute release retro on `calendar:team-eng` tomorrow (UTC):
//!
//! 1. availability: busy and free windows of the working day;
//! 2. a conflicts check of the chosen window (a preview; nothing is held);
//! 3. a tentative hold, which lapses by itself if the scheduler dies; while
//!    it stands, another agent's overlapping hold is refused;
//! 4. the downstream booking (simulated), then the confirmation: release the
//!    tentative hold and create a permanent one whose idempotency key is the
//!    booking's id, so that a retried create replays (`replayed: true`)
//!    instead of holding the window twice.
//!
//! Takes well under a second.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use availsync_examples::{Sandbox, Target, clock_time, say, short_id, span, tomorrow_at};
use availsync_sdk::types::{AvailabilityResponse, Hold};
use availsync_sdk::{NewHold, Timestamp};

/// The calendar being booked.
const CALENDAR: &str = "calendar:team-eng";
/// How long the meeting lasts.
const MEETING_MINUTES: i64 = 90;
/// How long the tentative hold waits for the confirmation.
const TENTATIVE: Duration = Duration::from_secs(5 * 60);

#[tokio::main]
async fn main() -> ExitCode {
    match schedule().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn schedule() -> anyhow::Result<()> {
    let target = Target::from_env().await?;
    say!(
        "Scheduling agent: a {MEETING_MINUTES}-minute release retro on {CALENDAR}, tomorrow (UTC)"
    );
    say!("  server  {}", target.describe());
    let result = run(&target).await;
    target.shutdown().await;
    result
}

async fn run(target: &Target) -> anyhow::Result<()> {
    let sandbox = Sandbox::sign_up(target, "schedule-hold").await?;
    let (_, sync) = sandbox.agent("calendar-sync", None).await?;
    let (_, scheduler) = sandbox.agent("scheduler", None).await?;
    let (day_start, day_end) = (tomorrow_at(9, 0), tomorrow_at(17, 0));

    // Meetings already in the calendar, mirrored into holds by another agent.
    say!("\ncalendar-sync mirrors tomorrow's meetings into holds");
    for (start, end, what) in [
        ((9, 0), (9, 30), "standup"),
        ((10, 0), (11, 30), "design review"),
        ((13, 0), (14, 0), "lunch & learn"),
    ] {
        let hold = NewHold::new(
            CALENDAR,
            tomorrow_at(start.0, start.1),
            tomorrow_at(end.0, end.1),
        )?
        .purpose(what);
        let hold = sync.create_hold(&hold).await?.hold;
        say!("  ✓ {}  {what}", span(hold.start, hold.end));
    }

    // 1. What is free?
    say!(
        "\n1. scheduler asks for availability, {}",
        span(day_start, day_end)
    );
    let day = scheduler.availability(CALENDAR, day_start, day_end).await?;
    show_day(&day);
    let (start, end) = first_fit(&day, MEETING_MINUTES)
        .with_context(|| format!("no free {MEETING_MINUTES}-minute window tomorrow"))?;
    say!(
        "  → the first {MEETING_MINUTES} free minutes: {}",
        span(start, end)
    );

    // 2. A preview right before holding: someone may have taken it since.
    let check = scheduler.check_conflicts(CALENDAR, start, end).await?;
    say!(
        "\n2. conflicts check {}: {}",
        span(start, end),
        if check.conflict { "taken" } else { "none" }
    );
    if check.conflict {
        bail!("the window was taken between availability and the check; start over");
    }

    // 3. Hold the window tentatively while booking downstream: if the
    //    scheduler crashes now, the hold lapses by itself.
    let tentative = scheduler
        .create_hold(
            &NewHold::new(CALENDAR, start, end)?
                .purpose("release retro (tentative)")
                .tentative(TENTATIVE),
        )
        .await?
        .hold;
    say!(
        "\n3. tentative hold {}  {}, lapses at {} unless released",
        span(tentative.start, tentative.end),
        short_id(&tentative.hold_id),
        tentative
            .expires_at
            .map_or_else(|| "-".to_owned(), clock_time)
    );
    // Meanwhile someone books 12:00–12:30 straight in the calendar app; the
    // mirror agent learns that the window is already spoken for.
    let clash = NewHold::new(CALENDAR, tomorrow_at(12, 0), tomorrow_at(12, 30))?
        .purpose("1:1 (booked in the calendar app)");
    match sync.create_hold(&clash).await {
        Ok(answer) => bail!("an overlapping hold was granted: {}", answer.hold.hold_id),
        Err(err) if err.code() == Some("hold_conflict") => {
            for c in err
                .api()
                .map(|e| e.conflicts.as_slice())
                .unwrap_or_default()
            {
                say!(
                    "   calendar-sync's 12:00–12:30 is refused: hold_conflict with {} ({}, {})",
                    short_id(&c.hold_id),
                    c.holder.name,
                    span(c.start, c.end)
                );
            }
        }
        Err(err) => return Err(err.into()),
    }

    // 4. Book the downstream calendar, then confirm. The permanent hold's
    //    idempotency key is the booking's id: whatever retries the create
    //    (the SDK after a timeout, or this agent after a restart) gets the
    //    same hold back.
    let booking = book_in_calendar_app(start, end);
    say!("\n4. booked {booking} in the calendar app; confirming the hold");
    // Release first: the tentative hold would conflict with the permanent
    // one. Between the two calls another agent could take the window; the
    // create would then fail with hold_conflict and the booking be undone.
    scheduler.release_hold(&tentative.hold_id).await?;
    let confirm = NewHold::new(CALENDAR, start, end)?
        .purpose(format!("release retro ({booking})"))
        .idempotency_key(format!("booking-{booking}"));
    let first = scheduler.create_hold(&confirm).await?;
    show_hold("created ", &first.hold, first.replayed);
    // Say the answer was lost in transit: the same create, sent again.
    let again = scheduler.create_hold(&confirm).await?;
    show_hold("retried ", &again.hold, again.replayed);
    if !again.replayed || again.hold.hold_id != first.hold.hold_id {
        bail!("the retried create made a second hold");
    }

    say!("\nThe day now");
    show_day(&scheduler.availability(CALENDAR, day_start, day_end).await?);
    Ok(())
}

/// Prints the busy and free windows of an availability answer.
fn show_day(day: &AvailabilityResponse) {
    let busy: Vec<String> = day
        .busy
        .iter()
        .map(|b| format!("{} ({})", span(b.start, b.end), b.holder.name))
        .collect();
    let free: Vec<String> = day.free.iter().map(|w| span(w.start, w.end)).collect();
    say!("  busy  {}", busy.join(", "));
    say!("  free  {}", free.join(", "));
}

/// One line about a hold create's answer.
fn show_hold(what: &str, hold: &Hold, replayed: bool) {
    say!(
        "  {what} {}  {}  expires {}  replayed: {replayed}",
        span(hold.start, hold.end),
        short_id(&hold.hold_id),
        hold.expires_at
            .map_or_else(|| "never".to_owned(), clock_time),
    );
}

/// The start of the first free window at least `minutes` long, and that
/// start plus `minutes`.
fn first_fit(day: &AvailabilityResponse, minutes: i64) -> Option<(Timestamp, Timestamp)> {
    let length = minutes * 60_000;
    day.free
        .iter()
        .find(|w| w.end.unix_millis() - w.start.unix_millis() >= length)
        .map(|w| (w.start, w.start.add_millis(length)))
}

/// Stands in for the downstream calendar's API: books the event and answers
/// its id.
fn book_in_calendar_app(start: Timestamp, _end: Timestamp) -> String {
    format!("evt-{}", start.unix_millis() / 60_000)
}
