//! Scheduling calls against the real server.

use availsync_sdk::types::HoldStatus;
use availsync_sdk::{HoldsQuery, NewHold, Timestamp};

use crate::support::World;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[tokio::test]
async fn availability_conflicts_and_holds_round_trip() {
    let world = World::new().await;
    let a = world.agent("scheduler").await;
    let b = world.agent("other").await;
    let (nine, ten, eleven) = (
        t("2026-12-01T09:00:00Z"),
        t("2026-12-01T10:00:00Z"),
        t("2026-12-01T11:00:00Z"),
    );

    let free = a.availability("calendar:eng", nine, eleven).await.unwrap();
    assert_eq!(free.free.len(), 1);
    assert!(free.busy.is_empty());

    let request = NewHold::new("calendar:eng", nine, ten)
        .unwrap()
        .purpose("standup")
        .idempotency_key("book-1");
    let held = a.create_hold(&request).await.unwrap();
    assert_eq!(held.hold.status, HoldStatus::Active);
    // Retrying the same request replays it.
    let again = a.create_hold(&request).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.hold.hold_id, held.hold.hold_id);

    let conflict = b
        .create_hold(&NewHold::new("calendar:eng", t("2026-12-01T09:30:00Z"), eleven).unwrap())
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Some("hold_conflict"));
    assert_eq!(
        conflict.api().unwrap().conflicts[0].hold_id,
        held.hold.hold_id
    );

    let preview = b
        .check_conflicts("calendar:eng", ten, eleven)
        .await
        .unwrap();
    assert!(!preview.conflict);
    let busy = b.availability("calendar:eng", nine, eleven).await.unwrap();
    assert_eq!(busy.busy[0].hold_id, held.hold.hold_id);
    assert_eq!((busy.free[0].start, busy.free[0].end), (ten, eleven));

    let forbidden = b.release_hold(&held.hold.hold_id).await.unwrap_err();
    assert_eq!(forbidden.code(), Some("forbidden"));
    a.release_hold(&held.hold.hold_id).await.unwrap();
    a.release_hold(&held.hold.hold_id).await.unwrap();
    let active = a
        .holds_page(
            &HoldsQuery {
                active_only: true,
                ..HoldsQuery::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(active.items.is_empty());
    let tentative = b
        .create_hold(
            &NewHold::new("calendar:eng", nine, ten)
                .unwrap()
                .tentative(std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert!(tentative.hold.expires_at.is_some());
}
