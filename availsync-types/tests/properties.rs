//! Property tests of the parsers every component shares: resource keys and
//! timestamps. The same properties are fuzzed by `fuzz/` (targets
//! `resource_key` and `time_window`); these run in ordinary `cargo test`.

#![allow(clippy::unwrap_used, missing_docs)]

use availsync_types::{ResourceKey, Timestamp};
use proptest::prelude::*;

/// SPEC §3 (v1.1), written out independently of the parser: a character
/// of general category Cc, Cf, Co, Cn, Zl, Zp or Zs is refused.
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

/// SPEC §3, written out independently of the parser: `<type>:<key>`, type
/// `[a-z][a-z0-9_-]{0,31}`; a `repo` key is `owner/name` with segments of
/// `[A-Za-z0-9_.-]{1,100}`; any other key, NFC-normalised, is 1-200
/// characters with none of a refused category.
fn spec_accepts(input: &str) -> bool {
    let Some((ty, key)) = input.split_once(':') else {
        return false;
    };
    let ty_ok = ty.len() <= 32
        && ty.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || (i > 0 && (b.is_ascii_digit() || b == b'_' || b == b'-'))
        })
        && !ty.is_empty();
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

/// The checks every accepted key must pass.
fn check_accepted(input: &str, key: &ResourceKey) -> Result<(), TestCaseError> {
    let shown = key.to_string();
    prop_assert_eq!(
        &ResourceKey::parse(&shown).unwrap(),
        key,
        "display -> parse"
    );
    prop_assert!(spec_accepts(&shown), "{shown:?} breaks the grammar");
    prop_assert_eq!(
        format!("{}:{}", key.resource_type(), key.key()),
        shown.clone()
    );
    let expected = match input.split_once(':') {
        Some(("repo", _)) => input.to_ascii_lowercase(),
        Some((ty, key)) => format!("{ty}:{}", nfc(key)),
        None => input.to_owned(),
    };
    prop_assert_eq!(&shown, &expected, "repo keys lower-cased, others NFC");
    let json = serde_json::to_string(key).unwrap();
    prop_assert_eq!(&serde_json::from_str::<ResourceKey>(&json).unwrap(), key);
    Ok(())
}

fn check_key(input: &str) -> Result<(), TestCaseError> {
    match ResourceKey::parse(input) {
        Ok(key) => check_accepted(input, &key)?,
        Err(e) => {
            prop_assert!(!spec_accepts(input), "{input:?} refused: {e}");
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

/// Strings near the grammar: a plausible type, a separator, and a key made of
/// characters that are sometimes allowed.
fn near_keys() -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        Just("repo".to_owned()),
        Just("project".to_owned()),
        "[a-z][a-z0-9_-]{0,33}",
        "[A-Za-z0-9_ -]{0,4}",
    ];
    let key = prop_oneof![
        "[A-Za-z0-9_.-]{0,102}/[A-Za-z0-9_.-]{0,102}",
        "[A-Za-z0-9_./:-]{0,12}",
        "[^\\x00-\\x1f]{0,205}",
        ".{0,12}",
        "[a-z\u{200B}\u{200D}\u{FEFF}\u{00AD}\u{202E}\u{00A0}\u{0301}\u{E9}]{1,12}",
    ];
    (ty, key).prop_map(|(ty, key)| format!("{ty}:{key}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_parse_exactly_when_spec_says(input in ".{0,60}") {
        check_key(&input)?;
    }

    #[test]
    fn near_miss_keys_parse_exactly_when_spec_says(input in near_keys()) {
        check_key(&input)?;
    }

    #[test]
    fn every_in_range_instant_round_trips(
        millis in FIRST_MILLIS..=LAST_MILLIS,
    ) {
        let t = Timestamp::from_unix_millis(millis);
        let shown = t.to_string();
        prop_assert!(canonical(&shown), "{shown} is not YYYY-MM-DDTHH:MM:SS.mmmZ");
        prop_assert_eq!(shown.parse::<Timestamp>().unwrap(), t);
    }

    #[test]
    fn accepted_timestamps_round_trip(
        date in prop_oneof![
            "[0-9]{4}-[01][0-9]-[0-3][0-9]",
            Just("0000-01-01".to_owned()),
            Just("9999-12-31".to_owned()),
        ],
        sep in prop_oneof![Just("T"), Just("t"), Just(" "), Just("x")],
        time in "[0-2][0-9]:[0-6][0-9]:[0-6][0-9]",
        fraction in prop_oneof![Just(String::new()), "\\.[0-9]{1,12}"],
        offset in prop_oneof![Just("Z".to_owned()), Just("z".to_owned()), "[+-][0-2][0-9]:[0-5][0-9]"],
    ) {
        let input = format!("{date}{sep}{time}{fraction}{offset}");
        if let Ok(t) = input.parse::<Timestamp>() {
            let shown = t.to_string();
            prop_assert!(canonical(&shown), "{input} -> {shown}");
            prop_assert_eq!(shown.parse::<Timestamp>().unwrap(), t, "{} -> {}", input, shown);
            let json = serde_json::to_string(&t).unwrap();
            prop_assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        }
    }

    #[test]
    fn arbitrary_strings_never_break_timestamp_parsing(input in ".{0,40}") {
        if let Ok(t) = input.parse::<Timestamp>() {
            prop_assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
    }
}

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants
/// RFC 3339 can write.
const FIRST_MILLIS: i64 = -62_167_219_200_000;
const LAST_MILLIS: i64 = 253_402_300_799_999;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as SPEC §4 writes every time.
fn canonical(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn offsets_cannot_carry_an_instant_out_of_rfc_3339s_years() {
    // Both were accepted once and answered as `-0001-…` / `+10000-…`, which
    // no client (this crate included) could parse back.
    for input in ["0000-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"] {
        assert!(input.parse::<Timestamp>().is_err(), "{input}");
    }
    assert!("0000-01-01T00:00:00Z".parse::<Timestamp>().is_ok());
    assert!("9999-12-31T23:59:59.999Z".parse::<Timestamp>().is_ok());
    assert_eq!(
        "0000-01-01T00:00:00Z".parse::<Timestamp>().unwrap(),
        Timestamp::from_unix_millis(FIRST_MILLIS)
    );
    assert_eq!(
        "9999-12-31T23:59:59.999Z".parse::<Timestamp>().unwrap(),
        Timestamp::from_unix_millis(LAST_MILLIS)
    );
}
