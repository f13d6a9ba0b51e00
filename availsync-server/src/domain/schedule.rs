//! Half-open time windows `[start, end)`: overlap, and the free time left in
//! a window once busy windows are taken out.

use availsync_types::{ResourceKey, Timestamp};

/// A half-open window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

/// A window of a resource's schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The resource.
    pub resource: ResourceKey,
    /// The window.
    pub window: Window,
}

impl Window {
    /// Whether two windows share any instant. Back-to-back windows
    /// (`a.end == b.start`) do not.
    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// `within` minus every `busy` window, as merged, sorted free windows.
pub fn free_windows(within: Window, busy: &[Window]) -> Vec<Window> {
    let mut busy: Vec<Window> = busy
        .iter()
        .filter(|b| b.overlaps(&within))
        .copied()
        .collect();
    busy.sort();
    let mut free = Vec::new();
    let mut cursor = within.start;
    for b in busy {
        if b.start > cursor {
            free.push(Window {
                start: cursor,
                end: b.start,
            });
        }
        cursor = cursor.max(b.end);
        if cursor >= within.end {
            return free;
        }
    }
    if cursor < within.end {
        free.push(Window {
            start: cursor,
            end: within.end,
        });
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_busy_windows_merge_and_free_time_is_what_is_left() {
        let w = |a, b| Window {
            start: Timestamp::from_unix_millis(a),
            end: Timestamp::from_unix_millis(b),
        };
        let free = free_windows(w(0, 100), &[w(10, 20), w(15, 30), w(90, 200)]);
        assert_eq!(free, vec![w(0, 10), w(30, 90)]);
    }
    use proptest::prelude::*;

    fn w(a: i64, b: i64) -> Window {
        Window {
            start: Timestamp::from_unix_millis(a),
            end: Timestamp::from_unix_millis(b),
        }
    }

    #[test]
    fn back_to_back_windows_do_not_overlap() {
        assert!(!w(0, 10).overlaps(&w(10, 20)));
        assert!(w(0, 11).overlaps(&w(10, 20)));
        assert!(w(12, 13).overlaps(&w(10, 20)));
    }

    proptest! {
        /// Checked instant by instant against the definition: an instant is
        /// free exactly when it is in the window and in no busy window.
        #[test]
        fn free_is_the_exact_complement_of_busy(
            from in 0i64..50,
            len in 1i64..60,
            busy in proptest::collection::vec((0i64..120, 1i64..30), 0..8),
        ) {
            let within = w(from, from + len);
            let busy: Vec<Window> = busy.into_iter().map(|(s, l)| w(s, s + l)).collect();
            let free = free_windows(within, &busy);
            for t in 0..200 {
                let instant = w(t, t + 1);
                let expected = within.overlaps(&instant) && !busy.iter().any(|b| b.overlaps(&instant));
                let got = free.iter().any(|f| f.overlaps(&instant));
                prop_assert_eq!(got, expected, "instant {}", t);
            }
            // Merged: sorted, non-empty, and never touching.
            for pair in free.windows(2) {
                prop_assert!(pair[0].end < pair[1].start);
            }
            prop_assert!(free.iter().all(|f| f.start < f.end));
        }
    }
}
