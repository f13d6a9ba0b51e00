//! `availsync-setup guard`: run a command only while holding the claim on a
//! resource — skip cleanly when it is held, keep the lease alive while the
//! command runs, stop the command if the lease is lost, never leave a stale
//! claim.

mod ci_env;
mod github;
mod process;

use std::collections::HashMap;
use std::time::Duration;

use availsync_sdk::{ClientBuilder, Outcome, RunGuard, RunStart, Skipped, StartRun};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::exit;
use process::{Command, exit_code};

/// Arguments of `availsync-setup guard`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: the command's own (128+n if killed by signal n); --skip-exit-code when skipped; 75 when the lease was lost mid-run; 69 when the server is unreachable at start; 78 for missing or bad configuration (a refused TLS certificate too, even with --fail-open); 64 for bad arguments."
)]
pub struct GuardArgs {
    /// The resource to claim, e.g. repo:acme/web or project:homepage.
    #[arg(long)]
    resource: String,
    /// Lease length in seconds (10-3600); extended automatically.
    #[arg(long, default_value_t = 300)]
    ttl: u64,
    /// What the run is for, shown to other agents.
    #[arg(long)]
    purpose: Option<String>,
    /// Run id [default: stable id from the CI environment, else random].
    #[arg(long)]
    run_id: Option<String>,
    /// Exit code when the resource is busy and the command is skipped.
    #[arg(long, default_value_t = 0)]
    skip_exit_code: u8,
    /// Time between SIGTERM and SIGKILL when the command must stop (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    grace: Duration,
    /// Run the command anyway (with a warning) when the server cannot be
    /// reached. Not when its TLS certificate is refused: that is a set-up
    /// error.
    #[arg(long)]
    fail_open: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1..)]
    command: Vec<String>,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |at| raw.split_at(at));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration such as 10s, 500ms or 1m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        _ => Err(format!(
            "'{raw}' is not a duration such as 10s, 500ms or 1m"
        )),
    }
}

fn say(message: impl AsRef<str>) {
    eprintln!("availsync guard: {}", message.as_ref());
}

/// Runs the guard and answers the process exit code.
pub async fn run(args: GuardArgs) -> u8 {
    let env: HashMap<String, String> = std::env::vars().collect();
    let client = match ClientBuilder::new().from_env_or_credentials() {
        Ok(builder) => match builder
            .user_agent(concat!("availsync-setup-guard/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                // Logging in stores a key; it does not help a bad URL or
                // a TLS set-up that failed.
                let message = e.to_string();
                if message.contains(availsync_sdk::API_KEY_ENV) {
                    say(format!("{message}; or run `availsync-setup login` first"));
                } else {
                    say(message);
                }
                return exit::CONFIG;
            }
        },
        Err(e) => {
            say(format!("cannot read the stored credentials: {e}"));
            return exit::CONFIG;
        }
    };
    let start = match StartRun::new(&args.resource) {
        Ok(start) => start.ttl(Duration::from_secs(args.ttl)),
        Err(e) => {
            say(format!("--resource: {e}"));
            return exit::USAGE;
        }
    };
    let run_id = args
        .run_id
        .clone()
        .or_else(|| ci_env::stable_run_id(&env, start.resource().as_str()));
    let start = match run_id {
        Some(id) => start.run_id(id),
        None => start,
    };
    let start = match &args.purpose {
        Some(purpose) => start.purpose(purpose.clone()),
        None => start,
    };
    let resource = start.resource().to_string();

    match client.claim(start).await {
        Ok(RunStart::Claimed(guard)) => run_claimed(guard, &args).await,
        Ok(RunStart::Skipped(skip)) => skipped(&env, &skip, args.skip_exit_code),
        Ok(RunStart::Observed(observed)) => {
            let verdict = if observed.would_block {
                let why = observed
                    .reason
                    .as_ref()
                    .map_or("it is busy".to_owned(), |r| r.message.clone());
                format!("observe mode: this run WOULD have been skipped ({why}); running anyway")
            } else {
                "observe mode: this run would have proceeded; running".to_owned()
            };
            say(verdict);
            let vars = command_env(&observed.run_id, 0, &resource);
            let code = run_unguarded(&args.command, &vars).await;
            let outcome = if code == 0 {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            };
            if let Err(e) = observed.finish(outcome).await {
                say(format!("could not record the outcome: {e}"));
            }
            code
        }
        // Not a server that is down but one that cannot be trusted, or the
        // wrong one: never a reason to run without a claim.
        Err(e) if e.is_tls_failure() => {
            say(format!(
                "cannot verify the Availsync server: the TLS handshake failed ({e}); not running the command. Check the URL; if the server's certificate comes from a private CA, point SSL_CERT_FILE at that CA's certificate.{}",
                unreadable_ca_file()
            ));
            exit::CONFIG
        }
        Err(e) if e.is_retryable() => {
            if args.fail_open {
                say(format!(
                    "WARNING: the Availsync server is unreachable ({e}); --fail-open: running WITHOUT a claim. Nothing protects {resource} from concurrent runs."
                ));
                let vars = command_env("", 0, &resource);
                run_unguarded(&args.command, &vars).await
            } else {
                say(format!(
                    "the Availsync server is unreachable ({e}); not running the command. Use --fail-open to run without a claim."
                ));
                exit::UNAVAILABLE
            }
        }
        Err(e) => {
            say(format!("the server refused the claim: {e}"));
            if e.is_unauthenticated() {
                exit::CONFIG
            } else {
                exit::USAGE
            }
        }
    }
}

/// A note when `SSL_CERT_FILE` names a file that cannot be read: the
/// verifier then has none of its certificates, and says so only in a log.
fn unreadable_ca_file() -> String {
    match std::env::var_os("SSL_CERT_FILE") {
        Some(path) if std::fs::File::open(&path).is_err() => format!(
            " (SSL_CERT_FILE is set to {}, which cannot be read.)",
            std::path::Path::new(&path).display()
        ),
        _ => String::new(),
    }
}

fn command_env(run_id: &str, fencing_token: u64, resource: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AVAILSYNC_RUN_ID", run_id.to_owned()),
        ("AVAILSYNC_FENCING_TOKEN", fencing_token.to_string()),
        ("AVAILSYNC_RESOURCE", resource.to_owned()),
    ]
}

fn skipped(env: &HashMap<String, String>, skip: &Skipped, code: u8) -> u8 {
    let message = match skip.holder() {
        Some(holder) => format!(
            "skipped: {} is held by agent '{}' (run {}) until {}",
            skip.resource, holder.agent_name, holder.run_id, holder.expires_at
        ),
        None => format!("skipped: {}", skip.reason.message),
    };
    say(&message);
    github::report_skip(env, &message);
    code
}

/// Runs a command with no lease to watch (observe mode, fail-open).
async fn run_unguarded(argv: &[String], vars: &[(&str, String)]) -> u8 {
    let mut command = match Command::spawn(argv, vars) {
        Ok(command) => command,
        Err(e) => {
            say(format!("cannot start `{}`: {e}", argv.join(" ")));
            return 127;
        }
    };
    match wait_forwarding_signals(&mut command).await {
        Ok(status) => exit_code(status),
        Err(e) => {
            say(format!("lost track of the command: {e}"));
            exit::SOFTWARE
        }
    }
}

/// Waits for the command, forwarding SIGINT and SIGTERM to it.
async fn wait_forwarding_signals(
    command: &mut Command,
) -> std::io::Result<std::process::ExitStatus> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            status = command.wait() => return status,
            _ = interrupt.recv() => command.signal(Signal::SIGINT),
            _ = terminate.recv() => command.signal(Signal::SIGTERM),
        }
    }
}

/// How a claimed run ended.
enum Ending {
    /// The command exited by itself.
    Exited(std::process::ExitStatus),
    /// The lease was lost (or the command could not be watched) and the
    /// command was stopped.
    Lost,
    /// The guard was told to stop, and passed it on.
    Signalled(Signal),
}

async fn run_claimed(guard: RunGuard, args: &GuardArgs) -> u8 {
    let vars = command_env(
        guard.run_id(),
        guard.fencing_token(),
        guard.resource().as_str(),
    );
    let mut command = match Command::spawn(&args.command, &vars) {
        Ok(command) => command,
        Err(e) => {
            say(format!("cannot start `{}`: {e}", args.command.join(" ")));
            finish(guard, Outcome::Failed).await;
            return 127;
        }
    };
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            say(format!("cannot listen for signals: {e}"));
            let status = command.stop(args.grace).await;
            finish(guard, Outcome::Cancelled).await;
            drop(status);
            return exit::SOFTWARE;
        }
    };
    let ending = tokio::select! {
        status = command.wait() => match status {
            Ok(status) => Ending::Exited(status),
            Err(e) => {
                say(format!("lost track of the command: {e}"));
                Ending::Lost
            }
        },
        reason = guard.lost() => {
            say(format!(
                "the lease on {} was lost ({reason}); stopping the command (SIGTERM, SIGKILL after {:?})",
                guard.resource(),
                args.grace
            ));
            if let Err(e) = command.stop(args.grace).await {
                say(format!("could not confirm the command stopped: {e}"));
            }
            Ending::Lost
        }
        _ = interrupt.recv() => forward_and_wait(&mut command, Signal::SIGINT, args.grace).await,
        _ = terminate.recv() => forward_and_wait(&mut command, Signal::SIGTERM, args.grace).await,
    };
    match ending {
        Ending::Exited(status) => {
            let code = exit_code(status);
            finish(
                guard,
                if status.success() {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
            )
            .await;
            code
        }
        Ending::Lost => {
            finish(guard, Outcome::Cancelled).await;
            say(
                "exiting 75: the command was stopped because the claim could no longer be held; retry later",
            );
            exit::LEASE_LOST
        }
        Ending::Signalled(signal) => {
            finish(guard, Outcome::Cancelled).await;
            u8::try_from(128 + signal as i32).unwrap_or(255)
        }
    }
}

/// Forwards a signal to the command and waits for it, up to `grace` before
/// SIGKILL.
async fn forward_and_wait(command: &mut Command, signal: Signal, grace: Duration) -> Ending {
    say(format!("received {signal}; passing it to the command"));
    command.signal(signal);
    let stopped = match tokio::time::timeout(grace, command.wait()).await {
        Ok(status) => status,
        Err(_) => command.stop(Duration::ZERO).await,
    };
    if let Err(e) = stopped {
        say(format!("could not confirm the command stopped: {e}"));
    }
    Ending::Signalled(signal)
}

/// Finishes the run, bounded in time: a server that is down must not keep
/// the job hanging (the lease then lapses at its TTL).
async fn finish(guard: RunGuard, outcome: Outcome) {
    match tokio::time::timeout(Duration::from_secs(10), guard.finish(outcome)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => say(format!(
            "could not record the outcome ({e}); the lease will lapse at its TTL"
        )),
        Err(_) => {
            say("the server did not answer the finish in time; the lease will lapse at its TTL")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
