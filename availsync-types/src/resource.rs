//! Resource keys: `<type>:<key>`, parsed, validated and normalised once for
//! every component.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::UnicodeGeneralCategory;

/// Longest resource type, in characters.
pub const MAX_TYPE_LEN: usize = 32;
/// Longest key of a non-repo resource, in characters.
pub const MAX_KEY_LEN: usize = 200;
/// Longest segment (`owner` or `name`) of a repo key, in characters.
pub const MAX_REPO_SEGMENT_LEN: usize = 100;

/// Resource types that work claims (`run/start`) accept. Holds accept any type.
pub const CLAIMABLE_TYPES: [&str; 2] = ["repo", "project"];

/// A validated, normalised resource key such as `repo:acme/web` or
/// `calendar:team-eng`.
///
/// `repo` keys are lower-cased, so `repo:Acme/Web` and `repo:acme/web` name the
/// same resource.
///
/// ```
/// use availsync_types::ResourceKey;
///
/// let key: ResourceKey = "repo:Acme/Web".parse()?;
/// assert_eq!(key.as_str(), "repo:acme/web");
/// assert_eq!(key.resource_type(), "repo");
/// assert_eq!(key.key(), "acme/web");
/// assert!(key.is_claimable());
///
/// let err = "repo:acme".parse::<ResourceKey>().unwrap_err();
/// assert!(err.to_string().contains("owner/name"));
/// # Ok::<(), availsync_types::ResourceKeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    full: String,
    colon: usize,
}

/// Why a string is not a valid resource key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceKeyError {
    /// No `:` separates the type from the key.
    #[error("resource must look like '<type>:<key>', e.g. 'repo:owner/name'")]
    MissingSeparator,
    /// The type part breaks `[a-z][a-z0-9_-]{0,31}`.
    #[error(
        "resource type '{0}' is invalid: it must start with a lower-case letter and contain only a-z, 0-9, '_' or '-' (at most 32 characters)"
    )]
    InvalidType(String),
    /// A `repo` key that is not `owner/name`.
    #[error(
        "repo key '{0}' must be 'owner/name', each part 1-100 characters of A-Z, a-z, 0-9, '_', '.' or '-'"
    )]
    InvalidRepoKey(String),
    /// The key part is empty.
    #[error("resource key is empty: put something after the ':'")]
    EmptyKey,
    /// The key part is longer than 200 characters.
    #[error("resource key is {0} characters long; at most 200 are allowed")]
    KeyTooLong(usize),
    /// The key part holds a character that is not allowed: a space or
    /// separator (Zs, Zl, Zp), a control (Cc), a format character such as a
    /// zero-width space, joiner, byte-order mark, soft hyphen or bidi
    /// override (Cf), a private-use (Co) or an unassigned (Cn) code point.
    /// Keys that look alike must be the same key, so none of these is kept.
    #[error(
        "resource key contains {code_point} ({kind}) at character {position}; keys may not contain spaces, control, invisible formatting, private-use or unassigned characters"
    )]
    InvalidCharacter {
        /// 1-based position of the character in the (NFC-normalised) key.
        position: usize,
        /// The character, as `U+200B`.
        code_point: String,
        /// What kind of character it is, in words.
        kind: &'static str,
    },
}

impl ResourceKey {
    /// Parses and normalises a resource key.
    pub fn parse(input: &str) -> Result<Self, ResourceKeyError> {
        let (ty, key) = input
            .split_once(':')
            .ok_or(ResourceKeyError::MissingSeparator)?;
        if !valid_type(ty) {
            return Err(ResourceKeyError::InvalidType(ty.to_owned()));
        }
        let key = if ty == "repo" {
            normalise_repo_key(key)?
        } else {
            normalise_plain_key(key)?
        };
        Ok(Self {
            full: format!("{ty}:{key}"),
            colon: ty.len(),
        })
    }

    /// The whole normalised key, e.g. `repo:acme/web`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The type part, e.g. `repo`.
    pub fn resource_type(&self) -> &str {
        &self.full[..self.colon]
    }

    /// The key part, e.g. `acme/web`.
    pub fn key(&self) -> &str {
        &self.full[self.colon + 1..]
    }

    /// Whether work claims (`run/start`) accept this type (`repo`, `project`).
    pub fn is_claimable(&self) -> bool {
        CLAIMABLE_TYPES.contains(&self.resource_type())
    }
}

fn valid_type(ty: &str) -> bool {
    let mut chars = ty.chars();
    matches!(chars.next(), Some('a'..='z'))
        && ty.len() <= MAX_TYPE_LEN
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
}

fn normalise_repo_key(key: &str) -> Result<String, ResourceKeyError> {
    let invalid = || ResourceKeyError::InvalidRepoKey(key.to_owned());
    let (owner, name) = key.split_once('/').ok_or_else(invalid)?;
    let segment_ok = |s: &str| {
        (1..=MAX_REPO_SEGMENT_LEN).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if segment_ok(owner) && segment_ok(name) {
        Ok(key.to_ascii_lowercase())
    } else {
        Err(invalid())
    }
}

/// A non-repo key in Unicode normalisation form C (so that one text has one
/// spelling), refused when it is empty, too long or holds a character of a
/// refused category.
fn normalise_plain_key(key: &str) -> Result<String, ResourceKeyError> {
    let key: String = key.nfc().collect();
    let len = key.chars().count();
    if len == 0 {
        return Err(ResourceKeyError::EmptyKey);
    }
    if len > MAX_KEY_LEN {
        return Err(ResourceKeyError::KeyTooLong(len));
    }
    if let Some((at, c, kind)) = key
        .chars()
        .enumerate()
        .find_map(|(i, c)| disallowed_character(c).map(|kind| (i, c, kind)))
    {
        return Err(ResourceKeyError::InvalidCharacter {
            position: at + 1,
            code_point: code_point(c),
            kind,
        });
    }
    Ok(key)
}

/// Why `c` may not be part of a key (or an email address), or `None` when
/// it may: the Unicode general categories Cc, Cf, Co, Cn, Zl, Zp and Zs —
/// characters that are invisible, look like a space, or look like nothing
/// in particular, so that two identifiers that look the same are the same.
///
/// ```
/// assert_eq!(availsync_types::disallowed_character('a'), None);
/// assert!(availsync_types::disallowed_character('\u{200B}').is_some());
/// ```
pub fn disallowed_character(c: char) -> Option<&'static str> {
    use unicode_properties::GeneralCategory as G;
    match c.general_category() {
        G::Control => Some("a control character"),
        G::Format => Some("an invisible formatting character"),
        G::PrivateUse => Some("a private-use character"),
        G::Unassigned => Some("an unassigned code point"),
        G::Surrogate => Some("a surrogate"),
        G::SpaceSeparator => Some("a space"),
        G::LineSeparator => Some("a line separator"),
        G::ParagraphSeparator => Some("a paragraph separator"),
        _ => None,
    }
}

/// `U+200B` for a zero-width space.
///
/// ```
/// assert_eq!(availsync_types::code_point('\u{200B}'), "U+200B");
/// ```
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

impl FromStr for ResourceKey {
    type Err = ResourceKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.full)
    }
}

impl AsRef<str> for ResourceKey {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl Serialize for ResourceKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for ResourceKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn repo_keys_are_lower_cased() {
        let key = ResourceKey::parse("repo:Acme/Web.RS").unwrap();
        assert_eq!(key.as_str(), "repo:acme/web.rs");
    }

    #[test]
    fn other_keys_keep_their_case() {
        let key = ResourceKey::parse("project:HomePage").unwrap();
        assert_eq!(key.as_str(), "project:HomePage");
        assert!(key.is_claimable());
        assert!(!ResourceKey::parse("calendar:x").unwrap().is_claimable());
    }

    #[test]
    fn each_kind_of_bad_key_is_named() {
        use ResourceKeyError::*;
        type Expect = fn(&ResourceKeyError) -> bool;
        let cases: [(&str, Expect); 9] = [
            ("nocolon", |e| matches!(e, MissingSeparator)),
            ("Repo:a/b", |e| matches!(e, InvalidType(_))),
            (":a", |e| matches!(e, InvalidType(_))),
            ("repo:acme", |e| matches!(e, InvalidRepoKey(_))),
            ("repo:a/b/c", |e| matches!(e, InvalidRepoKey(_))),
            ("repo:/b", |e| matches!(e, InvalidRepoKey(_))),
            ("project:", |e| matches!(e, EmptyKey)),
            ("project:a b", |e| {
                matches!(e, InvalidCharacter { position: 2, .. })
            }),
            ("project:a\u{7}", |e| {
                matches!(e, InvalidCharacter { position: 2, .. })
            }),
        ];
        for (input, expected) in cases {
            let err = ResourceKey::parse(input).unwrap_err();
            assert!(expected(&err), "{input}: {err:?}");
        }
        let long = format!("project:{}", "x".repeat(201));
        assert_eq!(
            ResourceKey::parse(&long).unwrap_err(),
            ResourceKeyError::KeyTooLong(201)
        );
        let long_type = format!("{}:x", "a".repeat(33));
        assert!(matches!(
            ResourceKey::parse(&long_type).unwrap_err(),
            ResourceKeyError::InvalidType(_)
        ));
    }

    #[test]
    fn look_alike_characters_are_refused_by_code_point() {
        for (c, kind) in [
            ('\u{200B}', "invisible formatting"),
            ('\u{200D}', "invisible formatting"),
            ('\u{FEFF}', "invisible formatting"),
            ('\u{00AD}', "invisible formatting"),
            ('\u{202E}', "invisible formatting"),
            ('\u{00A0}', "space"),
            ('\u{3000}', "space"),
            ('\u{2028}', "line separator"),
            ('\u{2029}', "paragraph separator"),
            ('\u{E000}', "private-use"),
            ('\u{0378}', "unassigned"),
            ('\u{0085}', "control"),
        ] {
            let input = format!("project:home{c}page");
            let err = ResourceKey::parse(&input).unwrap_err();
            let ResourceKeyError::InvalidCharacter {
                position,
                code_point,
                kind: said,
            } = &err
            else {
                panic!("{input:?}: {err:?}");
            };
            assert_eq!(*position, 5, "{input:?}");
            assert_eq!(*code_point, format!("U+{:04X}", u32::from(c)));
            assert!(said.contains(kind), "{c:?}: {said}");
            assert!(err.to_string().contains(code_point.as_str()), "{err}");
        }
    }

    #[test]
    fn keys_are_nfc_normalised_so_one_text_is_one_key() {
        let composed = ResourceKey::parse("project:caf\u{E9}").unwrap();
        let decomposed = ResourceKey::parse("project:cafe\u{301}").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(decomposed.as_str(), "project:caf\u{E9}");
        // Letters and marks of other scripts stay allowed.
        assert!(ResourceKey::parse("calendar:\u{56E2}\u{961F}-eng").is_ok());
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(input in ".{0,60}") {
            if let Ok(key) = ResourceKey::parse(&input) {
                let again = ResourceKey::parse(key.as_str()).unwrap();
                prop_assert_eq!(&again, &key);
                prop_assert_eq!(format!("{}:{}", key.resource_type(), key.key()), key.as_str());
            }
        }

        #[test]
        fn repo_keys_match_case_insensitively(owner in "[A-Za-z0-9_.-]{1,20}", name in "[A-Za-z0-9_.-]{1,20}") {
            let upper = ResourceKey::parse(&format!("repo:{}/{}", owner.to_uppercase(), name)).unwrap();
            let lower = ResourceKey::parse(&format!("repo:{}/{}", owner.to_lowercase(), name.to_lowercase())).unwrap();
            prop_assert_eq!(upper, lower);
        }
    }
}
