//! In-place edits of client configuration files that keep every comment,
//! blank line, key order and other entry as it was: only one named server
//! entry is added, replaced or removed.

pub mod backups;
pub mod fsio;
pub mod hooks;
pub mod json;
pub mod toml;

/// The variables of an entry's `env` that belong to Availsync: an update
/// sets them from the new entry, or removes them when it has none (a key
/// that is no longer embedded). Every other variable is the user's and is
/// kept.
pub const OWN_ENV: [&str; 3] = [
    availsync_sdk::URL_ENV,
    availsync_sdk::URL_ENV_ALIAS,
    availsync_sdk::API_KEY_ENV,
];

/// The variables Codex forwards from its own environment for our entry
/// (`env_vars`): an update adds the ones the new entry lists and removes
/// the others of these; the user's own stay.
pub const OWN_ENV_VARS: [&str; 2] = [
    availsync_sdk::API_KEY_ENV,
    availsync_sdk::credentials::CREDENTIALS_FILE_ENV,
];

/// Why a configuration file could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file does not parse; it is left untouched.
    #[error(
        "{what} does not parse at line {line}, column {column}: {message}; it was left untouched — fix it, then run again"
    )]
    Parse {
        /// The kind of file (JSON, TOML).
        what: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// The file parses, but a value on the path to the entry has the wrong
    /// type (e.g. `mcpServers` is an array).
    #[error("`{key}` is not an object/table in this file; it was left untouched")]
    Shape {
        /// The key whose value has the wrong type.
        key: String,
    },
}

/// What an edit did to the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited {
    /// The text already said exactly this; nothing to write.
    Unchanged,
    /// The new text.
    Changed(String),
}
