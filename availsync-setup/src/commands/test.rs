//! `availsync-setup test`: the setup test. Health → start a run on
//! `project:availsync-setup-test` (ttl 30 s) → extend → finish → the run is
//! visible in activity, as a checklist with the time of each step and a
//! precise hint for each failure.

use std::time::{Duration, Instant};

use availsync_sdk::types::Decision;
use availsync_sdk::{ActivityQuery, Client, Mode, Outcome, StartRun};
use serde::Serialize;

use super::verify::{VerifyError, classify, quick_client};
use crate::exit;
use crate::output::Style;

/// The resource the test claims.
pub const RESOURCE: &str = "project:availsync-setup-test";

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Print the checklist as JSON.
    #[arg(long)]
    pub json: bool,
    /// The server URL [default: $AVAILSYNC_URL, else the stored one].
    #[arg(long)]
    pub url: Option<String>,
}

/// One checklist line.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was checked.
    pub name: &'static str,
    /// Passed.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub ms: u128,
    /// What happened.
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every step passed.
    pub ok: bool,
    /// The server tried.
    pub url: String,
    /// The steps run, in order (the test stops at the first failure).
    pub steps: Vec<Step>,
    /// The process exit code.
    pub exit_code: u8,
}

struct Checklist {
    steps: Vec<Step>,
    exit_code: u8,
}

impl Checklist {
    fn pass(&mut self, name: &'static str, started: Instant, detail: String) {
        self.steps.push(Step {
            name,
            ok: true,
            ms: started.elapsed().as_millis(),
            detail,
            hint: None,
        });
    }

    fn fail(
        &mut self,
        name: &'static str,
        started: Instant,
        detail: String,
        hint: String,
        code: u8,
    ) {
        self.steps.push(Step {
            name,
            ok: false,
            ms: started.elapsed().as_millis(),
            detail,
            hint: Some(hint),
        });
        if self.exit_code == 0 {
            self.exit_code = code;
        }
    }

    fn sdk_fail(
        &mut self,
        name: &'static str,
        started: Instant,
        url: &str,
        e: &availsync_sdk::Error,
    ) {
        let (hint, code) = hint_for(url, e);
        self.fail(name, started, crate::describe::sdk_error(e), hint, code);
    }
}

fn hint_for(url: &str, e: &availsync_sdk::Error) -> (String, u8) {
    match classify(url, e) {
        VerifyError::Unreachable { .. } => (
            format!("server unreachable: nothing answered at {url}. Start the server, or fix the URL with `availsync-setup login --url URL` or AVAILSYNC_URL"),
            exit::UNAVAILABLE,
        ),
        VerifyError::Untrusted { .. } => (
            format!("server not verified: the TLS handshake with {url} failed (its certificate was refused, or it does not speak TLS). Check the URL; for a private CA, point SSL_CERT_FILE at its certificate"),
            exit::CONFIG,
        ),
        VerifyError::Rejected { .. } => (
            "key rejected: it is mistyped, was rotated, or its agent was deleted. Create a new agent key in the dashboard and run `availsync-setup login`".to_owned(),
            exit::CONFIG,
        ),
        VerifyError::Other { .. } => (
            "the server answered with an error; check its logs (the request id is above)".to_owned(),
            1,
        ),
    }
}

/// Runs the test and answers the report.
pub async fn check(url_flag: Option<&str>) -> Report {
    let mut list = Checklist {
        steps: Vec::new(),
        exit_code: 0,
    };
    let started = Instant::now();
    let resolved = match super::resolve(url_flag) {
        Ok(r) => r,
        Err(e) => {
            list.fail(
                "credentials",
                started,
                e.to_string(),
                "the credentials file is unreadable; run `availsync-setup login` to rewrite it"
                    .into(),
                exit::CONFIG,
            );
            return finish(String::new(), list);
        }
    };
    let url = resolved.url.clone();
    let Some(key) = resolved.key else {
        list.fail(
            "credentials",
            started,
            "no agent key: AVAILSYNC_API_KEY is unset and no credentials are stored".into(),
            "run `availsync-setup login` (or set AVAILSYNC_API_KEY)".into(),
            exit::CONFIG,
        );
        return finish(url, list);
    };
    let client = match quick_client(&url, &key) {
        Ok(c) => c,
        Err(e) => {
            list.fail(
                "credentials",
                started,
                crate::describe::sdk_error(&e),
                "fix the server URL".into(),
                exit::CONFIG,
            );
            return finish(url, list);
        }
    };
    run_steps(&client, &url, &mut list).await;
    finish(url, list)
}

async fn run_steps(client: &Client, url: &str, list: &mut Checklist) {
    let t = Instant::now();
    match client.health().await {
        Ok(h) => list.pass(
            "health",
            t,
            format!("server {} is up (storage {})", h.version, h.storage),
        ),
        Err(e) => return list.sdk_fail("health", t, url, &e),
    }

    let t = Instant::now();
    let start = match StartRun::new(RESOURCE) {
        Ok(s) => s
            .ttl(Duration::from_secs(30))
            .purpose("availsync-setup test"),
        Err(e) => return list.sdk_fail("start run", t, url, &e),
    };
    let answer = match client.start_run(&start).await {
        Ok(a) => a,
        Err(e) => return list.sdk_fail("start run", t, url, &e),
    };
    let run_id = answer.run_id.clone();
    if answer.mode == Mode::Observe {
        // Clean up, then fail: an observe agent never takes a lease.
        let _ = client
            .finish_run(&run_id, Outcome::Cancelled, Some("availsync-setup test"))
            .await;
        return list.fail(
            "start run",
            t,
            format!("run {run_id} was recorded in observe mode and holds no lease"),
            "this agent is in observe mode: its runs always proceed and take no lease, so it protects nothing. Switch the agent to enforce mode in the dashboard, then run the test again".into(),
            1,
        );
    }
    if answer.decision != Decision::Proceed || answer.claim.is_none() {
        let why = answer.reason.map(|r| r.message).unwrap_or_default();
        return list.fail(
            "start run",
            t,
            format!("told to skip: {why}"),
            format!(
                "another run holds {RESOURCE}; wait {} s for it to lapse and run the test again",
                answer.retry_after.unwrap_or(30)
            ),
            1,
        );
    }
    list.pass(
        "start run",
        t,
        format!("claimed {RESOURCE} as {run_id} (ttl 30 s)"),
    );

    let t = Instant::now();
    match client.extend_run(&run_id, None).await {
        Ok(_) => list.pass("extend", t, "lease extended".into()),
        Err(e) => {
            let _ = client.finish_run(&run_id, Outcome::Cancelled, None).await;
            return list.sdk_fail("extend", t, url, &e);
        }
    }

    let t = Instant::now();
    match client
        .finish_run(&run_id, Outcome::Succeeded, Some("availsync-setup test"))
        .await
    {
        Ok(f) => list.pass(
            "finish",
            t,
            format!("finished; claim released: {}", f.released),
        ),
        Err(e) => return list.sdk_fail("finish", t, url, &e),
    }

    let t = Instant::now();
    let query = ActivityQuery {
        resource: RESOURCE.parse().ok(),
        limit: Some(50),
        ..ActivityQuery::default()
    };
    for attempt in 0..5 {
        match client.activity_page(&query, None).await {
            Ok(page) => {
                if page
                    .items
                    .iter()
                    .any(|i| i.run_id.as_deref() == Some(run_id.as_str()))
                {
                    return list.pass("activity", t, format!("{run_id} is in the activity feed"));
                }
            }
            Err(e) => return list.sdk_fail("activity", t, url, &e),
        }
        if attempt < 4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    list.fail(
        "activity",
        t,
        format!("{run_id} did not appear in the activity feed"),
        "the server did not record the run; check its logs".into(),
        1,
    );
}

fn finish(url: String, list: Checklist) -> Report {
    Report {
        ok: list.exit_code == 0,
        url,
        steps: list.steps,
        exit_code: list.exit_code,
    }
}

/// Prints the checklist.
pub fn print(report: &Report, style: Style) {
    println!("Setup test against {}", style.bold(&report.url));
    for step in &report.steps {
        let mark = if step.ok {
            style.good("✓")
        } else {
            style.bad("✗")
        };
        println!(
            "  {mark} {:<12} {}  {}",
            step.name,
            step.detail,
            style.dim(&format!("{} ms", step.ms))
        );
        if let Some(hint) = &step.hint {
            println!("      {} {hint}", style.warn("hint:"));
        }
    }
    if report.ok {
        println!(
            "{}",
            style.good("All checks passed: agents using this key will claim before they act.")
        );
    } else {
        println!("{}", style.bad("The setup test failed."));
    }
}

/// Runs `test`.
pub async fn run(args: TestArgs) -> u8 {
    let report = check(args.url.as_deref()).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("availsync-setup: {e}");
                return exit::SOFTWARE;
            }
        }
    } else {
        print(&report, Style::stdout());
    }
    report.exit_code
}
