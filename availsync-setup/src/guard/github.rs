//! GitHub Actions integration: step outputs and annotations.
//!
//! Whenever `$GITHUB_OUTPUT` names a file, the guard appends what it
//! decided: `skipped=true`, `reason=…` and `run_id=…` on a skip;
//! `skipped=false`, `run_id=…` and `fencing_token=…` when it runs the
//! command. A skip under GitHub Actions also prints a `::notice::`
//! annotation.

use std::collections::HashMap;
use std::io::Write;

/// Records a skip: the step outputs, and a `::notice::` annotation on
/// stdout under GitHub Actions.
pub fn report_skip(env: &HashMap<String, String>, run_id: &str, reason: &str) {
    let one_line = reason.replace(['\r', '\n'], " ");
    write_outputs(
        env,
        &[
            ("skipped", "true".to_owned()),
            ("reason", one_line.clone()),
            ("run_id", run_id.to_owned()),
        ],
    );
    if env.get("GITHUB_ACTIONS").map(String::as_str) == Some("true") {
        println!(
            "::notice title=Availsync skipped this step::{}",
            escape(&one_line)
        );
    }
}

/// Records that the command runs: `skipped=false`, and the run id and
/// fencing token when there are any (none without a claim: `--fail-open`,
/// observe mode has no token).
pub fn report_proceed(env: &HashMap<String, String>, run_id: Option<&str>, token: Option<u64>) {
    let mut outputs = vec![("skipped", "false".to_owned())];
    if let Some(run_id) = run_id {
        outputs.push(("run_id", run_id.to_owned()));
    }
    if let Some(token) = token {
        outputs.push(("fencing_token", token.to_string()));
    }
    write_outputs(env, &outputs);
}

/// Appends `name=value` lines to `$GITHUB_OUTPUT`, when it is set.
fn write_outputs(env: &HashMap<String, String>, outputs: &[(&str, String)]) {
    let Some(path) = env.get("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return;
    };
    let lines: String = outputs
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(lines.as_bytes()));
    if let Err(e) = written {
        eprintln!("availsync guard: could not write $GITHUB_OUTPUT ({path}): {e}");
    }
}

/// Escapes a workflow command's message.
fn escape(message: &str) -> String {
    message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
