//! How the hook tells its client the outcome: nothing at all to let an
//! edit go ahead (the client's own permission rules still apply), or a
//! denial in every form the client documents — exit code 2 with the
//! reason on stderr, and the client's JSON denial on stdout — since each
//! form alone has been seen to fail (Claude Code issues #80039, #86655).

use std::io::Write;

use serde_json::json;

use super::HookClient;
use super::claim::Blocker;

/// The exit code that blocks in every supported client.
pub const BLOCK: u8 = 2;

/// Lets the action go ahead: exit 0, nothing printed.
pub const ALLOW: u8 = 0;

/// Denies the action with `reason`; answers the exit code.
pub fn deny(client: HookClient, reason: &str) -> u8 {
    let json = match client {
        // Claude Code and Codex read the same `hookSpecificOutput`
        // (CC-docs/hooks.md "PreToolUse decision control";
        // openai/codex codex-rs/hooks/src/events/pre_tool_use.rs).
        HookClient::ClaudeCode | HookClient::Codex => json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        }),
        // gemini-cli docs/hooks/reference.md.
        HookClient::Gemini => json!({"decision": "deny", "reason": reason}),
    };
    // A closed stream cannot be reported anywhere; the exit code still
    // blocks.
    let _ = writeln!(std::io::stdout().lock(), "{json}");
    let _ = writeln!(std::io::stderr().lock(), "{reason}");
    BLOCK
}

/// The reason given when others hold paths of the edit: who, which
/// paths, until when.
pub fn held(files: &str, blockers: &[Blocker]) -> String {
    const LISTED: usize = 3;
    let mut lines: Vec<String> = blockers
        .iter()
        .take(LISTED)
        .map(|b| {
            let theirs = match &b.held_paths {
                Some(paths) if paths.iter().any(|p| p != &b.path) => {
                    format!(" (they hold {})", paths.join(", "))
                }
                Some(_) => String::new(),
                None => " (they hold the whole repository)".to_owned(),
            };
            format!(
                "{} is held by agent '{}', run {}, until {}{theirs}",
                if b.path.is_empty() {
                    "the repository"
                } else {
                    &b.path
                },
                b.holder.agent_name,
                b.holder.run_id,
                b.holder.expires_at,
            )
        })
        .collect();
    if blockers.len() > LISTED {
        lines.push(format!("and {} more", blockers.len() - LISTED));
    }
    format!(
        "Availsync: do not edit {files} now: another agent is working on it. {}. Work on other files meanwhile, or tell the user who holds it; editing it later is fine once the claim ends (it lapses at the time given unless renewed).",
        lines.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use availsync_sdk::types::Holder;

    fn blocker(path: &str, held: Option<Vec<&str>>) -> Blocker {
        Blocker {
            path: path.into(),
            holder: Holder {
                agent_id: "agt_1".into(),
                agent_name: "alice-laptop".into(),
                run_id: "claude-s1".into(),
                expires_at: "2026-12-07T18:05:00.000Z".parse().unwrap(),
            },
            held_paths: held.map(|h| h.into_iter().map(str::to_owned).collect()),
        }
    }

    #[test]
    fn the_reason_names_the_holder_the_run_and_the_time() {
        let reason = held(
            "src/a.rs in repo:acme/web",
            &[blocker("src/a.rs", Some(vec!["src/**"]))],
        );
        assert!(
            reason.contains("src/a.rs is held by agent 'alice-laptop', run claude-s1, until 2026-12-07T18:05:00.000Z (they hold src/**)"),
            "{reason}"
        );
        let whole = held("x", &[blocker("src/a.rs", None)]);
        assert!(whole.contains("the whole repository"), "{whole}");
        let many: Vec<Blocker> = (0..5)
            .map(|i| blocker(&format!("f{i}"), Some(vec![])))
            .collect();
        assert!(held("x", &many).contains("and 2 more"));
    }
}
