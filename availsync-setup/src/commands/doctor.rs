//! `availsync-setup doctor`: checks everything a set-up needs, in order —
//! the server, the key, the clock, each client's entry — and prints one
//! line per check with what to do about anything that is not ok.
//!
//! Nothing is written and no run is started: the key is checked with
//! `GET /v1/work/runs?limit=1`, a read with no side effect whose answer
//! also carries the `server_time` the clock check needs (`/health` has
//! none, and the HTTP `Date` header has only whole seconds).

use std::collections::HashMap;

use availsync_sdk::credentials::{self, Credentials};
use availsync_sdk::{Client, RunsQuery, Timestamp};
use serde::Serialize;

use super::detect::{self, Detected, FileState, Missing};
use super::verify::quick_client;
use super::{Resolved, UrlSource};
use crate::describe::sdk_error;
use crate::exit;
use crate::key_source::{KeyState, Source};
use crate::output::Style;
use crate::paths::BaseDirs;
use crate::redact::mask;

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the checks as a JSON array of {check, status, detail, fix}.
    #[arg(long)]
    pub json: bool,
    /// The server URL [default: $AVAILSYNC_URL, else the stored one].
    #[arg(long)]
    pub url: Option<String>,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but something is likely to bite later.
    Warn,
    /// Broken: agents using this set-up will not coordinate.
    Fail,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `server`, `key`, `clock`, `client:<id>` or
    /// `clients`.
    pub check: String,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do when the status is not `ok`: a command to run or a file
    /// to edit.
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Skew above which the clock check warns, in milliseconds.
pub const CLOCK_WARN_ABOVE_MS: i64 = 2_000;
/// Skew above which the clock check fails, in milliseconds.
pub const CLOCK_FAIL_ABOVE_MS: i64 = 30_000;

/// This machine's clock against the server's, from one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew {
    /// How far the server's clock is ahead of this one, in milliseconds
    /// (negative: behind).
    pub offset_ms: i64,
    /// How far off that estimate may be: half the round trip, plus the
    /// millisecond the server's timestamp was truncated to.
    pub uncertainty_ms: i64,
}

impl Skew {
    /// The skew from the local time a request was `sent`, the server's
    /// `server_time` in its answer, and the local time the answer was
    /// `received`: the server read its clock somewhere in between, taken
    /// as the middle.
    pub fn measure(sent: Timestamp, server: Timestamp, received: Timestamp) -> Self {
        let round_trip = received
            .unix_millis()
            .saturating_sub(sent.unix_millis())
            .max(0);
        let midpoint = sent.unix_millis().saturating_add(round_trip / 2);
        Self {
            offset_ms: server.unix_millis().saturating_sub(midpoint),
            uncertainty_ms: round_trip / 2 + round_trip % 2 + 1,
        }
    }

    /// The least the clocks can be apart, given the uncertainty.
    pub fn at_least_ms(self) -> i64 {
        self.offset_ms
            .saturating_abs()
            .saturating_sub(self.uncertainty_ms)
            .max(0)
    }
}

/// Judges a skew: fine up to 2 s, a warning up to 30 s, a failure beyond
/// (judged on the least the clocks can be apart, so a slow round trip
/// never raises a false alarm).
pub fn judge_clock(skew: Skew) -> Check {
    let apart = skew.offset_ms.unsigned_abs();
    let seconds = if apart < 1_000 {
        format!("{apart} ms")
    } else {
        format!("{:.1} s", apart as f64 / 1000.0)
    };
    let direction = if skew.offset_ms > 0 {
        "behind"
    } else {
        "ahead of"
    };
    let margin = format!("±{} ms", skew.uncertainty_ms);
    let least = skew.at_least_ms();
    if least > CLOCK_FAIL_ABOVE_MS {
        Check::fail(
            "clock",
            format!(
                "this clock is {seconds} {direction} the server's ({margin}): leases are still judged by the server's clock, but expiry times read here are that far off, hold windows computed from this clock land in the wrong place, and TLS certificates can look expired or not yet valid"
            ),
            clock_fix(),
        )
    } else if least > CLOCK_WARN_ABOVE_MS {
        Check::warn(
            "clock",
            format!(
                "this clock is {seconds} {direction} the server's ({margin}): leases are judged by the server's clock, so this only shifts the expiry times read here"
            ),
            clock_fix(),
        )
    } else {
        Check::ok(
            "clock",
            format!("this clock is within {seconds} of the server's ({margin})"),
        )
    }
}

/// How to set this machine's clock right.
fn clock_fix() -> String {
    let sync = if cfg!(target_os = "macos") {
        "turn on \"Set time and date automatically\" in System Settings › General › Date & Time, or run `sudo sntp -sS time.apple.com`"
    } else if cfg!(windows) {
        "run `w32tm /resync` as administrator"
    } else {
        "run `sudo timedatectl set-ntp true`"
    };
    format!(
        "synchronise this machine's clock: {sync}; if it is already synchronised, the server's clock is off: synchronise it there"
    )
}

/// The key's answer from the server.
#[derive(Debug, Clone)]
enum KeyAnswer {
    /// Accepted; with the skew read off the answer.
    Accepted(Skew),
    /// 401: mistyped, rotated, or its agent deleted.
    Refused,
    /// Any other failure, in words.
    Failed {
        detail: String,
        fix: String,
        status: Status,
    },
}

/// `GET /v1/work/runs?limit=1` with `key`: accepted or not, and the skew.
async fn ask_with_key(url: &str, key: &str) -> KeyAnswer {
    let client = match quick_client(url, key) {
        Ok(client) => client,
        Err(e) => {
            return KeyAnswer::Failed {
                detail: sdk_error(&e),
                fix: "run `availsync-setup login` and paste the key as the dashboard shows it"
                    .to_owned(),
                status: Status::Fail,
            };
        }
    };
    let query = RunsQuery {
        limit: Some(1),
        ..RunsQuery::default()
    };
    let sent = Timestamp::now();
    match client.runs_page(&query, None).await {
        Ok(page) => KeyAnswer::Accepted(Skew::measure(sent, page.server_time, Timestamp::now())),
        Err(e) if e.is_unauthenticated() => KeyAnswer::Refused,
        Err(e) => {
            let detail = sdk_error(&e);
            match e.api() {
                Some(api) if api.status == 403 => KeyAnswer::Failed {
                    detail: format!("the server does not let this key make agent calls: {detail}"),
                    fix: "use an agent API key (avs_live_…, created under Agents in the dashboard) and run `availsync-setup login`".to_owned(),
                    status: Status::Fail,
                },
                Some(api) if api.status == 429 => {
                    let wait = api.retry_after.unwrap_or(1);
                    KeyAnswer::Failed {
                        detail: format!("not checked: the server is rate limiting this key ({detail})"),
                        fix: format!("run `availsync-setup doctor` again in {wait} s"),
                        status: Status::Warn,
                    }
                }
                Some(_) => KeyAnswer::Failed {
                    detail: format!("the server answered with an error: {detail}"),
                    fix: "check the server's logs for the request id above".to_owned(),
                    status: Status::Fail,
                },
                // It answered /health a moment ago: a flaky server or
                // network, or something in between that is not Availsync.
                None => KeyAnswer::Failed {
                    detail: format!("not checked: {detail}"),
                    fix: "run `availsync-setup doctor` again; if this stays, check the server's logs and what sits between it and this machine".to_owned(),
                    status: Status::Fail,
                },
            }
        }
    }
}

/// What the key check found out, for the checks after it.
struct Probe {
    /// The server answered `/health` as it should.
    server_up: bool,
    /// Answers per key, so that each key is sent once.
    answers: HashMap<String, KeyAnswer>,
}

impl Probe {
    async fn answer(&mut self, url: &str, key: &str) -> KeyAnswer {
        if let Some(answer) = self.answers.get(key) {
            return answer.clone();
        }
        let answer = ask_with_key(url, key).await;
        self.answers.insert(key.to_owned(), answer.clone());
        answer
    }
}

/// What the stored credentials file holds, if it can be read.
fn stored_credentials() -> Option<Credentials> {
    let path = credentials::default_path().ok()?;
    credentials::load(&path).ok().flatten()
}

/// How to point this machine at the right server, by where the URL came
/// from.
fn url_fix(from: &UrlSource) -> String {
    match from {
        UrlSource::Flag => "pass the server's URL with --url".to_owned(),
        UrlSource::Env(name) => format!("set ${name} to the server's URL"),
        UrlSource::Credentials => {
            "run `availsync-setup login --url URL` with the server's URL".to_owned()
        }
        UrlSource::Default => {
            "run `availsync-setup login --url URL` with the server's URL (or set $AVAILSYNC_URL)"
                .to_owned()
        }
    }
}

/// Check 1: the server answers `/health` with `status: ok`.
async fn check_server(resolved: &Resolved) -> Check {
    let url = &resolved.url;
    let from = &resolved.url_from;
    // `/health` needs no key; a stand-in keeps the real one for the call
    // that checks it.
    let client: Client = match quick_client(url, "availsync-setup-doctor") {
        Ok(client) => client,
        Err(e) => {
            return Check::fail(
                "server",
                format!("{}; URL from {from}", sdk_error(&e)),
                url_fix(from),
            );
        }
    };
    match client.health().await {
        Ok(health) if health.status == "ok" && health.storage == "ok" => Check::ok(
            "server",
            format!(
                "server {} is up at {url} (storage ok); URL from {from}",
                health.version
            ),
        ),
        Ok(health) => Check::fail(
            "server",
            format!(
                "the server at {url} answers but is not healthy (status {}, storage {})",
                health.status, health.storage
            ),
            "check the server's logs and its storage",
        ),
        Err(e) => {
            let detail = format!("{}; URL from {from}", sdk_error(&e));
            let fix = if e.is_tls_failure() {
                format!(
                    "check the URL; if the server's certificate comes from a private CA, point SSL_CERT_FILE at that CA's certificate; or {}",
                    url_fix(from)
                )
            } else if matches!(
                e,
                availsync_sdk::Error::Transport { .. } | availsync_sdk::Error::Timeout { .. }
            ) {
                format!(
                    "start the Availsync server at {url}, or point at the right one: {}",
                    url_fix(from)
                )
            } else {
                format!(
                    "check that {url} is the base URL of an Availsync server: {}",
                    url_fix(from)
                )
            };
            Check::fail("server", detail, fix)
        }
    }
}

/// Where the key in force comes from, in words.
fn key_origin(keys: &KeyState) -> String {
    match (keys.source, &keys.credentials_file) {
        (Source::Env, _) => format!("from ${}", availsync_sdk::API_KEY_ENV),
        (_, Some(file)) => format!("stored in {}", file.display()),
        (_, None) => "stored".to_owned(),
    }
}

/// A key as it may be shown, with a note when it cannot be an agent key.
fn shown(key: &str) -> String {
    if key.starts_with("avs_live_") {
        mask(key)
    } else {
        "… (not an agent key: those start with avs_live_)".to_owned()
    }
}

/// Check 2: a key is known and the server accepts it. Answers the check
/// and the skew read off the answer.
async fn check_key(
    resolved: &Resolved,
    keys: &KeyState,
    probe: &mut Probe,
) -> (Check, Option<Skew>) {
    let Some(key) = resolved.key.as_deref() else {
        let file = keys.credentials_file.as_ref().map_or_else(
            || "the credentials file".to_owned(),
            |p| p.display().to_string(),
        );
        let check = match &keys.error {
            Some(error) => Check::fail(
                "key",
                format!("no key: the credentials file cannot be read: {error}"),
                format!("fix or delete {file}, then run `availsync-setup login`"),
            ),
            None => Check::fail(
                "key",
                format!(
                    "no key: ${} is unset and none is stored in {file}",
                    availsync_sdk::API_KEY_ENV
                ),
                "run `availsync-setup login`",
            ),
        };
        return (check, None);
    };
    let origin = key_origin(keys);
    let which = format!("key {} {origin}", shown(key));
    if !probe.server_up {
        return (
            Check::warn(
                "key",
                format!("{which}; not checked: the server did not answer"),
                "get the server check above to pass first",
            ),
            None,
        );
    }
    match probe.answer(&resolved.url, key).await {
        KeyAnswer::Accepted(skew) => (
            Check::ok("key", format!("{which} is accepted by the server")),
            Some(skew),
        ),
        KeyAnswer::Refused => {
            let fix = match keys.source {
                Source::Env => format!(
                    "create a new key (or rotate this agent's) in the dashboard and set ${} to it, or unset it and run `availsync-setup login`",
                    availsync_sdk::API_KEY_ENV
                ),
                _ => "create a new key (or rotate this agent's) in the dashboard, then run `availsync-setup login`".to_owned(),
            };
            (
                Check::fail(
                    "key",
                    format!(
                        "{which} was refused: it is mistyped, was rotated, or its agent was deleted"
                    ),
                    fix,
                ),
                None,
            )
        }
        KeyAnswer::Failed {
            detail,
            fix,
            status,
        } => (
            Check {
                check: "key".to_owned(),
                status,
                detail: format!("{which}: {detail}"),
                fix: Some(fix),
            },
            None,
        ),
    }
}

/// Check 3: the clock, when an answer gave the server's time.
fn check_clock(skew: Option<Skew>) -> Check {
    match skew {
        Some(skew) => judge_clock(skew),
        None => Check::warn(
            "clock",
            "not checked: it needs an answer to an accepted key",
            "get the server and key checks above to pass first",
        ),
    }
}

/// The same server URL, written either way.
fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// What an entry needs done, gathered while it is checked and said as one
/// fix at the end: a single `install` does what several findings ask.
#[derive(Debug, Default)]
struct EntryFix {
    /// `availsync-setup install --client ID` rewrites the entry.
    install: bool,
    /// ... with `--url`.
    url: Option<String>,
    /// The entry's own key is refused: install takes it out.
    stale_embedded_key: bool,
    /// A program that exists but cannot be run.
    chmod: Option<String>,
    /// `availsync-setup login` stores a (new) key.
    login: bool,
}

impl EntryFix {
    fn say(&self, client: &str) -> Option<String> {
        let mut parts = Vec::new();
        if self.login {
            parts.push("run `availsync-setup login`".to_owned());
        }
        if let Some(command) = &self.chmod
            && !self.install
        {
            parts.push(format!(
                "run `chmod +x {command}` (or `availsync-setup install --client {client}`)"
            ));
        }
        if self.install || self.url.is_some() {
            let url = self
                .url
                .as_deref()
                .map_or_else(String::new, |u| format!(" --url {u}"));
            let mut install = format!("run `availsync-setup install --client {client}{url}`");
            if self.stale_embedded_key {
                install.push_str(
                    " (it takes the old key out of the entry, which then reads the stored one; add --embed-key to embed the current key instead)",
                );
            }
            parts.push(install);
        }
        (!parts.is_empty()).then(|| parts.join("; then "))
    }
}

/// Check 4 for one file with an entry.
async fn check_entry(
    client: &Detected,
    file: &FileState,
    context: &EntryContext<'_>,
    probe: &mut Probe,
) -> Check {
    let id = client.client.id();
    let mut status = Status::Ok;
    let mut problems: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut fix = EntryFix::default();

    // Its program, and whether any key reaches it: as detect sees them.
    for missing in &file.missing {
        status = Status::Fail;
        problems.push(missing_sentence(missing));
        match missing {
            Missing::NoProgram | Missing::ProgramAbsent(_) => fix.install = true,
            Missing::NotExecutable(command) => fix.chmod = Some(command.clone()),
            Missing::NoKey => fix.login = true,
        }
    }
    if file.missing.is_empty()
        && let Some(command) = file.command.as_deref()
    {
        notes.push(format!("runs {command}"));
    }

    // Its key: the one in the entry, else the stored one (a client started
    // from this shell may also get the one in its environment).
    let key = match (&file.key, context.stored_key) {
        (Some(embedded), _) => Some((embedded.expose(), "the key in its entry")),
        (None, Some(stored)) => Some((stored, "the stored key it reads")),
        (None, None) => None,
    };
    match key {
        Some((key, what)) => {
            let answer = if Some(key) == context.checked_key {
                context.checked.clone()
            } else if probe.server_up {
                Some(probe.answer(context.url, key).await)
            } else {
                None
            };
            match answer {
                Some(KeyAnswer::Refused) => {
                    status = Status::Fail;
                    problems.push(format!("{what} ({}) is refused by the server", mask(key)));
                    if file.key.is_some() {
                        fix.install = true;
                        fix.stale_embedded_key = true;
                    } else {
                        fix.login = true;
                    }
                }
                Some(KeyAnswer::Accepted(_)) => notes.push(format!("{what} is accepted")),
                _ => notes.push(format!("{what} was not checked")),
            }
        }
        None if context.env_key => {
            status = status.max(Status::Warn);
            problems.push(format!(
                "it gets a key only when started from a shell that has ${}: none is stored",
                availsync_sdk::API_KEY_ENV
            ));
            fix.login = true;
        }
        // No key at all: detect reported it above.
        None => {}
    }

    // Its server: the URL in the entry, else what availsync-mcp falls back
    // to (the default beside a key in the entry, else the stored URL).
    let (entry_url, url_origin) = match (&file.url, &file.key, context.stored_url) {
        (Some(url), _, _) => (url.as_str(), "from the entry"),
        (None, None, Some(stored)) => (stored, "the stored one"),
        _ => (availsync_sdk::types::DEFAULT_URL, "the default"),
    };
    if same_url(entry_url, context.url) {
        notes.push(format!("server {entry_url} (as checked above)"));
    } else if probe.server_up {
        status = status.max(Status::Warn);
        problems.push(format!(
            "it points at {entry_url} ({url_origin}), not at {} checked above",
            context.url
        ));
        fix.url = Some(context.url.to_owned());
    } else {
        // The URL checked does not answer: the entry's may well be the
        // right one, so it is only shown, and kept by any reinstall.
        notes.push(format!("server {entry_url} ({url_origin})"));
        if fix.install {
            fix.url = Some(entry_url.to_owned());
        }
    }

    let path = &file.path;
    let name = format!("client:{id}");
    if status == Status::Ok {
        Check::ok(name, format!("{path}: {}", notes.join("; ")))
    } else {
        Check {
            check: name,
            status,
            detail: format!("{path}: {}", problems.join("; ")),
            fix: fix.say(id),
        }
    }
}

/// What detect says is missing, without its built-in hint (the fix says
/// what to do).
fn missing_sentence(missing: &Missing) -> String {
    match missing {
        Missing::ProgramAbsent(command) => format!("its program {command} does not exist"),
        Missing::NoKey => "no key reaches it: none is in the entry and none is stored".to_owned(),
        other => other.to_string(),
    }
}

/// What every entry is compared with.
struct EntryContext<'a> {
    /// The URL checked in check 1.
    url: &'a str,
    /// The key checked in check 2, and its answer.
    checked_key: Option<&'a str>,
    checked: Option<KeyAnswer>,
    /// The stored key and URL, what an entry without its own falls back to.
    stored_key: Option<&'a str>,
    stored_url: Option<&'a str>,
    /// A key is in this shell's environment.
    env_key: bool,
}

/// Check 4: each client's entry, via `detect`.
async fn check_clients(
    context: &EntryContext<'_>,
    keys: &KeyState,
    probe: &mut Probe,
) -> Vec<Check> {
    let dirs = match BaseDirs::from_env() {
        Ok(dirs) => dirs,
        Err(e) => {
            return vec![Check::fail(
                "clients",
                e.to_string(),
                "set HOME to your home directory",
            )];
        }
    };
    let mut checks = Vec::new();
    for client in detect::detect_all(&dirs, keys) {
        let id = client.client.id();
        let mut any_entry = false;
        for file in &client.files {
            if let Some(error) = &file.error {
                checks.push(Check::fail(
                    format!("client:{id}"),
                    format!("{} cannot be read: {error}", file.path),
                    format!("edit {} and fix what the error names", file.path),
                ));
                any_entry = true;
            } else if file.entry {
                checks.push(check_entry(&client, file, context, probe).await);
                any_entry = true;
            }
        }
        if !any_entry && client.installed {
            checks.push(Check::warn(
                format!("client:{id}"),
                format!(
                    "{} is installed ({}) but has no availsync entry",
                    client.name,
                    client.evidence.join(", ")
                ),
                format!("run `availsync-setup install --client {id}`"),
            ));
        }
    }
    if checks.is_empty() {
        checks.push(Check::warn(
            "clients",
            "no agent client with an availsync entry was found",
            "run `availsync-setup install --client ID` for each client you use (ids: cursor, windsurf, codex, claude-code, claude-desktop, vscode, zed, gemini, cline)",
        ));
    }
    checks
}

/// What `doctor` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The server URL checked.
    pub url: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// Runs every check, in order.
pub async fn check(url_flag: Option<&str>) -> Report {
    let keys = KeyState::from_env();
    let stored = stored_credentials();
    let resolved = super::resolve_with(url_flag, stored.as_ref());

    let server = check_server(&resolved).await;
    let mut probe = Probe {
        server_up: server.status == Status::Ok,
        answers: HashMap::new(),
    };
    let (key, skew) = check_key(&resolved, &keys, &mut probe).await;
    let clock = check_clock(skew);
    let checked = resolved
        .key
        .as_deref()
        .and_then(|k| probe.answers.get(k).cloned());
    let stored_key = stored
        .as_ref()
        .map(|c| c.api_key.trim())
        .filter(|k| !k.is_empty());
    let context = EntryContext {
        url: &resolved.url,
        checked_key: resolved.key.as_deref(),
        checked,
        stored_key,
        stored_url: stored.as_ref().map(|c| c.url.as_str()),
        env_key: keys.source == Source::Env,
    };
    let clients = check_clients(&context, &keys, &mut probe).await;

    let mut checks = vec![server, key, clock];
    checks.extend(clients);
    for check in &mut checks {
        check.detail = one_line(&check.detail);
    }
    Report {
        url: resolved.url,
        checks,
    }
}

/// `text` on one line: a parser's multi-line message (a TOML error with
/// its source excerpt and caret) keeps its sentences, joined by `; `.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| {
            // The excerpt: `|`, `1 | garbage`, `^`, and lone brackets.
            let excerpt = line.starts_with('|')
                || line
                    .split_once(" |")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
                || line.chars().all(|c| "^~)]}".contains(c));
            !line.is_empty() && !excerpt
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints the checks, one line each, with the fix under anything not ok.
pub fn print(report: &Report, style: Style) {
    let checks = &report.checks;
    println!(
        "Checking the Availsync set-up for {}",
        style.bold(&report.url)
    );
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    for check in checks {
        let word = format!("{:<4}", check.status.word());
        let word = match check.status {
            Status::Ok => style.good(&word),
            Status::Warn => style.warn(&word),
            Status::Fail => style.bad(&word),
        };
        println!("  {word}  {:<width$}  {}", check.check, check.detail);
        if let Some(fix) = &check.fix {
            println!("  {:<4}  {:<width$}  {} {fix}", "", "", style.dim("fix:"));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    match (failed, warned) {
        (0, 0) => println!("{}", style.good("Everything checks out.")),
        (0, w) => println!(
            "{}",
            style.warn(&format!(
                "No failures; {}.",
                plural(w, "warning", "warnings")
            ))
        ),
        (f, w) => println!(
            "{}",
            style.bad(&format!(
                "{} failed, {}.",
                plural(f, "check", "checks"),
                plural(w, "warning", "warnings")
            ))
        ),
    }
}

/// Runs `doctor`: 0 when no check failed (warnings allowed), 1 otherwise.
pub async fn run(args: DoctorArgs) -> u8 {
    let report = check(args.url.as_deref()).await;
    if args.json {
        match serde_json::to_string_pretty(&report.checks) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("availsync-setup: {e}");
                return exit::SOFTWARE;
            }
        }
    } else {
        print(&report, Style::stdout());
    }
    u8::from(report.failed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000 + millis)
    }

    #[test]
    fn skew_is_read_against_the_middle_of_the_round_trip() {
        // Sent at 0, answered at 100: the server read its clock at about
        // 50 by ours. It said 1 550, so it is 1.5 s ahead, give or take 51.
        let skew = Skew::measure(at(0), at(1_550), at(100));
        assert_eq!(skew.offset_ms, 1_500);
        assert_eq!(skew.uncertainty_ms, 51);
        assert_eq!(skew.at_least_ms(), 1_449);
        // A clock that stepped back mid-call counts as no round trip.
        let skew = Skew::measure(at(100), at(100), at(0));
        assert_eq!(skew.uncertainty_ms, 1);
    }

    #[test]
    fn small_skews_pass_moderate_ones_warn_large_ones_fail() {
        let judged = |offset_ms, uncertainty_ms| {
            judge_clock(Skew {
                offset_ms,
                uncertainty_ms,
            })
        };
        let ok = judged(-1_900, 5);
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert!(ok.detail.contains("within 1.9 s"), "{ok:?}");
        assert!(ok.fix.is_none());
        let ok = judged(3, 2);
        assert_eq!(
            ok.detail,
            "this clock is within 3 ms of the server's (±2 ms)"
        );

        let warn = judged(2_600, 5);
        assert_eq!(warn.status, Status::Warn, "{warn:?}");
        assert!(warn.detail.contains("2.6 s behind"), "{warn:?}");
        assert!(
            warn.detail.contains("judged by the server's clock"),
            "{warn:?}"
        );
        assert!(
            warn.fix
                .as_deref()
                .is_some_and(|f| f.contains("synchronise"))
        );

        let warn = judged(-29_000, 5);
        assert_eq!(warn.status, Status::Warn, "{warn:?}");
        assert!(warn.detail.contains("29.0 s ahead of"), "{warn:?}");

        let fail = judged(-45_000, 5);
        assert_eq!(fail.status, Status::Fail, "{fail:?}");
        assert!(fail.detail.contains("45.0 s ahead of"), "{fail:?}");
        assert!(fail.fix.is_some());
    }

    #[test]
    fn a_slow_round_trip_never_raises_a_false_alarm() {
        // 2.4 s apart as measured, but the answer took 1 s to come back:
        // the clocks may be only 1.9 s apart.
        let skew = Skew::measure(at(0), at(2_900), at(1_000));
        assert_eq!(skew.offset_ms, 2_400);
        assert_eq!(judge_clock(skew).status, Status::Ok);
        // Just past the thresholds once the margin is taken off.
        let judged = |offset_ms| {
            judge_clock(Skew {
                offset_ms,
                uncertainty_ms: 10,
            })
            .status
        };
        assert_eq!(judged(2_010), Status::Ok);
        assert_eq!(judged(2_011), Status::Warn);
        assert_eq!(judged(30_010), Status::Warn);
        assert_eq!(judged(-30_011), Status::Fail);
    }

    #[test]
    fn details_stay_on_one_line() {
        let toml = "/x/credentials.toml is not a valid credentials file: TOML parse error at line 1, column 8\n  |\n1 | garbage\n  |        ^\nkey with no value, expected `=`\n";
        assert_eq!(
            one_line(toml),
            "/x/credentials.toml is not a valid credentials file: TOML parse error at line 1, column 8; key with no value, expected `=`"
        );
        assert_eq!(one_line("one line"), "one line");
    }

    #[test]
    fn urls_match_with_or_without_a_trailing_slash() {
        assert!(same_url("http://127.0.0.1:8787/", "http://127.0.0.1:8787"));
        assert!(!same_url("http://127.0.0.1:8787", "http://127.0.0.1:8788"));
    }
}
