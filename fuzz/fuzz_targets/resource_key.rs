//! Resource keys (SPEC §3): parsing arbitrary input never panics; it accepts
//! exactly what the grammar allows; an accepted key displays, parses back and
//! serialises to itself, and keys change only by normalisation (`repo` keys
//! lower-cased, others NFC).

#![no_main]

use availsync_types::ResourceKey;
use libfuzzer_sys::fuzz_target;

/// SPEC §3 (v1.1): a character of general category Cc, Cf, Co, Cn, Zl, Zp
/// or Zs is refused.
fn refused(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::PrivateUse
            | G::Unassigned
            | G::Surrogate
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::SpaceSeparator
    )
}

/// A non-repo key as the server keeps it: NFC.
fn nfc(key: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    key.nfc().collect()
}

/// SPEC §3, written out independently of the parser.
fn spec_accepts(input: &str) -> bool {
    let Some((ty, key)) = input.split_once(':') else {
        return false;
    };
    let ty_ok = !ty.is_empty()
        && ty.len() <= 32
        && ty.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || (i > 0 && (b.is_ascii_digit() || b == b'_' || b == b'-'))
        });
    if !ty_ok {
        return false;
    }
    if ty == "repo" {
        let segment = |s: &str| {
            (1..=100).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        };
        matches!(key.split('/').collect::<Vec<_>>()[..], [owner, name] if segment(owner) && segment(name))
    } else {
        let key = nfc(key);
        (1..=200).contains(&key.chars().count()) && !key.chars().any(refused)
    }
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    match ResourceKey::parse(&input) {
        Ok(key) => {
            assert!(
                spec_accepts(&input),
                "{input:?} accepted against the grammar"
            );
            let shown = key.to_string();
            let again = ResourceKey::parse(&shown).expect("a displayed key parses");
            assert_eq!(again, key, "display -> parse changed the key");
            assert!(spec_accepts(&shown), "{shown:?} breaks the grammar");
            assert_eq!(format!("{}:{}", key.resource_type(), key.key()), shown);
            let expected = match input.split_once(':') {
                Some(("repo", _)) => input.to_ascii_lowercase(),
                Some((ty, key)) => format!("{ty}:{}", nfc(key)),
                None => input.to_string(),
            };
            assert_eq!(shown, expected, "repo keys lower-cased, others NFC");
            let json = serde_json::to_string(&key).expect("a key serialises");
            let back: ResourceKey = serde_json::from_str(&json).expect("a key deserialises");
            assert_eq!(back, key);
        }
        Err(e) => {
            assert!(!spec_accepts(&input), "{input:?} refused: {e}");
            assert!(!e.to_string().is_empty());
        }
    }
});
