//! The Availsync quickstart: agents check in before they act, on the SDK.
//!
//! ```text
//! cargo run -p availsync-examples --example quickstart
//! ```
//!
//! Starts the reference server in-process (SQLite in a temporary directory),
//! or uses the server named by `AVAILSYNC_URL` (signing up a new workspace
//! each run), and then:
//!
//! 1. a human signs up and creates three agents ([`AdminClient`]);
//! 2. two agents race for `repo:acme/web` ([`Client::claim`]): one gets a
//!    lease and a fencing token, the other is told to skip and by whom;
//! 3. the winner works for 13 s on a 10 s lease: its [`RunGuard`] extends
//!    the lease in the background while the other agent keeps being told to
//!    skip; once the winner finishes, the other agent gets the next token;
//! 4. an observe-mode agent proceeds without a lease and learns that it
//!    would have been blocked;
//! 5. two agents share the repository by claiming paths (working sets):
//!    disjoint paths both proceed; reaching into the other's paths is
//!    refused, naming the holder;
//! 6. two agents ask for overlapping windows of a calendar: the second is
//!    refused with `hold_conflict`, and availability shows what is left;
//! 7. the activity feed shows all of it.
//!
//! It takes about 13 seconds, nearly all of them step 3.
//!
//! [`RunGuard`]: availsync_sdk::RunGuard

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use availsync_examples::{Target, clock_time, say, short_id, span, tomorrow_at, unique_email};
use availsync_sdk::{
    ActivityQuery, AdminClient, Client, Error, LeaseState, Mode, NewHold, Outcome, RunStart,
    Skipped, StartRun, WorkingSetMode,
};
use futures::TryStreamExt as _;
use tokio::time::Instant;

/// The repository two agents want to work on.
const REPO: &str = "repo:acme/web";
/// The calendar two agents want to book.
const CALENDAR: &str = "calendar:team-eng";
/// The lease asked for: short, so that step 3 outlives it.
const TTL: Duration = Duration::from_secs(10);
/// How long the winner of the race works.
const WORK: Duration = Duration::from_secs(13);

/// An agent as this example keeps it: its name and its client, which holds
/// its API key.
struct Agent {
    name: String,
    client: Client,
}

#[tokio::main]
async fn main() -> ExitCode {
    match quickstart().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if availsync_examples::url_from_env().is_some() {
                eprintln!(
                    "hint: is the server at AVAILSYNC_URL running? Unset AVAILSYNC_URL to use the embedded server."
                );
            }
            ExitCode::FAILURE
        }
    }
}

async fn quickstart() -> anyhow::Result<()> {
    let began = Instant::now();
    let target = Target::from_env().await?;
    say!("Availsync quickstart");
    say!("  server     {}", target.describe());
    let result = run(&target.url()).await;
    target.shutdown().await;
    if result.is_ok() {
        say!("\nDone in {:.1} s.", began.elapsed().as_secs_f64());
    }
    result
}

async fn run(url: &str) -> anyhow::Result<()> {
    // A human signs up; the admin client keeps the session cookie.
    let admin = AdminClient::new(url)?;
    let email = unique_email("quickstart");
    let account = admin
        .signup(&email, "quickstart-password", "Quickstart")
        .await?;
    say!(
        "  workspace  {} ({} plan), signed up as {email}",
        short_id(&account.workspace.id),
        account.workspace.plan
    );

    // The human creates the agents. Each answer carries the agent's API key,
    // shown this once; afterwards only its prefix is ever shown.
    say!("\nAgents (each API key is shown once; only its prefix here)");
    let ci_bot = create_agent(&admin, url, "ci-bot", None).await?;
    let coder = create_agent(&admin, url, "claude-code", None).await?;
    let meter = create_agent(&admin, url, "risk-meter", Some(Mode::Observe)).await?;

    // ── 1. Two agents race for the same repository ─────────────────────────
    say!("\n1. {} and {} race for {REPO}", ci_bot.name, coder.name);
    let (a, b) = tokio::join!(
        ci_bot
            .client
            .claim(StartRun::new(REPO)?.ttl(TTL).purpose("deploy web")),
        coder
            .client
            .claim(StartRun::new(REPO)?.ttl(TTL).purpose("refactor web")),
    );
    let (winner, guard, loser, skip) = match (a?, b?) {
        (RunStart::Claimed(guard), RunStart::Skipped(skip)) => (&ci_bot, guard, &coder, skip),
        (RunStart::Skipped(skip), RunStart::Claimed(guard)) => (&coder, guard, &ci_bot, skip),
        (a, b) => bail!("expected one claim and one skip, got {a:?} and {b:?}"),
    };
    say!(
        "  ✓ {:<12} claimed   fencing token {}, expires {}",
        winner.name,
        guard.fencing_token(),
        clock_time(guard.expires_at())
    );
    say!("  ✗ {:<12} skipped   {}", loser.name, why_skipped(&skip));

    // ── 2. The guard keeps the lease alive past its TTL ────────────────────
    say!(
        "\n2. {} works for {} s on a {} s lease; its guard extends it in the background",
        winner.name,
        WORK.as_secs(),
        TTL.as_secs()
    );
    say!(
        "  {:>7}  {:<12} {} asks again",
        "",
        "lease until",
        loser.name
    );
    let first_expiry = guard.expires_at();
    let working = Instant::now();
    let mut lease = guard.watch();
    loop {
        // Wake up whenever the guard's state changes (each extend), until
        // the work is done.
        tokio::select! {
            changed = lease.changed() => if changed.is_err() { break },
            () = tokio::time::sleep_until(working + WORK) => break,
        }
        let state = lease.borrow_and_update().clone();
        let until = match state {
            LeaseState::Held { expires_at } => clock_time(expires_at),
            LeaseState::Uncertain { error } => format!("uncertain: {error}"),
            LeaseState::Lost(reason) => bail!("{} lost its lease: {reason}", winner.name),
            other => format!("{other:?}"),
        };
        let answer = match loser.client.claim(StartRun::new(REPO)?.ttl(TTL)).await? {
            RunStart::Skipped(skip) => format!(
                "skipped: held by {}, retry after {} s",
                skip.holder().map_or("?", |h| h.agent_name.as_str()),
                skip.retry_after.unwrap_or_default().as_secs()
            ),
            other => bail!("{} got past a held lease: {other:?}", loser.name),
        };
        let lapsed = if working.elapsed() >= TTL {
            format!("  ← past the first expiry, {}", clock_time(first_expiry))
        } else {
            String::new()
        };
        say!(
            "  +{:>4.1} s  {until:<12} {answer}{lapsed}",
            working.elapsed().as_secs_f64()
        );
    }
    let finished = guard.finish(Outcome::Succeeded).await?;
    say!(
        "  ✓ {:<12} finished  succeeded, lease {}",
        winner.name,
        if finished.released {
            "released"
        } else {
            "already gone"
        }
    );
    let second = match loser
        .client
        .claim(StartRun::new(REPO)?.ttl(TTL).purpose("refactor web"))
        .await?
    {
        RunStart::Claimed(guard) => guard,
        other => bail!(
            "{} was not let through after the release: {other:?}",
            loser.name
        ),
    };
    say!(
        "  ✓ {:<12} claimed   fencing token {}, expires {}",
        loser.name,
        second.fencing_token(),
        clock_time(second.expires_at())
    );

    // ── 3. An observe-mode agent is never blocked, and holds nothing ───────
    say!(
        "\n3. {} (observe mode) starts a run on the held {REPO}",
        meter.name
    );
    match meter
        .client
        .claim(StartRun::new(REPO)?.purpose("measure overlap"))
        .await?
    {
        RunStart::Observed(run) => {
            let holder = run
                .reason
                .as_ref()
                .and_then(|r| r.holder.as_ref())
                .map_or("nobody", |h| h.agent_name.as_str());
            say!(
                "  ◦ {:<12} observed  no lease, would_block = {} (held by {holder})",
                meter.name,
                run.would_block
            );
            if !run.would_block {
                bail!("the observe run should have been told it would be blocked");
            }
            run.finish(Outcome::Succeeded).await?;
        }
        other => bail!("an observe agent's run answered {other:?}"),
    }
    second.finish(Outcome::Succeeded).await?;

    // ── 4. Two agents share the repository by paths ────────────────────────
    share_by_paths(&coder, &ci_bot).await?;

    // ── 5. Holds: reserve a time window before booking it downstream ───────
    say!("\n5. Holds on {CALENDAR}, tomorrow (UTC)");
    let planning =
        NewHold::new(CALENDAR, tomorrow_at(10, 0), tomorrow_at(11, 0))?.purpose("release planning");
    let first = coder.client.create_hold(&planning).await?.hold;
    say!(
        "  ✓ {:<12} holds     {}  {}",
        coder.name,
        span(first.start, first.end),
        short_id(&first.hold_id)
    );
    let overlapping =
        NewHold::new(CALENDAR, tomorrow_at(10, 30), tomorrow_at(11, 30))?.purpose("deploy window");
    match ci_bot.client.create_hold(&overlapping).await {
        Ok(answer) => bail!("an overlapping hold was granted: {}", answer.hold.hold_id),
        Err(err) if err.code() == Some("hold_conflict") => {
            let conflicts = err
                .api()
                .map(|e| e.conflicts.as_slice())
                .unwrap_or_default();
            for c in conflicts {
                say!(
                    "  ✗ {:<12} refused   {}  hold_conflict: {} holds {} ({})",
                    ci_bot.name,
                    span(tomorrow_at(10, 30), tomorrow_at(11, 30)),
                    c.holder.name,
                    span(c.start, c.end),
                    short_id(&c.hold_id)
                );
            }
            if !conflicts.iter().any(|c| c.hold_id == first.hold_id) {
                bail!("the conflict did not name the first hold");
            }
        }
        Err(err) => return Err(err.into()),
    }
    let day = ci_bot
        .client
        .availability(CALENDAR, tomorrow_at(9, 0), tomorrow_at(17, 0))
        .await?;
    let free: Vec<String> = day.free.iter().map(|w| span(w.start, w.end)).collect();
    say!("  free between 09:00 and 17:00: {}", free.join(", "));

    // ── 6. The activity feed: what every agent asked and was told ──────────
    say!("\n6. Activity, oldest first");
    let mut feed: Vec<_> = ci_bot
        .client
        .activity(ActivityQuery::default())
        .try_collect()
        .await?;
    feed.reverse();
    say!(
        "  {:<9} {:<20} {:<12} {:<18} decision",
        "at",
        "kind",
        "agent",
        "resource"
    );
    for item in &feed {
        let row = format!(
            "  {:<9} {:<20} {:<12} {:<18} {}",
            clock_time(item.at),
            item.kind,
            item.agent_name.as_deref().unwrap_or("-"),
            item.resource.as_deref().unwrap_or("-"),
            item.decision.as_deref().unwrap_or("")
        );
        say!("{}", row.trim_end());
    }
    Ok(())
}

/// Two agents claim disjoint paths of one repository and both proceed; one
/// reaching into the other's paths is refused, naming the holder.
async fn share_by_paths(api: &Agent, db: &Agent) -> anyhow::Result<()> {
    say!(
        "\n4. {} and {} share {REPO} by claiming only the paths they edit",
        api.name,
        db.name
    );
    let mut guards = Vec::new();
    for (agent, paths) in [
        (api, ["src/api/", "docs/api.md"]),
        (db, ["src/db/", "migrations/"]),
    ] {
        let start = StartRun::new(REPO)?
            .ttl(TTL)
            .working_set(paths, WorkingSetMode::Edit)?;
        match agent.client.claim(start).await? {
            RunStart::Claimed(guard) => {
                let held = guard.working_set().map(|set| set.paths).unwrap_or_default();
                say!(
                    "  ✓ {:<12} claimed   {}  fencing token {}",
                    agent.name,
                    held.join(", "),
                    guard.fencing_token()
                );
                guards.push(guard);
            }
            other => bail!("disjoint paths were not both granted: {other:?}"),
        }
    }
    // The db agent finds it needs an API file too: it must claim it first.
    match guards[1].add_paths(["src/api/routes.rs"]).await {
        Err(Error::PathsClaimed(held)) => {
            for c in &held.conflicts {
                say!(
                    "  ✗ {:<12} refused   {}: held by {} ({})",
                    db.name,
                    c.path.as_deref().unwrap_or(REPO),
                    c.holder.agent_name,
                    c.held_paths.as_deref().unwrap_or_default().join(", ")
                );
            }
        }
        Ok(_) => bail!("a path inside another agent's working set was granted"),
        Err(e) => return Err(e.into()),
    }
    for guard in guards {
        guard.finish(Outcome::Succeeded).await?;
    }
    Ok(())
}

/// Creates an agent and a client that uses its API key; prints only the
/// key's prefix.
async fn create_agent(
    admin: &AdminClient,
    url: &str,
    name: &str,
    mode: Option<Mode>,
) -> anyhow::Result<Agent> {
    let created = admin.create_agent(name, mode).await?;
    say!(
        "  {:<12} {:<8} key {}…",
        created.agent.name,
        created.agent.mode.as_str(),
        created.agent.key_prefix
    );
    let client = Client::builder()
        .base_url(url)
        .api_key(created.api_key)
        .build()?;
    Ok(Agent {
        name: created.agent.name,
        client,
    })
}

/// Who holds the resource, until when, and how long to wait.
fn why_skipped(skip: &Skipped) -> String {
    let retry = skip
        .retry_after
        .map_or_else(String::new, |d| format!(", retry after {} s", d.as_secs()));
    match skip.holder() {
        Some(holder) => format!(
            "held by {} until {}{retry}",
            holder.agent_name,
            clock_time(holder.expires_at)
        ),
        None => format!("{}{retry}", skip.reason.message),
    }
}
