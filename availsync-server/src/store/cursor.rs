//! Opaque list cursors: the position of the last item answered.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes a position as an opaque cursor.
pub fn encode(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("p{position}"))
}

/// Decodes a cursor made by [`encode`]; `None` for anything else.
pub fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('p')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(super::decode(&super::encode(42)), Some(42));
        assert_eq!(super::decode("not a cursor"), None);
        assert_eq!(super::decode(""), None);
    }
}
