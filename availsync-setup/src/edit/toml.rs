//! TOML files (Codex), edited with `toml_edit` so comments, order and
//! formatting survive.

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table};

use super::{EditError, Edited, OWN_ENV, OWN_ENV_VARS};

/// A server entry for a `[mcp_servers.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlEntry {
    /// `command`.
    pub command: String,
    /// `args`.
    pub args: Vec<String>,
    /// `env`, in order.
    pub env: Vec<(String, String)>,
    /// `env_vars`: variables forwarded from the client's environment.
    pub env_vars: Vec<String>,
}

fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        EditError::Parse {
            what: "TOML",
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn strings(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

fn table_for(entry: &TomlEntry) -> Table {
    let mut table = Table::new();
    table["command"] = toml_edit::value(entry.command.as_str());
    table["args"] = toml_edit::value(strings(&entry.args));
    let mut env = InlineTable::new();
    for (k, v) in &entry.env {
        env.insert(k, v.as_str().into());
    }
    table["env"] = toml_edit::value(env);
    table["env_vars"] = toml_edit::value(strings(&entry.env_vars));
    table
}

/// Reads an entry leniently: what is missing or of another type reads as
/// empty; keys of the user's are ignored.
fn read(table: &dyn toml_edit::TableLike) -> TomlEntry {
    TomlEntry {
        command: table
            .get("command")
            .and_then(Item::as_str)
            .unwrap_or_default()
            .to_owned(),
        args: string_list(table.get("args")).unwrap_or_default(),
        env: table
            .get("env")
            .and_then(Item::as_table_like)
            .map(|env| {
                env.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.to_owned(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        env_vars: string_list(table.get("env_vars")).unwrap_or_default(),
    }
}

/// An array of strings; `None` when it is not one.
fn string_list(item: Option<&Item>) -> Option<Vec<String>> {
    item?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn servers<'a>(doc: &'a mut DocumentMut, key: &str) -> Result<&'a mut Table, EditError> {
    let root = doc.as_table_mut();
    if !root.contains_key(key) {
        let mut table = Table::new();
        table.set_implicit(true);
        root.insert(key, Item::Table(table));
    }
    root.get_mut(key)
        .and_then(Item::as_table_mut)
        .ok_or_else(|| EditError::Shape { key: key.into() })
}

/// The entry `[servers_key.name]`, if it exists, read leniently (see
/// [`read`]).
pub fn get(text: &str, servers_key: &str, name: &str) -> Result<Option<TomlEntry>, EditError> {
    let doc = parse(text)?;
    let Some(servers) = doc.get(servers_key) else {
        return Ok(None);
    };
    let servers = servers.as_table_like().ok_or_else(|| EditError::Shape {
        key: servers_key.into(),
    })?;
    Ok(servers.get(name).and_then(Item::as_table_like).map(read))
}

/// Adds `[servers_key.name]`, or updates it in place: `command`, `args`,
/// our variables in `env` ([`OWN_ENV`]) and in `env_vars`
/// ([`OWN_ENV_VARS`]) are set where they differ; every other key and
/// variable (e.g. `startup_timeout_sec`) is the user's and is kept.
pub fn upsert(
    text: &str,
    servers_key: &str,
    name: &str,
    entry: &TomlEntry,
) -> Result<Edited, EditError> {
    let mut doc = parse(text)?;
    let servers = servers(&mut doc, servers_key)?;
    let changed = match servers.get_mut(name).and_then(Item::as_table_like_mut) {
        Some(existing) => update(existing, entry),
        None => {
            servers.insert(name, Item::Table(table_for(entry)));
            true
        }
    };
    if !changed {
        return Ok(Edited::Unchanged);
    }
    let mut out = doc.to_string();
    if !text.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(Edited::Changed(out))
}

/// Brings an existing entry to `entry`, touching only what differs;
/// answers whether anything did.
fn update(existing: &mut dyn toml_edit::TableLike, entry: &TomlEntry) -> bool {
    let mut changed = false;
    if existing.get("command").and_then(Item::as_str) != Some(entry.command.as_str()) {
        existing.insert("command", toml_edit::value(entry.command.as_str()));
        changed = true;
    }
    if string_list(existing.get("args")).as_ref() != Some(&entry.args) {
        existing.insert("args", toml_edit::value(strings(&entry.args)));
        changed = true;
    }
    match existing.get_mut("env").and_then(Item::as_table_like_mut) {
        Some(env) => changed |= update_env(env, &entry.env),
        None => {
            let mut env = InlineTable::new();
            for (k, v) in &entry.env {
                env.insert(k, v.as_str().into());
            }
            existing.insert("env", toml_edit::value(env));
            changed = true;
        }
    }
    let current = string_list(existing.get("env_vars"));
    let mut wanted: Vec<String> = current
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !OWN_ENV_VARS.contains(&v.as_str()) || entry.env_vars.contains(v))
        .collect();
    for var in &entry.env_vars {
        if !wanted.contains(var) {
            wanted.push(var.clone());
        }
    }
    if current.as_ref() != Some(&wanted) {
        existing.insert("env_vars", toml_edit::value(strings(&wanted)));
        changed = true;
    }
    changed
}

/// Sets our variables in an existing `env`, removes ours the entry no
/// longer has, keeps the user's.
fn update_env(env: &mut dyn toml_edit::TableLike, wanted: &[(String, String)]) -> bool {
    let mut changed = false;
    for own in OWN_ENV {
        if !wanted.iter().any(|(k, _)| k == own) && env.remove(own).is_some() {
            changed = true;
        }
    }
    for (key, value) in wanted {
        if env.get(key).and_then(Item::as_str) != Some(value.as_str()) {
            env.insert(key, toml_edit::value(value.as_str()));
            changed = true;
        }
    }
    changed
}

/// Removes `[servers_key.name]`.
pub fn remove(text: &str, servers_key: &str, name: &str) -> Result<Edited, EditError> {
    let mut doc = parse(text)?;
    let Some(item) = doc.get_mut(servers_key) else {
        return Ok(Edited::Unchanged);
    };
    let servers = item.as_table_like_mut().ok_or_else(|| EditError::Shape {
        key: servers_key.into(),
    })?;
    if servers.remove(name).is_none() {
        return Ok(Edited::Unchanged);
    }
    Ok(Edited::Changed(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my codex config\nmodel = \"o3\"  # favourite\n\n[mcp_servers.docs]\ncommand = \"npx\" # node\nargs = [\"-y\", \"docs\"]\n\n[profiles.fast]\nmodel = \"mini\"\n";

    fn entry() -> TomlEntry {
        TomlEntry {
            command: "/bin/availsync-mcp".into(),
            args: vec![],
            env: vec![("AVAILSYNC_URL".into(), "http://x".into())],
            env_vars: vec!["AVAILSYNC_API_KEY".into()],
        }
    }

    #[test]
    fn upsert_keeps_the_rest_and_is_idempotent() {
        let Edited::Changed(after) = upsert(FILE, "mcp_servers", "availsync", &entry()).unwrap()
        else {
            panic!()
        };
        assert!(after.starts_with("# my codex config\nmodel = \"o3\"  # favourite\n\n[mcp_servers.docs]\ncommand = \"npx\" # node\n"), "{after}");
        assert!(
            after.contains("[profiles.fast]\nmodel = \"mini\"\n"),
            "{after}"
        );
        assert_eq!(
            get(&after, "mcp_servers", "availsync").unwrap(),
            Some(entry())
        );
        assert_eq!(
            upsert(&after, "mcp_servers", "availsync", &entry()).unwrap(),
            Edited::Unchanged
        );
        let Edited::Changed(removed) = remove(&after, "mcp_servers", "availsync").unwrap() else {
            panic!()
        };
        assert_eq!(removed, FILE);
    }

    #[test]
    fn broken_toml_reports_line_and_column() {
        let err = upsert("a = 1\nb = = 2\n", "mcp_servers", "availsync", &entry()).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
