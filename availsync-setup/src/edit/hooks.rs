//! Hook entries in settings files shaped like Claude Code's (Claude Code's
//! `settings.json`, Gemini CLI's `settings.json`, Codex's `hooks.json`):
//! `hooks.<Event>` is a list of matcher groups, each
//! `{"matcher": …, "hooks": [handler, …]}`. Only handlers that are ours
//! are added or taken out; other groups, other handlers, other events and
//! every other key stay as they were (edited through the same concrete
//! syntax tree as the MCP entries).

use jsonc_parser::cst::{CstArray, CstObject};
use serde_json::Value;

use super::json::{parse, to_input};
use super::{EditError, Edited};

/// Makes each `(event, group)` of `wanted` the only place our handler
/// sits in `hooks.<event>`: an event already so is left alone; otherwise
/// our handlers are taken out of its groups (and groups left empty with
/// them) and `group` is appended. `ours` tells our handlers.
pub fn upsert(
    text: &str,
    wanted: &[(&str, Value)],
    ours: impl Fn(&Value) -> bool,
) -> Result<Edited, EditError> {
    let blank = text.trim().is_empty();
    let source = if blank { "{\n}\n" } else { text };
    let root = parse(source)?;
    let object = root.object_value_or_set();
    let hooks = object_at(&object, "hooks")?;
    let mut changed = false;
    for (event, group) in wanted {
        let shape = || EditError::Shape {
            key: format!("hooks.{event}"),
        };
        let list = match hooks.get(event) {
            Some(prop) => prop.array_value().ok_or_else(shape)?,
            None => hooks.array_value_or_create(event).ok_or_else(shape)?,
        };
        if is_only(&list, group, &ours) {
            continue;
        }
        take_out(&list, &ours);
        list.append(to_input(group));
        list.ensure_multiline();
        changed = true;
    }
    if !changed && !blank {
        return Ok(Edited::Unchanged);
    }
    hooks.ensure_multiline();
    Ok(Edited::Changed(root.to_string()))
}

/// Takes every handler of ours out of every event, with the groups,
/// events and `hooks` object left empty by that.
pub fn remove(text: &str, ours: impl Fn(&Value) -> bool) -> Result<Edited, EditError> {
    if text.trim().is_empty() {
        return Ok(Edited::Unchanged);
    }
    let root = parse(text)?;
    let Some(object) = root.object_value() else {
        return Ok(Edited::Unchanged);
    };
    let Some(hooks_prop) = object.get("hooks") else {
        return Ok(Edited::Unchanged);
    };
    let hooks = hooks_prop.object_value().ok_or_else(|| EditError::Shape {
        key: "hooks".into(),
    })?;
    let mut changed = false;
    for prop in hooks.properties() {
        let Some(list) = prop.array_value() else {
            continue;
        };
        if take_out(&list, &ours) {
            changed = true;
            if list.elements().is_empty() {
                prop.remove();
            }
        }
    }
    if !changed {
        return Ok(Edited::Unchanged);
    }
    if hooks.properties().is_empty() {
        hooks_prop.remove();
    }
    Ok(Edited::Changed(root.to_string()))
}

/// Our handlers, with the event each is under.
#[cfg(test)]
pub fn find(text: &str, ours: impl Fn(&Value) -> bool) -> Result<Vec<(String, Value)>, EditError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value = parse(text)?.to_serde_value().unwrap_or(Value::Null);
    let mut found = Vec::new();
    if let Some(events) = value["hooks"].as_object() {
        for (event, groups) in events {
            for group in groups.as_array().into_iter().flatten() {
                for handler in group["hooks"].as_array().into_iter().flatten() {
                    if ours(handler) {
                        found.push((event.clone(), handler.clone()));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// `object.key`, created empty when missing.
fn object_at(object: &CstObject, key: &str) -> Result<CstObject, EditError> {
    let shape = || EditError::Shape { key: key.into() };
    match object.get(key) {
        Some(prop) => prop.object_value().ok_or_else(shape),
        None => object.object_value_or_create(key).ok_or_else(shape),
    }
}

/// Whether `list` holds exactly one handler of ours, in a group equal to
/// `group`.
fn is_only(list: &CstArray, group: &Value, ours: &impl Fn(&Value) -> bool) -> bool {
    let groups: Vec<Value> = list
        .elements()
        .iter()
        .filter_map(|node| node.to_serde_value())
        .collect();
    let count: usize = groups
        .iter()
        .map(|g| {
            g["hooks"]
                .as_array()
                .map_or(0, |handlers| handlers.iter().filter(|h| ours(h)).count())
        })
        .sum();
    count == 1 && groups.iter().any(|g| g == group)
}

/// Removes our handlers from the groups of `list`, and the groups that
/// held nothing else; answers whether it removed any.
fn take_out(list: &CstArray, ours: &impl Fn(&Value) -> bool) -> bool {
    let mut removed = false;
    for node in list.elements() {
        let Some(handlers) = node
            .as_object()
            .and_then(|group| group.get("hooks"))
            .and_then(|prop| prop.array_value())
        else {
            continue;
        };
        let mut here = false;
        for handler in handlers.elements() {
            if handler.to_serde_value().is_some_and(|h| ours(&h)) {
                handler.remove();
                here = true;
            }
        }
        if here && handlers.elements().is_empty() {
            node.remove();
        }
        removed |= here;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ours(handler: &Value) -> bool {
        handler["command"]
            .as_str()
            .is_some_and(|c| c.contains("availsync-setup hook"))
    }

    fn group() -> Value {
        json!({"matcher": "Edit|Write", "hooks": [
            {"type": "command", "command": "/bin/availsync-setup hook --client claude-code", "timeout": 30}
        ]})
    }

    const SETTINGS: &str = r#"{
  "model": "opus",
  "permissions": { "allow": ["Bash(ls:*)"] },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [ { "type": "command", "command": "~/bin/check-bash" } ]
      },
      {
        "matcher": "Edit|Write",
        "hooks": [
          { "type": "command", "command": "prettier --check" },
          { "type": "command", "command": "/old/availsync-setup hook --client claude-code" }
        ]
      }
    ],
    "Stop": [ { "hooks": [ { "type": "command", "command": "say done" } ] } ]
  }
}
"#;

    #[test]
    fn our_handler_replaces_an_old_one_and_everything_else_stays() {
        let wanted = [
            ("PreToolUse", group()),
            (
                "SessionEnd",
                json!({"hooks": [
                    {"type": "command", "command": "/bin/availsync-setup hook --client claude-code"}
                ]}),
            ),
        ];
        let Edited::Changed(after) = upsert(SETTINGS, &wanted, ours).unwrap() else {
            panic!("expected a change")
        };
        let value: Value = serde_json::from_str(&after).expect("strict JSON");
        assert_eq!(value["model"], "opus");
        assert_eq!(value["permissions"], json!({"allow": ["Bash(ls:*)"]}));
        assert_eq!(value["hooks"]["Stop"][0]["hooks"][0]["command"], "say done");
        let pre = value["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(pre.len(), 3);
        assert_eq!(pre[0]["hooks"][0]["command"], "~/bin/check-bash");
        // The user's handler stays in its group; ours left it.
        assert_eq!(
            pre[1]["hooks"],
            json!([{ "type": "command", "command": "prettier --check" }])
        );
        assert_eq!(pre[2], group());
        assert_eq!(find(&after, ours).unwrap().len(), 2);

        assert_eq!(upsert(&after, &wanted, ours).unwrap(), Edited::Unchanged);

        let Edited::Changed(removed) = remove(&after, ours).unwrap() else {
            panic!("expected a change")
        };
        let value: Value = serde_json::from_str(&removed).unwrap();
        assert!(find(&removed, ours).unwrap().is_empty());
        assert_eq!(value["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
        assert!(value["hooks"].get("SessionEnd").is_none(), "{removed}");
        assert_eq!(remove(&removed, ours).unwrap(), Edited::Unchanged);
    }

    #[test]
    fn a_missing_file_gets_only_our_hooks_and_removing_them_empties_it() {
        let Edited::Changed(after) = upsert("", &[("PreToolUse", group())], ours).unwrap() else {
            panic!()
        };
        assert_eq!(
            serde_json::from_str::<Value>(&after).unwrap(),
            json!({"hooks": {"PreToolUse": [group()]}})
        );
        let Edited::Changed(removed) = remove(&after, ours).unwrap() else {
            panic!()
        };
        assert_eq!(serde_json::from_str::<Value>(&removed).unwrap(), json!({}));
    }

    #[test]
    fn hooks_of_the_wrong_shape_are_refused() {
        let err = upsert(r#"{"hooks": []}"#, &[("PreToolUse", group())], ours).unwrap_err();
        assert!(err.to_string().contains("`hooks`"), "{err}");
        let err = upsert(
            r#"{"hooks": {"PreToolUse": {}}}"#,
            &[("PreToolUse", group())],
            ours,
        )
        .unwrap_err();
        assert!(err.to_string().contains("hooks.PreToolUse"), "{err}");
    }

    #[test]
    fn two_copies_of_ours_collapse_into_one() {
        let twice = json!({"hooks": {"PreToolUse": [group(), group()]}}).to_string();
        let Edited::Changed(after) = upsert(&twice, &[("PreToolUse", group())], ours).unwrap()
        else {
            panic!()
        };
        let value: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(value["hooks"]["PreToolUse"], json!([group()]));
    }
}
