//! Durations on the command line (`10s`, `500ms`, `1m`, through
//! humantime) and in messages, written the same way in both.

use std::time::Duration;

/// Parses a duration as humantime writes them (`10s`, `500ms`, `1m`,
/// `1m 30s`), or a bare number of seconds (`10`).
pub fn parse(raw: &str) -> Result<Duration, String> {
    match raw.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(raw)
            .map_err(|e| format!("'{raw}' is not a duration such as 10s, 500ms or 1m: {e}")),
    }
}

/// Writes a duration as it would be given on the command line: `10s`,
/// `500ms`, `2m`, `1.5s`.
pub fn show(duration: Duration) -> String {
    let secs = duration.as_secs();
    let millis = duration.subsec_millis();
    match (secs, millis) {
        (0, millis) => format!("{millis}ms"),
        (secs, 0) if secs % 60 == 0 => format!("{}m", secs / 60),
        (secs, 0) => format!("{secs}s"),
        (secs, millis) => {
            let fraction = format!("{millis:03}");
            format!("{secs}.{}s", fraction.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse("soon").is_err());
        assert!(parse("").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse(&format!("{}m", u64::MAX)).is_err(), "no overflow");
    }

    #[test]
    fn durations_are_shown_as_they_are_written() {
        for raw in ["10s", "500ms", "2m", "90s", "0ms", "1s"] {
            assert_eq!(show(parse(raw).unwrap_or_default()), raw);
        }
        assert_eq!(show(Duration::from_millis(1500)), "1.5s");
    }
}
