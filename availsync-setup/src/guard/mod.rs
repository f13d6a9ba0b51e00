//! `availsync-setup guard`: run a command only while holding the claim on a
//! resource — skip cleanly when it is held, keep the lease alive while the
//! command runs, stop the command if the lease is lost, never leave a stale
//! claim.

mod ci_env;
mod duration;
mod github;
mod process;
mod reused;
mod signals;
mod wait;

use std::collections::HashMap;
use std::time::Duration;

use availsync_sdk::types::{ClaimedResource, Conflict, ReasonCode};
use availsync_sdk::{
    Client, ClientBuilder, LeaseState, LossReason, Outcome, PathPattern, ResourceKey, RunGuard,
    RunStart, Skipped, StartRun, WorkingSetMode,
};
use nix::sys::signal::Signal;

use crate::describe;
use crate::exit;
use crate::key_source::{KeyState, Source};
use process::{Command, exit_code};
use signals::Signals;

/// Arguments of `availsync-setup guard`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: the command's own (128+n if killed by signal n); --skip-exit-code when skipped; 75 when the lease was lost mid-run; 69 when the server is unreachable at start; 78 for missing or bad configuration (a refused TLS certificate too, even with --fail-open); 64 for bad arguments, and for a --run-id whose run has already ended (run ids must be unique per run)."
)]
pub struct GuardArgs {
    /// The resource to claim, e.g. repo:acme/web or project:homepage.
    /// Repeat it (up to 16) to claim several resources at once: the command
    /// runs only when every one of them is granted, each with its own
    /// fencing token.
    #[arg(long, required = true, value_parser = parse_resource)]
    resource: Vec<ResourceKey>,
    /// Claim only these paths of the repository instead of all of it: a
    /// file, a directory (`dir/` or `dir/**`), `*` within a segment, `**`
    /// as a whole segment. Repeat the flag or separate paths with commas.
    /// The command runs only when every path is free.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',', value_parser = parse_path)]
    paths: Vec<PathPattern>,
    /// Whether the command edits the paths or only reads them (reads never
    /// block other reads).
    #[arg(long, value_enum, default_value_t = PathsMode::Edit, requires = "paths")]
    paths_mode: PathsMode,
    /// Lease length in seconds (10-3600); extended automatically.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=3600))]
    ttl: u64,
    /// What the run is for, shown to other agents.
    #[arg(long)]
    purpose: Option<String>,
    /// Run id, unique per run, e.g. deploy-$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT
    /// [default: stable id from the CI environment, else random].
    #[arg(long, value_parser = parse_run_id)]
    run_id: Option<String>,
    /// Exit code when the resource is busy and the command is skipped.
    #[arg(long, default_value_t = 0)]
    skip_exit_code: u8,
    /// When the resource is busy, wait up to this long for it (e.g. 90s,
    /// 5m, at most 24h) instead of skipping at once: the command runs as
    /// soon as the claim is granted; at the deadline the guard skips as
    /// without --wait. The server waits up to 60 s per request and grants
    /// waiters in arrival order; longer waits are a chain of requests.
    /// Unreachable servers are retried until the deadline too.
    #[arg(long, value_name = "DURATION", value_parser = wait::parse)]
    wait: Option<Duration>,
    /// Time between SIGTERM (or the signal passed on) and SIGKILL when the
    /// command must stop (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
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

/// `--paths-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PathsMode {
    /// The command changes the paths.
    Edit,
    /// The command only reads them.
    Read,
}

impl From<PathsMode> for WorkingSetMode {
    fn from(mode: PathsMode) -> Self {
        match mode {
            PathsMode::Edit => Self::Edit,
            PathsMode::Read => Self::Read,
        }
    }
}

fn parse_resource(raw: &str) -> Result<ResourceKey, String> {
    raw.parse().map_err(|e| format!("{e}"))
}

fn parse_path(raw: &str) -> Result<PathPattern, String> {
    raw.parse().map_err(|e| format!("'{raw}': {e}"))
}

fn parse_run_id(raw: &str) -> Result<String, String> {
    if availsync_sdk::types::is_valid_run_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "'{raw}' is not a run id: use 1 to 128 of the characters A-Z a-z 0-9 . _ : -"
        ))
    }
}

fn say(message: impl AsRef<str>) {
    eprintln!("availsync guard: {}", message.as_ref());
}

/// A client for the key and server in force, or the exit code of why not.
fn connect() -> Result<Client, u8> {
    let keys = KeyState::from_env();
    if keys.source == Source::None {
        match &keys.error {
            Some(error) => say(format!("cannot read the stored credentials: {error}")),
            None => say(format!(
                "no agent API key: set {} or run `availsync-setup login` first",
                availsync_sdk::API_KEY_ENV
            )),
        }
        return Err(exit::CONFIG);
    }
    let builder = ClientBuilder::new()
        .from_env_or_credentials()
        .map_err(|e| {
            say(format!("cannot read the stored credentials: {e}"));
            exit::CONFIG
        })?;
    builder
        .user_agent(concat!("availsync-setup-guard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            say(describe::sdk_error(&e));
            exit::CONFIG
        })
}

/// The start the arguments ask for, or why they are wrong. The run id is
/// derived from the CI job and what is claimed (the resource, and the
/// paths and mode when given), so that one job may guard several parts of
/// one repository.
fn start_of(args: &GuardArgs, env: &HashMap<String, String>) -> Result<StartRun, String> {
    let first = &args.resource[0];
    let resource = first.to_string();
    let mut start = if args.resource.len() == 1 {
        StartRun::for_key(first.clone())
    } else {
        StartRun::resources(&args.resource)
            .map_err(|e| format!("--resource: {}", describe::sdk_error(&e)))?
    }
    .ttl(Duration::from_secs(args.ttl));
    let mut claimed = args
        .resource
        .iter()
        .map(ResourceKey::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if !args.paths.is_empty() {
        if args.resource.len() > 1 {
            return Err(
                "--paths claims paths of one repository; give a single --resource with it".into(),
            );
        }
        if first.resource_type() != "repo" {
            return Err(format!(
                "--paths claims paths of a repository; {resource} is not a repo: resource"
            ));
        }
        let mode = WorkingSetMode::from(args.paths_mode);
        start = start
            .working_set(&args.paths, mode)
            .map_err(|e| format!("--paths: {}", describe::sdk_error(&e)))?;
        claimed = format!("{resource} {mode} {}", start.working_set_paths().join(","));
    }
    if let Some(id) = args
        .run_id
        .clone()
        .or_else(|| ci_env::stable_run_id(env, &claimed))
    {
        start = start.run_id(id);
    }
    if let Some(purpose) = &args.purpose {
        start = start.purpose(purpose.clone());
    }
    Ok(start)
}

/// Runs the guard and answers the process exit code.
pub async fn run(args: GuardArgs) -> u8 {
    let env: HashMap<String, String> = std::env::vars().collect();
    let start = match start_of(&args, &env) {
        Ok(start) => start,
        Err(message) => {
            say(message);
            return exit::USAGE;
        }
    };
    let client = match connect() {
        Ok(client) => client,
        Err(code) => return code,
    };
    let resource = resource_list(&args.resource);
    let given = args.run_id.is_some();

    // While it waits, the guard listens for SIGINT and SIGTERM itself (and
    // hands the listeners on to the command's run, so none is missed).
    let mut signals = None;
    let (answer, start) = match args.wait.filter(|w| !w.is_zero()) {
        Some(wait) => {
            let listening = signals.insert(match Signals::listen() {
                Ok(listening) => listening,
                Err(e) => {
                    say(format!("cannot listen for signals: {e}"));
                    return exit::SOFTWARE;
                }
            });
            match wait::claim(&client, &start, wait, &resource, listening).await {
                wait::Waited::Answer(answer, start) => (answer, start),
                wait::Waited::Signalled(signal) => return signal_exit_code(signal),
            }
        }
        None => (client.claim(start.clone()).await, start),
    };
    match answer {
        // A replay of a run that has already ended: its lease is gone, and
        // the command must not start under it.
        Ok(RunStart::Claimed(guard)) if guard.state() == LeaseState::Lost(LossReason::Revoked) => {
            let run_id = guard.run_id().to_owned();
            drop(guard);
            reused::report(&client, &start, &run_id, given).await
        }
        Ok(RunStart::Claimed(guard)) => run_claimed(guard, &args, &env, signals).await,
        // Never asked for (the guard sends no `partial`): a command must
        // not run with part of what it declared.
        Ok(RunStart::Partial(guard, _)) => {
            say(
                "the server granted only part of the claim, which the guard never asks for; not running the command",
            );
            finish(guard, Outcome::Cancelled).await;
            exit::SOFTWARE
        }
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
            say(format!("{verdict} (run {})", observed.run_id));
            github::report_proceed(&env, Some(&observed.run_id), None);
            let vars = command_env(&observed.run_id, 0, &resource, &[]);
            let code = run_unguarded(&args.command, &vars, args.grace, signals).await;
            let outcome = if code == 0 {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            };
            if let Err(e) = observed.finish(outcome).await {
                say(format!(
                    "could not record the outcome: {}",
                    describe::sdk_error(&e)
                ));
            }
            code
        }
        // Not a server that is down but one that cannot be trusted, or the
        // wrong one: never a reason to run without a claim.
        Err(e) if e.is_tls_failure() => {
            say(format!(
                "cannot verify the Availsync server: {}; not running the command. Check the URL; if the server's certificate comes from a private CA, point SSL_CERT_FILE at that CA's certificate.{}",
                describe::sdk_error(&e),
                unreadable_ca_file()
            ));
            exit::CONFIG
        }
        Err(e) if e.is_retryable() => {
            let why = describe::sdk_error(&e);
            if args.fail_open {
                say(format!(
                    "WARNING: {why}; --fail-open: running WITHOUT a claim. Nothing protects {resource} from concurrent runs."
                ));
                github::report_proceed(&env, None, None);
                let vars = command_env("", 0, &resource, &[]);
                run_unguarded(&args.command, &vars, args.grace, signals).await
            } else {
                say(format!(
                    "{why}; not running the command. Use --fail-open to run without a claim."
                ));
                exit::UNAVAILABLE
            }
        }
        Err(e) => refused(&e),
    }
}

/// The server answered the start with an error: what to say, and the exit
/// code.
fn refused(e: &availsync_sdk::Error) -> u8 {
    let why = describe::sdk_error(e);
    let status = e.api().map(|api| api.status);
    if e.code() == Some(availsync_sdk::types::ErrorCode::RunIdReused.as_str()) {
        say(format!(
            "the server refused the claim: {why}. {}",
            reused::UNIQUE_HINT
        ));
        return exit::USAGE;
    }
    say(format!("the server refused the claim: {why}"));
    match status {
        Some(401 | 403) => exit::CONFIG,
        Some(400..=499) => exit::USAGE,
        _ => exit::SOFTWARE,
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

/// `repo:acme/web` or `repo:acme/web, db:billing`.
fn resource_list(resources: &[ResourceKey]) -> String {
    resources
        .iter()
        .map(ResourceKey::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The command's environment: the run, the first resource and its token,
/// and, for a claim holding several resources, every `resource=token`.
fn command_env(
    run_id: &str,
    fencing_token: u64,
    resource: &str,
    tokens: &[ClaimedResource],
) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("AVAILSYNC_RUN_ID", run_id.to_owned()),
        ("AVAILSYNC_FENCING_TOKEN", fencing_token.to_string()),
        ("AVAILSYNC_RESOURCE", resource.to_owned()),
    ];
    if tokens.len() > 1 {
        let all: Vec<String> = tokens
            .iter()
            .map(|held| format!("{}={}", held.resource, held.fencing_token))
            .collect();
        vars.push(("AVAILSYNC_FENCING_TOKENS", all.join(",")));
    }
    vars
}

fn skipped(env: &HashMap<String, String>, skip: &Skipped, code: u8) -> u8 {
    /// How many held paths a skip names before "and N more".
    const LISTED: usize = 3;
    let conflicts = skip.conflicts();
    let message = match skip.holder() {
        _ if !conflicts.is_empty() => {
            let mut held: Vec<String> = conflicts
                .iter()
                .take(LISTED)
                .map(|c| held_by(&skip.resource, c))
                .collect();
            if conflicts.len() > LISTED {
                held.push(format!("and {} more", conflicts.len() - LISTED));
            }
            format!("skipped: {}", held.join("; "))
        }
        Some(holder) => format!(
            "skipped: {} is held by agent '{}' (run {}) until {}",
            skip.resource, holder.agent_name, holder.run_id, holder.expires_at
        ),
        None => format!("skipped: {}", skip.reason.message),
    };
    say(&message);
    github::report_skip(env, &skip.run_id, &message);
    code
}

/// `migrations/** in repo:acme/web is held by agent 'ci' (run r1, holding
/// migrations/001.sql) until …`: one overlap of a working set; or
/// `db:billing is held by agent 'ci' (run r1) until …`: one blocked
/// resource of several.
fn held_by(resource: &ResourceKey, conflict: &Conflict) -> String {
    let conflict = match conflict {
        Conflict::Path(path) => path,
        Conflict::Resource(blocked) => {
            let holder = &blocked.holder;
            let full = if blocked.code == ReasonCode::CapacityFull {
                " (at its capacity)"
            } else {
                ""
            };
            return format!(
                "{}{full} is held by agent '{}' (run {}) until {}",
                blocked.resource, holder.agent_name, holder.run_id, holder.expires_at
            );
        }
    };
    let what = match &conflict.path {
        Some(path) => format!("{path} in {resource}"),
        None => resource.to_string(),
    };
    let holding = match &conflict.held_paths {
        Some(paths) => format!(", holding {}", paths.join(", ")),
        None => ", holding the whole repository".to_owned(),
    };
    let holder = &conflict.holder;
    format!(
        "{what} is held by agent '{}' (run {}{holding}) until {}",
        holder.agent_name, holder.run_id, holder.expires_at
    )
}

/// What a guard holds: `repo:acme/web`, `src/a/**, docs/** in
/// repo:acme/web`, or `repo:acme/web, db:billing`.
fn holding(guard: &RunGuard) -> String {
    match guard.working_set() {
        Some(set) => format!("{} in {}", set.paths.join(", "), guard.resource()),
        None => guard
            .fencing_tokens()
            .iter()
            .map(|held| held.resource.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Runs a command with no lease to watch (observe mode, fail-open).
async fn run_unguarded(
    argv: &[String],
    vars: &[(&str, String)],
    grace: Duration,
    signals: Option<Signals>,
) -> u8 {
    let mut signals = match signals.map_or_else(Signals::listen, Ok) {
        Ok(signals) => signals,
        Err(e) => {
            say(format!("cannot listen for signals: {e}"));
            return exit::SOFTWARE;
        }
    };
    let mut command = match Command::spawn(argv, vars) {
        Ok(command) => command,
        Err(e) => {
            say(format!("cannot start `{}`: {e}", argv.join(" ")));
            return 127;
        }
    };
    let status = tokio::select! {
        status = command.wait() => status,
        signal = signals.recv() => {
            pass_on(&mut command, signal, grace).await;
            return signal_exit_code(signal);
        }
    };
    match status {
        Ok(status) => exit_code(status),
        Err(e) => {
            say(format!("lost track of the command: {e}"));
            exit::SOFTWARE
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

async fn run_claimed(
    guard: RunGuard,
    args: &GuardArgs,
    env: &HashMap<String, String>,
    signals: Option<Signals>,
) -> u8 {
    let mut signals = match signals.map_or_else(Signals::listen, Ok) {
        Ok(signals) => signals,
        Err(e) => {
            say(format!("cannot listen for signals: {e}"));
            finish(guard, Outcome::Cancelled).await;
            return exit::SOFTWARE;
        }
    };
    if !guard.is_held() {
        // Granted, but the answer came so late that the lease may already
        // have lapsed: the command would run unprotected.
        say(format!(
            "the lease on {} lapsed before the command could start (the server answered late); not running it. Exiting 75: retry later",
            guard.resource()
        ));
        finish(guard, Outcome::Cancelled).await;
        return exit::LEASE_LOST;
    }
    let vars = command_env(
        guard.run_id(),
        guard.fencing_token(),
        guard.resource().as_str(),
        &guard.fencing_tokens(),
    );
    say(format!(
        "claimed {} as run {} (fencing token {}); running the command",
        holding(&guard),
        guard.run_id(),
        guard.fencing_token()
    ));
    github::report_proceed(env, Some(guard.run_id()), Some(guard.fencing_token()));
    let mut command = match Command::spawn(&args.command, &vars) {
        Ok(command) => command,
        Err(e) => {
            say(format!("cannot start `{}`: {e}", args.command.join(" ")));
            finish(guard, Outcome::Failed).await;
            return 127;
        }
    };
    let grace = duration::show(args.grace);
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
                "the lease on {} was lost ({reason}); stopping the command (SIGTERM, then SIGKILL after {grace})",
                guard.resource(),
            ));
            if let Err(e) = command.stop(Signal::SIGTERM, args.grace).await {
                say(format!("could not confirm the command stopped: {e}"));
            }
            Ending::Lost
        }
        signal = signals.recv() => {
            pass_on(&mut command, signal, args.grace).await;
            Ending::Signalled(signal)
        }
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
            signal_exit_code(signal)
        }
    }
}

/// Passes a signal the guard received on to the command, as that same
/// signal, and waits for it, up to the grace period before SIGKILL.
async fn pass_on(command: &mut Command, signal: Signal, grace: Duration) {
    say(format!(
        "received {signal}; passing it to the command (SIGKILL after {})",
        duration::show(grace)
    ));
    if let Err(e) = command.stop(signal, grace).await {
        say(format!("could not confirm the command stopped: {e}"));
    }
}

/// 128 + the signal's number, as a shell reports a death by signal.
fn signal_exit_code(signal: Signal) -> u8 {
    u8::try_from(128 + signal as i32).unwrap_or(255)
}

/// Finishes the run, bounded in time: a server that is down must not keep
/// the job hanging (the lease then lapses at its TTL).
async fn finish(guard: RunGuard, outcome: Outcome) {
    match tokio::time::timeout(Duration::from_secs(10), guard.finish(outcome)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => say(format!(
            "could not record the outcome ({}); the lease will lapse at its TTL",
            describe::sdk_error(&e)
        )),
        Err(_) => {
            say("the server did not answer the finish in time; the lease will lapse at its TTL")
        }
    }
}
