//! Opaque list cursors: the position of the last item answered.

use availsync_types::{Page, Timestamp};
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

/// Turns `limit + 1` rows, newest first and keyed by position, into a page
/// whose cursor points after its last item.
pub fn paginate<T>(mut rows: Vec<(i64, T)>, page: &super::PageRequest, now: Timestamp) -> Page<T> {
    let limit = page.limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(position, _)| encode(*position))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
        server_time: now,
    }
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
