//! Durations on the command line (`10s`, `500ms`, `1m`) and in messages,
//! written the same way in both.

use std::time::Duration;

/// Parses `10s`, `500ms`, `1m` or a bare number of seconds.
pub fn parse(raw: &str) -> Result<Duration, String> {
    let invalid = || format!("'{raw}' is not a duration such as 10s, 500ms or 1m");
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |at| raw.split_at(at));
    let value: u64 = number.parse().map_err(|_| invalid())?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => value
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(invalid),
        _ => Err(invalid()),
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
        assert!(parse("soon").is_err());
        assert!(parse("5h").is_err());
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
