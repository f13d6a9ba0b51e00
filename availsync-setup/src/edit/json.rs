//! JSON and JSON-with-comments files, edited through a concrete syntax tree
//! (`jsonc-parser`'s CST) so comments and formatting survive.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use serde_json::Value;

use super::{EditError, Edited, OWN_ENV};

fn options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        ..ParseOptions::default()
    }
}

pub(super) fn parse(text: &str) -> Result<CstRootNode, EditError> {
    let root = CstRootNode::parse(text, &options()).map_err(|e| EditError::Parse {
        what: "JSON",
        line: e.line_display(),
        column: e.column_display(),
        message: e.kind().to_string(),
    })?;
    match root.value() {
        None => Ok(root),
        Some(node) if node.as_object().is_some() => Ok(root),
        Some(_) => Err(EditError::Shape {
            key: "(top level)".into(),
        }),
    }
}

/// Converts a JSON value to the CST's input form (object keys keep their
/// order).
pub fn to_input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(to_input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), to_input(v))).collect())
        }
    }
}

/// The current value of `servers_key.name`, if any.
pub fn get(text: &str, servers_key: &str, name: &str) -> Result<Option<Value>, EditError> {
    let root = parse(text)?;
    let Some(object) = root.object_value() else {
        return Ok(None);
    };
    let Some(servers) = object.get(servers_key) else {
        return Ok(None);
    };
    let servers = servers.object_value().ok_or_else(|| EditError::Shape {
        key: servers_key.into(),
    })?;
    Ok(servers.get(name).and_then(|p| p.to_serde_value()))
}

/// Sets `servers_key.name` to `entry` (keys written in the given order),
/// creating the file's object and the servers object where missing.
///
/// An existing entry is updated in place: each of `entry`'s keys is set
/// where its value differs, keys the user added are kept, and in `env` only
/// the variables in [`OWN_ENV`] are set or removed — the user's own stay.
pub fn upsert(
    text: &str,
    servers_key: &str,
    name: &str,
    entry: &[(String, Value)],
) -> Result<Edited, EditError> {
    let blank = text.trim().is_empty();
    let source = if blank { "{\n}\n" } else { text };
    let root = parse(source)?;
    let object = root.object_value_or_set();
    let servers = match object.get(servers_key) {
        Some(prop) => prop.object_value().ok_or_else(|| EditError::Shape {
            key: servers_key.into(),
        })?,
        None => object
            .object_value_or_create(servers_key)
            .ok_or_else(|| EditError::Shape {
                key: servers_key.into(),
            })?,
    };
    let changed = match servers.get(name) {
        Some(prop) => match prop.object_value() {
            Some(existing) => update(&existing, entry),
            None => {
                prop.set_value(object_input(entry));
                true
            }
        },
        None => {
            servers.append(name, object_input(entry));
            true
        }
    };
    if !changed && !blank {
        return Ok(Edited::Unchanged);
    }
    servers.ensure_multiline();
    Ok(Edited::Changed(root.to_string()))
}

fn object_input(entry: &[(String, Value)]) -> CstInputValue {
    CstInputValue::Object(
        entry
            .iter()
            .map(|(k, v)| (k.clone(), to_input(v)))
            .collect(),
    )
}

/// Brings an existing entry to `entry`, touching only what differs;
/// answers whether anything did.
fn update(existing: &CstObject, entry: &[(String, Value)]) -> bool {
    let mut changed = false;
    for (key, value) in entry {
        let env = existing.get(key).and_then(|prop| prop.object_value());
        changed |= match (key.as_str(), value, env) {
            ("env", Value::Object(wanted), Some(current)) => update_env(&current, wanted),
            _ => set(existing, key, value),
        };
    }
    changed
}

/// Sets our variables in an existing `env`, removes ours that `wanted` no
/// longer has (a key no longer embedded), keeps the user's.
fn update_env(current: &CstObject, wanted: &serde_json::Map<String, Value>) -> bool {
    let mut changed = false;
    for own in OWN_ENV {
        if !wanted.contains_key(own)
            && let Some(prop) = current.get(own)
        {
            prop.remove();
            changed = true;
        }
    }
    for (key, value) in wanted {
        changed |= set(current, key, value);
    }
    changed
}

/// Sets `object.key` to `value` unless it already holds it; answers
/// whether it did.
fn set(object: &CstObject, key: &str, value: &Value) -> bool {
    match object.get(key) {
        Some(prop) if prop.value().and_then(|v| v.to_serde_value()).as_ref() == Some(value) => {
            false
        }
        Some(prop) => {
            prop.set_value(to_input(value));
            true
        }
        None => {
            object.append(key, to_input(value));
            true
        }
    }
}

/// Removes `servers_key.name`, leaving everything else as it was.
pub fn remove(text: &str, servers_key: &str, name: &str) -> Result<Edited, EditError> {
    if text.trim().is_empty() {
        return Ok(Edited::Unchanged);
    }
    let root = parse(text)?;
    let Some(object) = root.object_value() else {
        return Ok(Edited::Unchanged);
    };
    let Some(servers) = object.get(servers_key) else {
        return Ok(Edited::Unchanged);
    };
    let servers = servers.object_value().ok_or_else(|| EditError::Shape {
        key: servers_key.into(),
    })?;
    match servers.get(name) {
        Some(prop) => {
            prop.remove();
            Ok(Edited::Changed(root.to_string()))
        }
        None => Ok(Edited::Unchanged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"{
  // my servers
  "mcpServers": {
    "github": { "command": "docker", "args": ["run"] }, // keep me
    /* block */ "other": {"command":"x"},
  },
  "theme": "dark"
}
"#;

    #[test]
    fn upsert_keeps_comments_and_is_idempotent() {
        let pairs = vec![
            ("command".to_owned(), json!("/bin/availsync-mcp")),
            ("args".to_owned(), json!([])),
            ("env".to_owned(), json!({"AVAILSYNC_URL": "http://x"})),
        ];
        let entry = Value::Object(pairs.iter().cloned().collect());
        let Edited::Changed(after) = upsert(FILE, "mcpServers", "availsync", &pairs).unwrap()
        else {
            panic!("expected a change")
        };
        assert!(
            after.contains("// keep me")
                && after.contains("/* block */")
                && after.contains("// my servers"),
            "{after}"
        );
        assert_eq!(
            get(&after, "mcpServers", "availsync").unwrap(),
            Some(entry.clone())
        );
        assert_eq!(
            upsert(&after, "mcpServers", "availsync", &pairs).unwrap(),
            Edited::Unchanged
        );
        let Edited::Changed(removed) = remove(&after, "mcpServers", "availsync").unwrap() else {
            panic!("expected a change")
        };
        assert_eq!(get(&removed, "mcpServers", "availsync").unwrap(), None);
        assert!(removed.contains("// keep me"));
    }

    #[test]
    fn broken_files_report_line_and_column() {
        let err = upsert(
            "{\n  \"a\": 1,\n  \"b\" 2\n}\n",
            "mcpServers",
            "availsync",
            &[],
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn an_empty_file_gets_a_fresh_object() {
        let Edited::Changed(after) = upsert(
            "",
            "servers",
            "availsync",
            &[("type".to_owned(), json!("stdio"))],
        )
        .unwrap() else {
            panic!()
        };
        let value: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(value, json!({"servers": {"availsync": {"type": "stdio"}}}));
    }
}
