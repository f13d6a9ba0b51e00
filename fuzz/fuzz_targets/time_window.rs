//! Timestamps and windows (SPEC §4, §6 scheduling): parsing never panics;
//! an accepted timestamp is written as `YYYY-MM-DDTHH:MM:SS.mmmZ` and parses
//! back to itself; a window is accepted exactly when both ends parse,
//! `start < end` and it spans at most 31 days, and a refusal is
//! `invalid_window` naming the end at fault. The whole input is also given to
//! `GET /v1/availability`'s query parser, whose accepted windows obey the same
//! rules and whose refusals name the parameter.
//!
//! Input: `<start>\n<end>` (without a newline, both ends are the input).

#![no_main]

use availsync_server::parsers::Window;
use availsync_server::parsers::validate::{self, InvalidKind};
use availsync_server::parsers::availability_params;
use availsync_types::{ErrorCode, MAX_WINDOW_MILLIS, Timestamp};
use libfuzzer_sys::fuzz_target;

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

fn check_timestamp(raw: &str) -> Option<Timestamp> {
    let t = raw.parse::<Timestamp>().ok()?;
    let shown = t.to_string();
    assert!(canonical(&shown), "{raw:?} -> {shown:?}");
    assert_eq!(
        shown.parse::<Timestamp>().ok(),
        Some(t),
        "{raw:?} -> {shown:?}"
    );
    let json = serde_json::to_string(&t).expect("serialises");
    assert_eq!(serde_json::from_str::<Timestamp>(&json).ok(), Some(t));
    Some(t)
}

fn check_window(window: &Window) {
    assert!(window.start < window.end, "{window:?}");
    assert!(window.end.unix_millis() - window.start.unix_millis() <= MAX_WINDOW_MILLIS);
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (start, end) = input.split_once('\n').unwrap_or((&input, &input));
    let parsed = (check_timestamp(start), check_timestamp(end));

    match validate::window("start", start, "end", end) {
        Ok(window) => {
            assert_eq!((Some(window.start), Some(window.end)), parsed);
            check_window(&window);
        }
        Err(e) => {
            assert_eq!(e.kind, InvalidKind::Window);
            let expected_field = match parsed {
                (None, _) => "start",
                (Some(_), None) => "end",
                (Some(s), Some(t)) => {
                    assert!(
                        t <= s || t.unix_millis() - s.unix_millis() > MAX_WINDOW_MILLIS,
                        "a good window refused: {e}"
                    );
                    "end"
                }
            };
            assert_eq!(e.field, expected_field, "{e}");
        }
    }

    match availability_params(&input) {
        Ok((resource, window)) => {
            check_window(&window);
            assert_eq!(resource.to_string().parse().ok(), Some(resource));
        }
        Err(e) => {
            assert!(
                matches!(
                    e.code(),
                    ErrorCode::UnknownField
                        | ErrorCode::InvalidRequest
                        | ErrorCode::InvalidResource
                        | ErrorCode::InvalidWindow
                ),
                "{:?}",
                e.code()
            );
            assert_eq!(e.code().status(), 400);
            let field = e.field().expect("a refused query names its parameter");
            if e.code() == ErrorCode::InvalidWindow {
                assert!(matches!(field, "from" | "to"), "{field}");
            }
            if e.code() == ErrorCode::InvalidResource {
                assert_eq!(field, "resource");
            }
            let known = ["resource", "from", "to"];
            if e.code() == ErrorCode::UnknownField {
                assert!(!known.contains(&field), "{field}");
            }
            if e.code() == ErrorCode::InvalidRequest {
                assert!(known.contains(&field), "{field}");
            }
        }
    }
});
