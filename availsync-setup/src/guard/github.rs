//! GitHub Actions integration: step outputs and annotations.

use std::collections::HashMap;
use std::io::Write;

/// Under GitHub Actions, records a skip: `skipped=true` and the reason in
/// `$GITHUB_OUTPUT`, and a `::notice::` annotation on stdout.
pub fn report_skip(env: &HashMap<String, String>, reason: &str) {
    if env.get("GITHUB_ACTIONS").map(String::as_str) != Some("true") {
        return;
    }
    let one_line = reason.replace(['\r', '\n'], " ");
    if let Some(path) = env.get("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| writeln!(file, "skipped=true\nreason={one_line}"));
        if let Err(e) = written {
            eprintln!("availsync guard: could not write $GITHUB_OUTPUT ({path}): {e}");
        }
    }
    println!(
        "::notice title=Availsync skipped this step::{}",
        escape(&one_line)
    );
}

/// Escapes a workflow command's message.
fn escape(message: &str) -> String {
    message
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}
