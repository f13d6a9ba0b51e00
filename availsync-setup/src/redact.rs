//! Masks agent keys in text shown to people (diffs, plans): `avs_live_`
//! plus four characters, then `…`. Files on disk keep the real key; only
//! what is printed is masked.

/// The prefix of every agent key.
const PREFIX: &str = "avs_live_";
/// Characters kept after the prefix, to recognise which key it is.
const KEPT: usize = 4;
/// The variable whose value is always a key, whatever it looks like.
const KEY_VAR: &str = availsync_sdk::API_KEY_ENV;

/// A key as it may be shown: `avs_live_UDrf…`. A value without the prefix
/// shows nothing of itself.
pub fn mask(key: &str) -> String {
    match key.strip_prefix(PREFIX) {
        Some(rest) => format!("{PREFIX}{}…", rest.chars().take(KEPT).collect::<String>()),
        None => "…".to_owned(),
    }
}

/// `text` with every agent key masked: each `avs_live_…` token, and the
/// value of every `AVAILSYNC_API_KEY` assignment (`"AVAILSYNC_API_KEY":
/// "…"` in JSON, `AVAILSYNC_API_KEY = "…"` in TOML).
pub fn secrets(text: &str) -> String {
    let text = assigned_values(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let token = &rest[at..];
        let end = PREFIX.len()
            + token[PREFIX.len()..]
                .find(|c: char| !is_key_char(c))
                .unwrap_or(token.len() - PREFIX.len());
        out.push_str(&mask(&token[..end]));
        rest = &token[end..];
    }
    out.push_str(rest);
    out
}

/// Base64url, the alphabet of the random part of a key.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Masks the quoted value after each `AVAILSYNC_API_KEY` name followed by
/// `:` or `=`.
fn assigned_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY_VAR) {
        let after_name = at + KEY_VAR.len();
        out.push_str(&rest[..after_name]);
        rest = &rest[after_name..];
        // `"AVAILSYNC_API_KEY": "value"` or `AVAILSYNC_API_KEY = "value"`.
        let Some(value_at) = quoted_value_start(rest) else {
            continue;
        };
        let Some(len) = rest[value_at..].find('"') else {
            continue;
        };
        let value = &rest[value_at..value_at + len];
        if value.starts_with(PREFIX) {
            // Masked with every other token.
            continue;
        }
        out.push_str(&rest[..value_at]);
        out.push_str(&mask(value));
        rest = &rest[value_at + len..];
    }
    out.push_str(rest);
    out
}

/// Where the value starts in `": "value"` / ` = "value"`, if the text has
/// that shape.
fn quoted_value_start(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().peekable();
    if let Some((_, '"')) = chars.peek() {
        chars.next();
    }
    let mut seen_separator = false;
    for (at, c) in chars {
        match c {
            ' ' | '\t' => {}
            ':' | '=' if !seen_separator => seen_separator = true,
            '"' if seen_separator => return Some(at + 1),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_prefix_and_four_characters() {
        assert_eq!(
            mask("avs_live_UDrfq8xKx3b0Lk_2-vYhTq0mZq4n8bS1aW7cQeR5uJo"),
            "avs_live_UDrf…"
        );
        assert_eq!(mask("hunter2"), "…");
    }

    #[test]
    fn every_key_in_a_diff_is_masked() {
        let diff = "+      \"AVAILSYNC_API_KEY\": \"avs_live_UDrfq8xKx3b0Lk_2-vYhTq0m\",\n-AVAILSYNC_API_KEY = \"plain-secret\"\n+env = { AVAILSYNC_URL = \"http://x\", AVAILSYNC_API_KEY = \"avs_live_abcdefgh\" }\n";
        let masked = secrets(diff);
        assert!(!masked.contains("q8xKx3b0"), "{masked}");
        assert!(!masked.contains("plain-secret"), "{masked}");
        assert!(!masked.contains("efgh"), "{masked}");
        assert!(
            masked.contains("\"AVAILSYNC_API_KEY\": \"avs_live_UDrf…\","),
            "{masked}"
        );
        assert!(masked.contains("AVAILSYNC_API_KEY = \"…\""), "{masked}");
        assert!(masked.contains("AVAILSYNC_URL = \"http://x\""), "{masked}");
        assert_eq!(secrets("no secrets here"), "no secrets here");
    }
}
