//! Positions in a list and the opaque cursors that name them.
//!
//! # Where an activity or audit row stands
//!
//! A row's position is the pair `(tx, seq)`, compared in that order:
//! `seq` is the row's insertion number, and `tx` the writing transaction's
//! id on PostgreSQL (`pg_current_xact_id()`, set by the column's default;
//! 0 for rows written before PostgreSQL migration 008, and always 0 on
//! SQLite). Feeds answer only rows **committed below every position still
//! to come**: on PostgreSQL, rows whose `tx` is below the oldest
//! transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`),
//! so a transaction that commits late still lands above every row a
//! reader has already been shown. SQLite has one writer, whose rows commit
//! in `seq` order, so `(0, seq)` needs no such bound there.
//!
//! The rule costs PostgreSQL readers one thing: while any transaction on
//! the cluster stays open, rows committed after it began wait until it
//! ends (docs/design.md, "Activity cursors").
//!
//! Other lists (runs, holds, agents) are ordered by `seq` alone, as
//! `(0, seq)`.

use availsync_types::{Page, Timestamp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A row's place in a list: `(tx, seq)`, ordered as a pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The writing transaction's id (PostgreSQL feeds), else 0.
    pub tx: i64,
    /// The row's insertion number.
    pub seq: i64,
}

impl Position {
    /// The position of a row of a list ordered by `seq` alone.
    pub const fn of_seq(seq: i64) -> Self {
        Self { tx: 0, seq }
    }
}

impl From<i64> for Position {
    fn from(seq: i64) -> Self {
        Self::of_seq(seq)
    }
}

/// Encodes a position as an opaque cursor. A position with `tx` 0 encodes
/// as cursors always did, so cursors handed out before `tx` existed stay
/// valid (as `(0, seq)`).
pub fn encode(position: impl Into<Position>) -> String {
    let Position { tx, seq } = position.into();
    let text = if tx == 0 {
        format!("p{seq}")
    } else {
        format!("p{tx}.{seq}")
    };
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a cursor made by [`encode`]; `None` for anything else.
pub fn decode(cursor: &str) -> Option<Position> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?.strip_prefix('p')?;
    let number =
        |s: &str| -> Option<i64> { (!s.starts_with('+')).then(|| s.parse().ok()).flatten() };
    match text.split_once('.') {
        None => number(text).map(Position::of_seq),
        Some((tx, seq)) => Some(Position {
            tx: number(tx)?,
            seq: number(seq)?,
        }),
    }
}

/// Turns `limit + 1` rows, newest first and keyed by position, into a page
/// whose cursor points after its last item.
pub fn paginate<P: Into<Position> + Copy, T>(
    mut rows: Vec<(P, T)>,
    page: &super::PageRequest,
    now: Timestamp,
) -> Page<T> {
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
    use super::{Position, decode, encode};

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode(&encode(42)), Some(Position::of_seq(42)));
        let pair = Position {
            tx: 7_000_123,
            seq: 42,
        };
        assert_eq!(decode(&encode(pair)), Some(pair));
        assert_eq!(decode("not a cursor"), None);
        assert_eq!(decode(""), None);
        for bad in ["p", "p1.", "p.1", "px.1", "p1.2.3", "p+1", "q12"] {
            assert_eq!(decode(&URL_SAFE_NO_PAD.encode(bad)), None, "{bad}");
        }
    }

    #[test]
    fn a_cursor_from_before_transactions_were_recorded_reads_as_tx_zero() {
        // What `encode(42)` answered before positions had a `tx`.
        let old = URL_SAFE_NO_PAD.encode("p42");
        assert_eq!(decode(&old), Some(Position { tx: 0, seq: 42 }));
        assert_eq!(encode(Position { tx: 0, seq: 42 }), old);
    }

    #[test]
    fn positions_order_by_transaction_first() {
        let late_commit = Position { tx: 900, seq: 5 };
        let earlier_tx = Position { tx: 800, seq: 9 };
        assert!(earlier_tx < late_commit);
        assert!(Position { tx: 900, seq: 4 } < late_commit);
    }

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
}
