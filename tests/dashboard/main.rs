//! The dashboard in headless Chromium, against the real server in-process
//! and the real SDK: sign up → create an agent → copy its key → start a run
//! with that key from the SDK → the run is on Active runs and in Activity →
//! release it from the dashboard → the agent's guard learns → the audit
//! shows the human release → the setup test passes. And the Rules page:
//! create, a cycle refused next to its field, edit, a run on a resource
//! with dependencies as one row on Active runs, delete. Every page is
//! saved as a full-page PNG in `target/dashboard-screenshots/<scenario>/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMEDRIVER` and
//! `CHROME_BIN`), so it is ignored by default; `.ci/run` runs it with
//! `cargo test -p availsync-e2e --test dashboard -- --ignored`. Run that way,
//! any failed step fails the test: nothing is skipped.

#![allow(clippy::unwrap_used, missing_docs)]

mod browser;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use availsync_sdk::{Client, LossReason, RunStart, StartRun};
use availsync_server::{RunningServer, ServerConfig};
use serde_json::json;

use browser::{Browser, Context, Driver, Step};

const PASSWORD: &str = "correct horse battery";

/// `target/dashboard-screenshots/<name>/` (or under `$CARGO_TARGET_DIR`),
/// emptied.
fn screenshot_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("dashboard-screenshots").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// A scenario: the browser, the server's URL, where screenshots go.
type Scenario =
    for<'a> fn(&'a Browser, &'a str, &'a Path) -> Pin<Box<dyn Future<Output = Step> + Send + 'a>>;

/// One browser at a time: the scenarios' waits (live refresh, a guard's
/// extend) assume Chromium does not share a small machine with another.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `scenario` against a fresh server in a fresh headless Chromium,
/// with screenshots in `dashboard-screenshots/<name>/`; any failed step
/// fails the test.
async fn in_browser(name: &str, scenario: Scenario) {
    let _alone = ONE_BROWSER.lock().await;
    let data = tempfile::tempdir().unwrap();
    let server = RunningServer::start(ServerConfig::ephemeral(data.path()))
        .await
        .unwrap();
    let driver = Driver::start().await.unwrap_or_else(|e| panic!("{e}"));
    let browser = driver.browser().await.unwrap_or_else(|e| panic!("{e}"));
    let dir = screenshot_dir(name);

    // The scenario runs in its own task so that a panic in it still lets
    // the browser be closed below.
    let client = browser.client.clone();
    let url = server.url();
    let shots = dir.clone();
    let outcome = tokio::spawn(async move {
        let browser = Browser { client };
        let result = scenario(&browser, &url, &shots).await;
        if result.is_err() {
            let _ = browser.screenshot(&shots, "failure").await;
        }
        result
    })
    .await;
    let _ = browser.client.close().await;
    drop(driver);
    server.shutdown().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(step)) => panic!("{step}\n(screenshots in {})", dir.display()),
        Err(panic) => std::panic::resume_unwind(panic.into_panic()),
    }
    let shots = std::fs::read_dir(&dir).unwrap().count();
    println!("{shots} screenshots in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_human_runs_the_workspace_from_the_dashboard() {
    in_browser("workspace", |browser, url, shots| {
        Box::pin(workspace(browser, url, shots))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_human_declares_rules_from_the_dashboard() {
    in_browser("rules", |browser, url, shots| {
        Box::pin(rules(browser, url, shots))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; run by .ci/run"]
async fn a_run_started_by_an_agent_appears_on_the_open_runs_page_and_focus_stays() {
    in_browser("live-runs", |browser, url, shots| {
        Box::pin(live_runs(browser, url, shots))
    })
    .await;
}

/// The runs page follows the event stream: a run an agent starts appears
/// without a reload, and the element that had focus keeps it.
async fn live_runs(browser: &Browser, url: &str, shots: &Path) -> Step {
    let email = "live@example.com";
    sign_up(browser, url, email, shots, "01-signup").await?;
    let admin = availsync_sdk::AdminClient::new(url).context("admin client")?;
    admin.login(email, PASSWORD).await.context("log in")?;
    let key = admin
        .create_agent("ci-bot", None)
        .await
        .context("creating an agent")?
        .api_key;
    let agent = Client::builder()
        .base_url(url)
        .api_key(key)
        .build()
        .context("client")?;
    let first = match agent
        .claim(StartRun::new("repo:acme/first").context("resource")?)
        .await
        .context("first run")?
    {
        RunStart::Claimed(guard) => guard,
        other => return Err(format!("expected a claim: {other:?}")),
    };

    browser.goto(&format!("{url}/runs")).await?;
    browser.find("tr[data-run-id]").await?;
    // Focus the first run's Release button, as a keyboard user would.
    let focused = browser
        .js("var b = document.querySelector('form[action$=\"/release\"] button');              b.focus(); window.__marker = 1;              return b.closest('form').getAttribute('action');")
        .await?;
    // Wait until the stream is open, so that the next run is an event.
    for _ in 0..40 {
        if browser
            .js("return document.querySelector('.live-status').hidden;")
            .await?
            == json!(true)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = match agent
        .claim(StartRun::new("repo:acme/second").context("resource")?)
        .await
        .context("second run")?
    {
        RunStart::Claimed(guard) => guard,
        other => return Err(format!("expected a claim: {other:?}")),
    };
    let mut appeared = false;
    for _ in 0..40 {
        if browser
            .text("[data-live='runs']")
            .await?
            .contains("repo:acme/second")
        {
            appeared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    browser.screenshot(shots, "02-runs-live").await?;
    ensure!(appeared, "the new run did not appear without a reload");
    ensure!(
        browser.js("return window.__marker === 1;").await? == json!(true),
        "the page was reloaded instead of updated in place"
    );
    let now_focused = browser
        .js("var f = document.activeElement.closest('form');              return f ? f.getAttribute('action') : document.activeElement.tagName;")
        .await?;
    ensure!(
        now_focused == focused,
        "focus moved from {focused} to {now_focused}"
    );
    ensure!(
        browser
            .text(".live-controls .updated")
            .await?
            .contains("just now"),
        "the Updated label did not follow the refresh"
    );
    first
        .finish(availsync_sdk::Outcome::Succeeded)
        .await
        .context("finish")?;
    second
        .finish(availsync_sdk::Outcome::Succeeded)
        .await
        .context("finish")?;
    console_is_clean(browser, &[]).await
}

/// Signs up from the home page (a screenshot of the filled-in form as
/// `shot`); ends on the agents page.
async fn sign_up(browser: &Browser, url: &str, email: &str, shots: &Path, shot: &str) -> Step {
    browser.goto(&format!("{url}/")).await?;
    browser.wait_for_path("/login").await?;
    browser.click("a[href='/signup']").await?;
    browser.wait_for_path("/signup").await?;
    browser.fill("#f-workspace_name", "Acme").await?;
    browser.fill("#f-email", email).await?;
    browser.fill("#f-password", PASSWORD).await?;
    browser.screenshot(shots, shot).await?;
    browser.click("button[type=submit]").await?;
    browser.wait_for_path("/agents").await?;
    ensure!(
        browser.text(".account .user").await? == email,
        "the header does not show who is signed in"
    );
    Ok(())
}

/// The browser console saw no CSP violation and no script error (a probe
/// proves the console is really being read). `expected` are the messages
/// the scenario caused on purpose (e.g. the status of a refused form),
/// matched by substring.
async fn console_is_clean(browser: &Browser, expected: &[&str]) -> Step {
    browser
        .js("console.warn('availsync-console-probe'); return null;")
        .await?;
    let console = browser.console().await?;
    ensure!(
        console.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("availsync-console-probe"))),
        "the browser console could not be read: {console:?}"
    );
    let problems: Vec<String> = console
        .iter()
        .filter(|entry| {
            entry["level"] == "SEVERE"
                || entry["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Content Security Policy"))
        })
        .map(|entry| entry["message"].as_str().unwrap_or("").to_owned())
        .filter(|m| !m.contains("favicon.ico"))
        .filter(|m| !expected.iter().any(|e| m.contains(e)))
        .collect();
    ensure!(
        problems.is_empty(),
        "the browser console reported:\n{}",
        problems.join("\n")
    );
    Ok(())
}

async fn workspace(browser: &Browser, url: &str, shots: &Path) -> Step {
    let shot = |name: &'static str| browser.screenshot(shots, name);
    // Clipboard access for the copy button, as a person would grant it.
    browser
        .cdp(
            "Browser.grantPermissions",
            json!({"origin": url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await?;

    let email = "ana@example.com";
    sign_up(browser, url, email, shots, "01-signup").await?;
    shot("02-agents-empty").await?;

    // Create an agent; its key is shown once, with a copy button.
    browser.fill("#agent-name", "claude-code").await?;
    browser.click("button[type=submit].btn-primary").await?;
    let key_input = browser.find("#api-key").await?;
    let key = key_input
        .prop("value")
        .await
        .context("reading the key")?
        .context("the key field")?;
    ensure!(key.starts_with("avs_live_"), "not an API key: {key}");
    let page = browser.client.source().await.context("page source")?;
    ensure!(
        page.matches(&key).count() == 1,
        "the key is rendered more than once"
    );
    ensure!(
        browser
            .text(".notice-warning")
            .await?
            .contains("You will not see it again"),
        "no 'you will not see this again' warning"
    );
    browser
        .click("button.copy[data-copy-target='api-key']")
        .await?;
    let copied = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             navigator.clipboard.readText().then(done, e => done('error: ' + e));",
            vec![],
        )
        .await
        .context("reading the clipboard")?;
    ensure!(
        copied.as_str() == Some(key.as_str()),
        "the copy button put {copied} on the clipboard, not the key"
    );
    ensure!(
        browser.text("button.copy").await? == "Copied ✓",
        "the copy button does not say it copied"
    );
    shot("03-agent-key-shown-once").await?;
    browser.click("a[href='/agents'].btn").await?;
    browser.wait_for_path("/agents").await?;
    ensure!(
        !browser
            .client
            .source()
            .await
            .context("source")?
            .contains(&key),
        "the agents list shows the key again"
    );

    // A second agent, to be told to skip.
    browser.fill("#agent-name", "ci-bot").await?;
    browser.click("button[type=submit].btn-primary").await?;
    let ci_key = browser
        .find("#api-key")
        .await?
        .prop("value")
        .await
        .context("reading the key")?
        .context("the key field")?;
    browser.goto(&format!("{url}/agents")).await?;
    shot("04-agents").await?;

    // The copied key, used from the SDK: start a run (kept alive by its guard).
    let agent = Client::builder()
        .base_url(url)
        .api_key(&key)
        .build()
        .context("building the SDK client")?;
    let start = StartRun::new("repo:acme/web")
        .context("resource")?
        .ttl(Duration::from_secs(30))
        .purpose("refactor the checkout flow");
    let RunStart::Claimed(guard) = agent.claim(start).await.context("run/start")? else {
        return Err("the run was not granted a claim".into());
    };
    let ci = Client::builder()
        .base_url(url)
        .api_key(&ci_key)
        .build()
        .context("building the SDK client")?;
    match ci
        .claim(StartRun::new("repo:acme/web").context("resource")?)
        .await
        .context("run/start")?
    {
        RunStart::Skipped(_) => {}
        other => return Err(format!("ci-bot should have been told to skip: {other:?}")),
    }

    // The run is on Active runs…
    browser.goto(&format!("{url}/runs")).await?;
    let row = format!("tr[data-run-id='{}']", guard.run_id());
    let text = browser.text(&row).await?;
    ensure!(
        text.contains("repo:acme/web") && text.contains("claude-code"),
        "the active run row says {text:?}"
    );
    ensure!(
        text.contains(&guard.fencing_token().to_string()),
        "no fencing token in {text:?}"
    );
    shot("05-active-runs").await?;

    // …and in Activity, with the skip; the kind filter works.
    browser.goto(&format!("{url}/activity")).await?;
    let started = browser.text("tr[data-kind='run_started']").await?;
    ensure!(
        started.contains("claude-code") && started.contains("repo:acme/web"),
        "run_started row says {started:?}"
    );
    browser.find("tr[data-kind='run_skipped']").await?;
    ensure!(
        browser
            .find(".live-toggle")
            .await?
            .is_displayed()
            .await
            .context("live toggle")?,
        "the live-refresh toggle is not shown (did the script load under the CSP?)"
    );
    shot("06-activity").await?;
    browser
        .find("#f-kind")
        .await?
        .select_by_value("run_skipped")
        .await
        .context("choosing a kind")?;
    browser.click(".filters button[type=submit]").await?;
    browser.wait_for_path("/activity?").await?;
    let rows = browser.find_all("tbody tr").await?;
    ensure!(rows.len() == 1, "the kind filter left {} rows", rows.len());
    shot("07-activity-filtered").await?;

    // Live refresh: a new event appears without a reload.
    browser.click("a.btn-quiet[href='/activity']").await?;
    browser.wait_for_path("/activity").await?;
    browser.js("window.__marker = 1; return null;").await?;
    agent.check("repo:acme/api").await.context("work/check")?;
    let _ = ci
        .check_conflicts(
            "calendar:team-eng",
            "2030-01-01T10:00:00Z".parse().context("time")?,
            "2030-01-01T11:00:00Z".parse().context("time")?,
        )
        .await
        .context("conflicts/check")?;
    let mut refreshed = false;
    for _ in 0..40 {
        if !browser
            .find_all("tr[data-kind='conflicts_checked']")
            .await?
            .is_empty()
        {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ensure!(refreshed, "the activity list did not refresh by itself");
    ensure!(
        browser.js("return window.__marker === 1;").await? == json!(true),
        "the page was reloaded instead of refreshed in place"
    );

    // Release it from the dashboard (after a confirmation).
    browser.goto(&format!("{url}/runs")).await?;
    browser.click(&format!("{row} button.btn-danger")).await?;
    let question = browser.accept_confirm().await?;
    ensure!(
        question.contains("repo:acme/web") && question.contains("claude-code"),
        "the confirmation asks {question:?}"
    );
    browser.wait_for_path("/runs?released=").await?;
    ensure!(
        browser
            .text(".notice-success")
            .await?
            .contains("Released claim"),
        "no release notice"
    );
    ensure!(
        browser.find_all(&row).await?.is_empty(),
        "the released run is still listed as active"
    );
    shot("08-runs-after-release").await?;

    // The agent's guard learns at its next extend (about every 10 s).
    let lost = tokio::time::timeout(Duration::from_secs(20), guard.lost())
        .await
        .map_err(|_| "the guard did not learn of the release".to_owned())?;
    ensure!(lost == LossReason::Revoked, "the guard says {lost:?}");

    // The audit shows the human release.
    browser.goto(&format!("{url}/audit")).await?;
    let release = browser.text("tr[data-action='claim_released']").await?;
    ensure!(
        release.contains(email)
            && release.contains("repo:acme/web")
            && release.contains("released_by_user"),
        "the audit's release row says {release:?}"
    );
    ensure!(
        browser
            .text("tr[data-action='claim_released'] .actor-type")
            .await?
            .eq_ignore_ascii_case("user"),
        "the release is not by a user"
    );
    shot("09-audit").await?;

    browser.goto(&format!("{url}/usage")).await?;
    ensure!(
        browser.text(".meter-card").await?.contains("2 of 3"),
        "usage does not show 2 of 3 agents"
    );
    shot("10-usage").await?;

    // The setup test, against this live server.
    browser.goto(&format!("{url}/setup")).await?;
    browser
        .click("details[data-client='cursor'] summary")
        .await?;
    browser
        .click("details[data-client='claude-code'] summary")
        .await?;
    let snippet = browser.text("#snippet-cursor").await?;
    ensure!(
        snippet.contains(&format!("\"AVAILSYNC_URL\": \"{url}\"")),
        "the Cursor snippet does not name this server: {snippet}"
    );
    shot("11-setup").await?;
    browser.click("#setup-test button[type=submit]").await?;
    let report = browser.find("#test-report").await?;
    let result = report.attr("data-result").await.context("result")?;
    let steps = browser.text("ol.steps").await?;
    ensure!(
        result.as_deref() == Some("passed"),
        "the setup test did not pass:\n{steps}"
    );
    println!("setup test:\n{steps}");
    shot("12-setup-test").await?;

    // Delete asks first.
    browser.goto(&format!("{url}/agents")).await?;
    browser.click("a.btn-danger-quiet").await?;
    browser.wait_for_path("/agents/").await?;
    ensure!(
        browser.text("h1").await?.starts_with("Delete agent"),
        "no delete confirmation page"
    );
    shot("13-delete-confirm").await?;
    browser.click("a.btn-quiet[href='/agents']").await?;

    // Dark mode and a phone-sized window.
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
        )
        .await?;
    browser.goto(&format!("{url}/activity")).await?;
    shot("14-activity-dark").await?;
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": "light"}]}),
        )
        .await?;
    browser
        .client
        .set_window_size(400, 860)
        .await
        .context("resizing")?;
    browser.goto(&format!("{url}/agents")).await?;
    shot("15-agents-narrow").await?;
    browser
        .client
        .set_window_size(1366, 900)
        .await
        .context("resizing")?;

    // Log out; the log-in page says so.
    browser.click(".account button[type=submit]").await?;
    browser.wait_for_path("/login").await?;
    ensure!(
        browser
            .text(".notice-success")
            .await?
            .contains("logged out"),
        "no logged-out notice"
    );
    shot("16-login").await?;

    console_is_clean(browser, &[]).await
}

/// The accessible description Chromium computes for the element `css`
/// (what a screen reader reads after its name: hint and error).
async fn description(browser: &Browser, css: &str) -> Step<String> {
    let document = browser.cdp("DOM.getDocument", json!({"depth": 0})).await?;
    let node = browser
        .cdp(
            "DOM.querySelector",
            json!({"nodeId": document["root"]["nodeId"], "selector": css}),
        )
        .await?;
    let tree = browser
        .cdp(
            "Accessibility.getPartialAXTree",
            json!({"nodeId": node["nodeId"], "fetchRelatives": false}),
        )
        .await?;
    Ok(tree["nodes"][0]["description"]["value"]
        .as_str()
        .unwrap_or("")
        .to_owned())
}

async fn rules(browser: &Browser, url: &str, shots: &Path) -> Step {
    let shot = |name: &'static str| browser.screenshot(shots, name);
    sign_up(browser, url, "rosa@example.com", shots, "01-signup").await?;
    browser.click("nav.mainnav a[href='/rules']").await?;
    browser.wait_for_path("/rules").await?;
    ensure!(
        browser.text(".empty").await?.contains("No rules yet."),
        "the empty Rules page does not say so"
    );
    shot("02-rules-empty").await?;

    // Create two rules: the homepage depends on the catalog, which depends
    // on the database.
    let submit = "form.rule-form button[type=submit]";
    browser.fill("#f-resource", "project:catalog").await?;
    browser.fill("#f-depends_on", "db:main").await?;
    browser.click(submit).await?;
    browser.wait_for_path("/rules?saved=").await?;
    browser.fill("#f-resource", "project:homepage").await?;
    browser.fill("#f-depends_on", "project:catalog").await?;
    browser.fill("#f-capacity", "2").await?;
    browser
        .find("#f-mode")
        .await?
        .select_by_value("observe")
        .await
        .context("choosing a mode")?;
    browser
        .fill("#f-note", "the homepage reads the catalog")
        .await?;
    browser.click(submit).await?;
    browser.wait_for_path("/rules?saved=").await?;
    ensure!(
        browser
            .text(".notice-success")
            .await?
            .contains("project:homepage"),
        "no notice that the rule was saved"
    );
    let homepage = "tr[data-resource='project:homepage']";
    let closure = browser.text(&format!("{homepage} td.closure")).await?;
    ensure!(
        closure.contains("project:catalog") && closure.contains("db:main"),
        "the homepage's closure says {closure:?}"
    );
    shot("03-rules").await?;

    // A cycle is refused, next to depends_on, with what was typed kept.
    browser.fill("#f-resource", "db:main").await?;
    browser.fill("#f-depends_on", "project:homepage").await?;
    browser.click(submit).await?;
    let error = browser.text("#f-depends_on-error").await?;
    ensure!(
        error.contains("cycle") && error.contains("db:main -> project:homepage"),
        "the depends_on error says {error:?}"
    );
    let field = browser.find("#f-depends_on").await?;
    ensure!(
        field.attr("aria-invalid").await.context("aria-invalid")? == Some("true".into()),
        "depends_on is not marked invalid"
    );
    let read_out = description(browser, "#f-depends_on").await?;
    ensure!(
        read_out.contains("cycle"),
        "a screen reader does not hear the error with the field: {read_out:?}"
    );
    let kept = browser
        .find("#f-resource")
        .await?
        .prop("value")
        .await
        .context("resource")?;
    ensure!(
        kept.as_deref() == Some("db:main"),
        "the resource typed was not kept: {kept:?}"
    );
    shot("04-rule-cycle").await?;
    // The summary's link moves the focus to the field at fault.
    browser
        .click(".notice-error a[href='#f-depends_on']")
        .await?;
    ensure!(
        browser.js("return document.activeElement.id;").await? == json!("f-depends_on"),
        "the error summary does not lead to the field"
    );

    // Edit: the form comes filled in; the resource cannot change.
    browser.goto(&format!("{url}/rules")).await?;
    browser
        .click(&format!("{homepage} a[href$='/edit']"))
        .await?;
    browser.wait_for_path("/rules/rul_").await?;
    let resource = browser.find("#f-resource").await?;
    ensure!(
        resource
            .attr("readonly")
            .await
            .context("readonly")?
            .is_some(),
        "the resource of a rule can be edited"
    );
    browser.fill("#f-capacity", "3").await?;
    shot("05-rule-edit").await?;
    browser.click(submit).await?;
    browser.wait_for_path("/rules?saved=").await?;
    let row = browser.text(homepage).await?;
    ensure!(
        row.contains('3'),
        "the edited capacity is not listed: {row:?}"
    );

    // A run on the catalog holds its closure (the homepage's rule is an
    // observe one, so a run there would hold nothing): on Active runs it is
    // one row, each resource with its own fencing token.
    browser.goto(&format!("{url}/agents")).await?;
    browser.fill("#agent-name", "web-bot").await?;
    browser.click("button[type=submit].btn-primary").await?;
    let key = browser
        .find("#api-key")
        .await?
        .prop("value")
        .await
        .context("reading the key")?
        .context("the key field")?;
    let agent = Client::builder()
        .base_url(url)
        .api_key(&key)
        .build()
        .context("building the SDK client")?;
    let start = StartRun::new("project:catalog")
        .context("resource")?
        .purpose("reindex the catalog");
    let RunStart::Claimed(guard) = agent.claim(start).await.context("run/start")? else {
        return Err("the run on the catalog was not granted a claim".into());
    };
    let held = guard.claim().resources.clone().unwrap_or_default();
    let names: Vec<&str> = held.iter().map(|p| p.resource.as_str()).collect();
    ensure!(
        names == ["project:catalog", "db:main"],
        "the catalog's claim does not hold its closure: {held:?}"
    );
    browser.goto(&format!("{url}/runs")).await?;
    let run_row = format!("tr[data-run-id='{}']", guard.run_id());
    let items = browser
        .find_all(&format!("{run_row} ul.claimed li"))
        .await?;
    ensure!(
        items.len() == held.len(),
        "the claim is not one row listing its {} resources: {} items",
        held.len(),
        items.len()
    );
    for (item, part) in items.iter().zip(&held) {
        let text = item.text().await.context("a resource of the row")?;
        ensure!(
            text.contains(&part.resource) && text.contains(&format!("#{}", part.fencing_token)),
            "{text:?} is not {} with token {}",
            part.resource,
            part.fencing_token
        );
    }
    ensure!(
        browser.find_all("tr[data-run-id]").await?.len() == 1,
        "a claim on several resources is shown as several rows"
    );
    shot("06-runs-several-resources").await?;
    guard
        .finish(availsync_sdk::Outcome::Succeeded)
        .await
        .context("finishing the run")?;
    browser.goto(&format!("{url}/rules")).await?;

    // Delete asks first.
    let catalog = "tr[data-resource='project:catalog']";
    browser
        .click(&format!("{catalog} a.btn-danger-quiet"))
        .await?;
    browser.wait_for_path("/rules/rul_").await?;
    ensure!(
        browser
            .text("h1")
            .await?
            .starts_with("Delete the rule for project:catalog"),
        "no delete confirmation page"
    );
    shot("07-rule-delete-confirm").await?;
    browser.click("button.btn-danger").await?;
    browser.wait_for_path("/rules?deleted=").await?;
    ensure!(
        browser
            .text(".notice-success")
            .await?
            .contains("was deleted"),
        "no deletion notice"
    );
    ensure!(
        browser.find_all(catalog).await?.is_empty(),
        "the deleted rule is still listed"
    );
    let closure = browser.text(&format!("{homepage} td.closure")).await?;
    ensure!(
        !closure.contains("db:main"),
        "the homepage still claims what the deleted rule added: {closure:?}"
    );
    shot("08-rules-after-delete").await?;
    // The refused form was answered `400`, which Chromium logs.
    console_is_clean(
        browser,
        &["/rules - Failed to load resource: the server responded with a status of 400"],
    )
    .await
}
