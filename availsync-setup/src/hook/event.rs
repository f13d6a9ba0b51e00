//! The events a client sends its hook on stdin, read per client: which
//! files an edit is about to change, or that a session ended. Everything
//! else — other tools, other events, and events of other clients reading
//! the same settings file (VS Code's Copilot and Continue read
//! `~/.claude/settings.json` too, with differently shaped events) — is
//! [`Event::Other`], which the hook lets pass silently.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::HookClient;

/// What the hook was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A tool is about to change these files.
    Edit(Edit),
    /// The session ended: release what it holds.
    SessionEnd {
        /// The session.
        session_id: String,
    },
    /// Anything else: let it pass.
    Other,
}

/// An edit about to happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The session.
    pub session_id: String,
    /// The files it changes, absolute (relative ones resolved against the
    /// event's `cwd`, else the hook's working directory).
    pub files: Vec<PathBuf>,
}

/// An event of a handled kind that lacks what the hook needs.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("the event on stdin is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field is missing or has the wrong type.
    #[error("the {event} event has no {field}")]
    Missing {
        /// The event.
        event: &'static str,
        /// The field.
        field: &'static str,
    },
}

/// Claude Code's edit tools and the input field naming the file.
const CLAUDE_EDIT_TOOLS: [(&str, &str); 4] = [
    ("Edit", "file_path"),
    ("Write", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

/// Gemini CLI's edit tools, both with `file_path`.
const GEMINI_EDIT_TOOLS: [&str; 2] = ["write_file", "replace"];

/// Reads `input` as `client` sends it.
pub fn parse(client: HookClient, input: &str) -> Result<Event, EventError> {
    let event: Value = serde_json::from_str(input)?;
    let name = event["hook_event_name"].as_str().unwrap_or_default();
    match (client, name) {
        (HookClient::ClaudeCode | HookClient::Gemini, "SessionEnd") => Ok(Event::SessionEnd {
            session_id: session_id(&event, "SessionEnd")?,
        }),
        (HookClient::ClaudeCode, "PreToolUse") => {
            let tool = event["tool_name"].as_str().unwrap_or_default();
            let Some((_, field)) = CLAUDE_EDIT_TOOLS.iter().find(|(name, _)| *name == tool) else {
                return Ok(Event::Other);
            };
            let file = path_field(&event, field, "PreToolUse")?;
            edit(&event, "PreToolUse", vec![file])
        }
        (HookClient::Gemini, "BeforeTool") => {
            let tool = event["tool_name"].as_str().unwrap_or_default();
            if !GEMINI_EDIT_TOOLS.contains(&tool) {
                return Ok(Event::Other);
            }
            let file = path_field(&event, "file_path", "BeforeTool")?;
            edit(&event, "BeforeTool", vec![file])
        }
        (HookClient::Codex, "PreToolUse") => {
            let tool = event["tool_name"].as_str().unwrap_or_default();
            if tool != "apply_patch" {
                return Ok(Event::Other);
            }
            // The raw patch is `tool_input.command` (openai/codex#18391).
            let input = &event["tool_input"];
            let patch = ["command", "patch", "input"]
                .iter()
                .find_map(|key| input[*key].as_str())
                .ok_or(EventError::Missing {
                    event: "PreToolUse",
                    field: "tool_input.command",
                })?;
            let files = super::patch::files(patch);
            edit(&event, "PreToolUse", files)
        }
        _ => Ok(Event::Other),
    }
}

fn session_id(event: &Value, name: &'static str) -> Result<String, EventError> {
    event["session_id"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
        .ok_or(EventError::Missing {
            event: name,
            field: "session_id",
        })
}

fn path_field(
    event: &Value,
    field: &'static str,
    name: &'static str,
) -> Result<String, EventError> {
    event["tool_input"][field]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or(EventError::Missing { event: name, field })
}

fn edit(event: &Value, name: &'static str, files: Vec<String>) -> Result<Event, EventError> {
    let session_id = session_id(event, name)?;
    let cwd = event["cwd"]
        .as_str()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::current_dir().ok());
    let files = files
        .into_iter()
        .map(|file| absolute(Path::new(&file), cwd.as_deref()))
        .collect();
    Ok(Event::Edit(Edit { session_id, files }))
}

fn absolute(file: &Path, cwd: Option<&Path>) -> PathBuf {
    match cwd {
        Some(cwd) if !file.is_absolute() => cwd.join(file),
        _ => file.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit_files(client: HookClient, event: Value) -> (String, Vec<PathBuf>) {
        match parse(client, &event.to_string()).unwrap() {
            Event::Edit(edit) => (edit.session_id, edit.files),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn claude_codes_edit_tools_name_their_file() {
        for (tool, field) in CLAUDE_EDIT_TOOLS {
            let event = json!({
                "session_id": "s1", "cwd": "/home/u/p", "hook_event_name": "PreToolUse",
                "tool_name": tool, "tool_input": {field: "/home/u/p/src/a.rs"},
                "tool_use_id": "toolu_1"
            });
            assert_eq!(
                edit_files(HookClient::ClaudeCode, event),
                ("s1".into(), vec![PathBuf::from("/home/u/p/src/a.rs")])
            );
        }
    }

    #[test]
    fn other_tools_events_and_shapes_pass() {
        for event in [
            json!({"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_input": {"command": "ls"}}),
            json!({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Edit",
                   "tool_input": {"file_path": "/a"}}),
            // VS Code's Copilot reads ~/.claude/settings.json and ignores
            // the matcher; its events are camelCase.
            json!({"sessionId": "s", "hookEventName": "PreToolUse", "tool_name": "create_file",
                   "tool_input": {"filePath": "/a"}}),
            json!({"hook_event_name": "SessionStart", "session_id": "s"}),
            json!({}),
        ] {
            assert_eq!(
                parse(HookClient::ClaudeCode, &event.to_string()).unwrap(),
                Event::Other,
                "{event}"
            );
        }
    }

    #[test]
    fn a_handled_event_without_its_fields_is_an_error() {
        let no_path = json!({"session_id": "s", "hook_event_name": "PreToolUse",
                             "tool_name": "Edit", "tool_input": {}});
        assert!(parse(HookClient::ClaudeCode, &no_path.to_string()).is_err());
        let no_session = json!({"hook_event_name": "PreToolUse", "tool_name": "Write",
                                "tool_input": {"file_path": "/a"}});
        assert!(parse(HookClient::ClaudeCode, &no_session.to_string()).is_err());
        assert!(parse(HookClient::ClaudeCode, "not json").is_err());
    }

    #[test]
    fn relative_paths_are_resolved_against_the_events_cwd() {
        let event = json!({"session_id": "g1", "cwd": "/w/proj", "hook_event_name": "BeforeTool",
                           "tool_name": "replace", "tool_input": {"file_path": "src/a.rs"}});
        assert_eq!(
            edit_files(HookClient::Gemini, event),
            ("g1".into(), vec![PathBuf::from("/w/proj/src/a.rs")])
        );
        let read = json!({"session_id": "g1", "hook_event_name": "BeforeTool",
                          "tool_name": "read_file", "tool_input": {"file_path": "a"}});
        assert_eq!(
            parse(HookClient::Gemini, &read.to_string()).unwrap(),
            Event::Other
        );
    }

    #[test]
    fn session_end_names_the_session() {
        let event = json!({"session_id": "s9", "hook_event_name": "SessionEnd", "reason": "clear"});
        assert_eq!(
            parse(HookClient::ClaudeCode, &event.to_string()).unwrap(),
            Event::SessionEnd {
                session_id: "s9".into()
            }
        );
    }

    #[test]
    fn codex_patches_name_every_file_they_touch() {
        let patch = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: /abs/new.rs\n+z\n*** End Patch\n";
        let event = json!({"session_id": "thread-1", "turn_id": "t", "cwd": "/repo",
                           "hook_event_name": "PreToolUse", "tool_name": "apply_patch",
                           "tool_input": {"command": patch}, "tool_use_id": "c1"});
        assert_eq!(
            edit_files(HookClient::Codex, event),
            (
                "thread-1".into(),
                vec![
                    PathBuf::from("/repo/src/a.rs"),
                    PathBuf::from("/abs/new.rs")
                ]
            )
        );
        let shell = json!({"session_id": "t", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                           "tool_input": {"command": "*** Add File: x"}});
        assert_eq!(
            parse(HookClient::Codex, &shell.to_string()).unwrap(),
            Event::Other
        );
    }
}
