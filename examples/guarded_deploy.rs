//! A CI deploy job that deploys `project:homepage` only while it holds the
//! project's lease, built on [`Client::guarded`].
//!
//! ```text
//! cargo run -p availsync-examples --example guarded_deploy
//! ```
//!
//! **As a CI job** (`AVAILSYNC_API_KEY` set, and `AVAILSYNC_URL` unless the
//! server is at `http://127.0.0.1:8787`): claims `project:homepage` with a
//! stable run id, runs the deploy against a (simulated) downstream system,
//! passing the lease's fencing token along, and exits with
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | deployed |
//! | 1 | the deploy failed, or Availsync could not be asked |
//! | 2 | skipped: another run holds the project; nothing was done, try later |
//! | 3 | the lease was lost mid-deploy; the deploy was stopped |
//!
//! The run id comes from `AVAILSYNC_RUN_ID` (in GitHub Actions, e.g.
//! `homepage-${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT}`), else a random one. A
//! stable id makes a job that restarts after a crash replay its own claim
//! instead of being told to skip by itself.
//!
//! **As a demo** (`AVAILSYNC_API_KEY` unset): bootstraps a playground — the
//! embedded server (or the one at `AVAILSYNC_URL`), a new workspace and two
//! agents, `deploy-bot` and `hotfix-bot` — and plays the three endings one
//! after the other: a deploy that completes, one that is skipped because a
//! hotfix holds the project, and one whose lease is revoked halfway (its
//! run is cancelled from elsewhere), after which the downstream system
//! refuses a late write carrying the superseded fencing token. It exits 0
//! when each ending came out as expected, and takes about 6 seconds.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use availsync_examples::{Sandbox, Target, say};
use availsync_sdk::{Client, Guarded, Lease, Outcome, RunStart, StartRun, new_run_id};
use tokio::sync::Mutex;

/// What the job deploys.
const RESOURCE: &str = "project:homepage";
/// Where a CI job finds its stable run id.
const RUN_ID_ENV: &str = "AVAILSYNC_RUN_ID";

/// How a deploy job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Deployed,
    Failed,
    Skipped,
    LeaseLost,
}

impl Ending {
    /// The process exit code a CI system sees.
    fn exit_code(self) -> u8 {
        match self {
            Self::Deployed => 0,
            Self::Failed => 1,
            Self::Skipped => 2,
            Self::LeaseLost => 3,
        }
    }
}

/// How long the job's lease lasts and how long each deploy stage takes.
#[derive(Debug, Clone, Copy)]
struct Pace {
    ttl: Duration,
    stage: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = if std::env::var(availsync_sdk::API_KEY_ENV).is_ok_and(|k| !k.trim().is_empty()) {
        ci_job().await
    } else {
        demo().await
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(Ending::Failed.exit_code())
        }
    }
}

/// One real CI job: the key, server and run id come from the environment.
async fn ci_job() -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    let run_id = std::env::var(RUN_ID_ENV)
        .ok()
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(new_run_id);
    let pace = Pace {
        ttl: Duration::from_secs(60),
        stage: Duration::from_secs(1),
    };
    let ending = deploy_job(&client, &run_id, "homepage", &Downstream::default(), pace).await?;
    Ok(ExitCode::from(ending.exit_code()))
}

/// The heart of the example: the deploy runs inside `guarded`, which claims
/// the project, keeps the lease alive, stops the deploy if the lease is
/// lost, and finishes the run as succeeded or failed from its result.
async fn deploy_job(
    client: &Client,
    run_id: &str,
    release: &str,
    downstream: &Downstream,
    pace: Pace,
) -> availsync_sdk::Result<Ending> {
    let start = StartRun::new(RESOURCE)?
        .purpose(format!("deploy {release}"))
        .run_id(run_id)
        .ttl(pace.ttl);
    say!("  deploy {release}: run {run_id}");
    let downstream = downstream.clone();
    let outcome = client
        .guarded(start, |lease| async move {
            say!(
                "    claimed {}, fencing token {}",
                lease.resource,
                lease.fencing_token
            );
            deploy(&lease, &downstream, pace.stage).await
        })
        .await?;
    let ending = match outcome {
        Guarded::Completed(Ok(())) => {
            say!("    ✓ deployed; run finished as succeeded");
            Ending::Deployed
        }
        Guarded::Completed(Err(e)) => {
            say!("    ✗ deploy failed: {e}; run finished as failed");
            Ending::Failed
        }
        Guarded::Skipped(skip) => {
            let retry = skip
                .retry_after
                .map_or_else(String::new, |d| format!("; try again in {} s", d.as_secs()));
            say!("    ⏭ skipped: {}{retry}", skip.reason.message);
            Ending::Skipped
        }
        Guarded::LeaseLost(reason) => {
            say!("    ✗ lease lost ({reason}); the deploy was stopped mid-way");
            Ending::LeaseLost
        }
        other => {
            say!("    ? unexpected ending: {other:?}");
            Ending::Failed
        }
    };
    say!("    exit code {}", ending.exit_code());
    Ok(ending)
}

/// The deploy itself: three slow stages, each written to the downstream
/// system with the lease's fencing token.
async fn deploy(
    lease: &Lease,
    downstream: &Downstream,
    stage_time: Duration,
) -> Result<(), Refused> {
    for stage in ["upload assets", "run migrations", "switch traffic"] {
        tokio::time::sleep(stage_time).await; // building, uploading, waiting…
        downstream.write(lease.fencing_token).await?;
        say!("    · {stage}");
    }
    Ok(())
}

/// A stand-in for the system being deployed to (a CDN, a database, a
/// cluster API). Like any fenced resource, it remembers the highest fencing
/// token it has seen and refuses writes that carry a lower one: a writer
/// whose lease was superseded can do no harm even if it has not noticed yet.
#[derive(Clone, Default)]
struct Downstream {
    highest_token: Arc<Mutex<u64>>,
}

/// A write the downstream system refused.
#[derive(Debug)]
struct Refused {
    token: u64,
    highest: u64,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stale fencing token {} (the downstream has seen {})",
            self.token, self.highest
        )
    }
}

impl std::error::Error for Refused {}

impl Downstream {
    /// Applies one write of a deploy, unless its fencing token is stale.
    async fn write(&self, token: u64) -> Result<(), Refused> {
        let mut highest = self.highest_token.lock().await;
        if token < *highest {
            return Err(Refused {
                token,
                highest: *highest,
            });
        }
        *highest = token;
        Ok(())
    }
}

/// The three endings, in a playground of their own.
async fn demo() -> anyhow::Result<ExitCode> {
    let target = Target::from_env().await?;
    say!(
        "Guarded deploy demo ({} is unset)",
        availsync_sdk::API_KEY_ENV
    );
    say!("  server  {}", target.describe());
    let result = play(&target).await;
    target.shutdown().await;
    match result? {
        true => Ok(ExitCode::SUCCESS),
        false => Ok(ExitCode::FAILURE),
    }
}

async fn play(target: &Target) -> anyhow::Result<bool> {
    let sandbox = Sandbox::sign_up(target, "guarded-deploy").await?;
    let (_, deployer) = sandbox.agent("deploy-bot", None).await?;
    let (_, hotfixer) = sandbox.agent("hotfix-bot", None).await?;
    let downstream = Downstream::default();
    let pace = Pace {
        ttl: Duration::from_secs(10),
        stage: Duration::from_millis(700),
    };
    let mut as_expected = true;

    say!("\n1. Nobody else is deploying: the job completes");
    let ending = deploy_job(&deployer, &new_run_id(), "v1", &downstream, pace).await?;
    as_expected &= ending == Ending::Deployed;

    say!("\n2. hotfix-bot holds the project: the job skips, doing nothing");
    let hotfix = match hotfixer
        .claim(StartRun::new(RESOURCE)?.purpose("hotfix v1.0.1"))
        .await?
    {
        RunStart::Claimed(guard) => guard,
        other => bail!("hotfix-bot could not claim {RESOURCE}: {other:?}"),
    };
    let ending = deploy_job(&deployer, &new_run_id(), "v2", &downstream, pace).await?;
    as_expected &= ending == Ending::Skipped;
    hotfix.finish(Outcome::Succeeded).await?;

    say!("\n3. The job's run is cancelled from elsewhere halfway: its lease is revoked");
    // Slow stages, so that the guard's next extend (every ttl/3, here about
    // 3.3 s) learns of the cancel before the second stage writes.
    let slow = Pace {
        stage: Duration::from_millis(2500),
        ..pace
    };
    let run_id = new_run_id();
    let canceller = {
        // An operator's "cancel" step, using the same agent's key.
        let (client, run_id) = (deployer.clone(), run_id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2800)).await;
            let answer = client
                .finish_run(
                    &run_id,
                    Outcome::Cancelled,
                    Some("cancelled by an operator"),
                )
                .await;
            say!("    (an operator cancels run {run_id})");
            answer
        })
    };
    let ending = deploy_job(&deployer, &run_id, "v3", &downstream, slow).await?;
    canceller.await??;
    as_expected &= ending == Ending::LeaseLost;

    // Fencing: the hotfix claims the project again and writes with a newer
    // token; a late write from the cancelled deploy (say, a retry queued on
    // a worker that never heard of the cancel) is refused. The last token
    // the downstream accepted is v3's, from its first stage.
    let superseded = *downstream.highest_token.lock().await;
    let hotfix = match hotfixer
        .claim(StartRun::new(RESOURCE)?.purpose("hotfix v1.0.2"))
        .await?
    {
        RunStart::Claimed(guard) => guard,
        other => bail!("hotfix-bot could not claim {RESOURCE}: {other:?}"),
    };
    downstream.write(hotfix.fencing_token()).await?;
    say!(
        "  hotfix-bot deploys v1.0.2 with fencing token {}",
        hotfix.fencing_token()
    );
    match downstream.write(superseded).await {
        Ok(()) => {
            say!("  ✗ the downstream accepted a superseded writer");
            as_expected = false;
        }
        Err(refused) => say!("  a late write from the cancelled v3 deploy is refused: {refused}"),
    }
    hotfix.finish(Outcome::Succeeded).await?;

    say!(
        "\n{}",
        if as_expected {
            "Each ending came out as expected."
        } else {
            "Some ending did not come out as expected."
        }
    );
    Ok(as_expected)
}
