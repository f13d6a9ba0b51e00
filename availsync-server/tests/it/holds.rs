//! Availability holds on half-open windows.

use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Agent, TestServer};

const DAY: &str = "2026-12-01";

fn at(hh_mm: &str) -> String {
    format!("{DAY}T{hh_mm}:00Z")
}

async fn hold(agent: &Agent<'_>, resource: &str, start: &str, end: &str) -> crate::support::Answer {
    agent
        .post(
            "/v1/holds",
            json!({"resource": resource, "start": start, "end": end}),
        )
        .await
}

#[tokio::test]
async fn back_to_back_holds_both_succeed_and_any_overlap_conflicts() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("scheduler").await;
    let first = hold(&agent, "calendar:team-eng", &at("09:00"), &at("10:00"))
        .await
        .expect(201);
    assert_eq!(first["hold"]["status"], "active");
    assert_eq!(
        first["hold"]["holder"],
        json!({"type": "agent", "id": agent.id, "name": "scheduler"})
    );
    let second = hold(&agent, "calendar:team-eng", &at("10:00"), &at("11:00"))
        .await
        .expect(201);
    hold(&agent, "calendar:team-eng", &at("08:00"), &at("09:00"))
        .await
        .expect(201);

    let overlap = hold(&agent, "calendar:team-eng", &at("09:30"), &at("10:30")).await;
    overlap.expect_error(409, "hold_conflict");
    let conflicts = overlap.body["error"]["conflicts"].as_array().unwrap();
    let ids: Vec<&Value> = conflicts.iter().map(|c| &c["hold_id"]).collect();
    assert_eq!(ids, [&first["hold"]["hold_id"], &second["hold"]["hold_id"]]);
    assert_eq!(
        conflicts[0]["start"],
        at("09:00").replace(":00Z", ":00.000Z")
    );
    assert_eq!(conflicts[0]["holder"]["name"], "scheduler");
    // Another resource is independent.
    hold(&agent, "calendar:team-ops", &at("09:30"), &at("10:30"))
        .await
        .expect(201);
}

#[tokio::test]
async fn windows_must_be_ordered_parseable_and_at_most_31_days() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("scheduler").await;
    for (start, end, field) in [
        (at("10:00"), at("10:00"), "end"),
        (at("10:00"), at("09:00"), "end"),
        (
            "2026-12-01T00:00:00Z".to_owned(),
            "2027-01-01T00:00:01Z".to_owned(),
            "end",
        ),
        ("tomorrow".to_owned(), at("09:00"), "start"),
        (at("09:00"), "2026-12-01 10:00".to_owned(), "end"),
    ] {
        let answer = hold(&agent, "calendar:x", &start, &end).await;
        answer.expect_error(400, "invalid_window");
        assert_eq!(answer.body["error"]["field"], field);
    }
    // Exactly 31 days is allowed; offsets are accepted and answered in UTC.
    let ok = hold(
        &agent,
        "calendar:x",
        "2026-12-01T02:00:00+02:00",
        "2027-01-01T00:00:00Z",
    )
    .await
    .expect(201);
    assert_eq!(ok["hold"]["start"], "2026-12-01T00:00:00.000Z");
    agent
        .get(&format!(
            "/v1/availability?resource=calendar:x&from={}&to={}",
            at("10:00"),
            at("09:00")
        ))
        .await
        .expect_error(400, "invalid_window");
    agent
        .post("/v1/holds", json!({"resource": "calendar:x", "start": at("01:00"), "end": at("02:00"), "ttl_seconds": 5}))
        .await
        .expect_error(400, "invalid_request");
    hold(&agent, "bad key", &at("01:00"), &at("02:00"))
        .await
        .expect_error(400, "invalid_resource");
}

/// Free time per minute by the definition, for comparison.
fn reference_free(from: i64, to: i64, holds: &[(i64, i64)]) -> Vec<bool> {
    (from..to)
        .map(|m| !holds.iter().any(|&(s, e)| s <= m && m < e))
        .collect()
}

fn minute(t: &Value) -> i64 {
    let ts: availsync_types::Timestamp = t.as_str().unwrap().parse().unwrap();
    ts.unix_millis() / 60_000
}

#[tokio::test]
async fn free_windows_are_the_exact_complement_of_live_holds() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("scheduler").await;
    let base = availsync_types::Timestamp::from_unix_millis(1_795_000_000_000 / 60_000 * 60_000);
    let iso = |m: i64| base.add_millis(m * 60_000).to_string();
    for case in 0..25 {
        let resource = format!("calendar:case-{case}");
        let mut accepted = Vec::new();
        let count = rand::rng().random_range(0..10);
        for _ in 0..count {
            let (s, len) = {
                let mut rng = rand::rng();
                (rng.random_range(0..200i64), rng.random_range(1..40i64))
            };
            let answer = hold(&agent, &resource, &iso(s), &iso(s + len)).await;
            match answer.status.as_u16() {
                201 => accepted.push((s, s + len)),
                409 => assert_eq!(answer.code(), "hold_conflict"),
                other => panic!("unexpected {other}: {:#}", answer.body),
            }
        }
        let (from, to) = {
            let mut rng = rand::rng();
            let from = rng.random_range(-20..200i64);
            (from, from + rng.random_range(1..120i64))
        };
        let body = agent
            .get(&format!(
                "/v1/availability?resource={resource}&from={}&to={}",
                iso(from),
                iso(to)
            ))
            .await
            .expect(200);
        let base_minute = base.unix_millis() / 60_000;
        let mut got = vec![false; (to - from) as usize];
        let mut previous_end = i64::MIN;
        for window in body["free"].as_array().unwrap() {
            let (s, e) = (
                minute(&window["start"]) - base_minute,
                minute(&window["end"]) - base_minute,
            );
            assert!(
                s < e && s > previous_end,
                "case {case}: free windows not merged: {body:#}"
            );
            previous_end = e;
            for m in s..e {
                got[(m - from) as usize] = true;
            }
        }
        assert_eq!(
            got,
            reference_free(from, to, &accepted),
            "case {case}: {body:#}"
        );
        let busy = body["busy"].as_array().unwrap().len();
        let expected_busy = accepted
            .iter()
            .filter(|&&(s, e)| s < to && from < e)
            .count();
        assert_eq!(busy, expected_busy, "case {case}");
    }
}

#[tokio::test]
async fn a_tentative_hold_lapses_and_frees_its_window() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("scheduler").await;
    let tentative = agent
        .post("/v1/holds", json!({"resource": "calendar:x", "start": at("09:00"), "end": at("10:00"), "ttl_seconds": 60}))
        .await
        .expect(201);
    assert!(tentative["hold"]["expires_at"].is_string());
    hold(&agent, "calendar:x", &at("09:00"), &at("10:00"))
        .await
        .expect_error(409, "hold_conflict");
    server.clock.advance(Duration::from_secs(61));
    hold(&agent, "calendar:x", &at("09:00"), &at("10:00"))
        .await
        .expect(201);
    let all = agent.get("/v1/holds?resource=calendar:x").await.expect(200);
    assert_eq!(all["items"][1]["status"], "expired");
    let active = agent
        .get("/v1/holds?resource=calendar:x&status=active")
        .await
        .expect(200);
    assert_eq!(active["items"].as_array().unwrap().len(), 1);

    // The sweep records the lapse exactly once.
    let sweep = || server.server.sweep(std::time::Duration::MAX);
    assert_eq!(sweep().await.unwrap().holds_expired, 1);
    assert_eq!(sweep().await.unwrap().holds_expired, 0);
    let audit = human
        .call(Method::GET, "/v1/audit?action=hold_expired", None)
        .await
        .expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    assert_eq!(audit["items"][0]["actor"]["type"], "system");
}

#[tokio::test]
async fn of_fifty_concurrent_overlapping_creates_exactly_one_succeeds() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("scheduler").await;
    let attempts = (0..50).map(|i| {
        let agent = agent.clone();
        async move {
            let start = format!("{DAY}T09:{:02}:00Z", i % 30);
            hold(&agent, "calendar:room-1", &start, &at("10:00")).await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 1);
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.expect_error(409, "hold_conflict");
    }
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_never_makes_two_holds() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("scheduler").await;
    let body = json!({"resource": "calendar:x", "start": at("09:00"), "end": at("10:00"), "idempotency_key": "book-42"});
    let first = agent.post("/v1/holds", body.clone()).await.expect(201);
    let again = agent.post("/v1/holds", body.clone()).await.expect(201);
    assert_eq!(again["hold"], first["hold"]);
    assert_eq!(
        (first["replayed"].as_bool(), again["replayed"].as_bool()),
        (Some(false), Some(true))
    );
    let different = json!({"resource": "calendar:x", "start": at("11:00"), "end": at("12:00"), "idempotency_key": "book-42"});
    agent
        .post("/v1/holds", different)
        .await
        .expect_error(409, "idempotency_key_reused");
    // The header works too.
    let send = || {
        server
            .http
            .post(format!("{}/v1/holds", server.url))
            .bearer_auth(&agent.key)
            .header("idempotency-key", "book-43")
            .json(&json!({"resource": "calendar:y", "start": at("09:00"), "end": at("10:00")}))
    };
    let a = server.raw(send()).await.expect(201);
    let b = server.raw(send()).await.expect(201);
    assert_eq!(a["hold"]["hold_id"], b["hold"]["hold_id"]);
    let list = agent.get("/v1/holds").await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn release_is_idempotent_and_only_for_the_holder_or_a_human() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let owner = human.agent("owner").await;
    let other = human.agent("other").await;
    let created = hold(&owner, "calendar:x", &at("09:00"), &at("10:00"))
        .await
        .expect(201);
    let id = created["hold"]["hold_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/holds/{id}");
    server
        .call(Method::DELETE, &path, &other.auth(), None)
        .await
        .expect_error(403, "forbidden");
    server
        .call(Method::DELETE, &path, &owner.auth(), None)
        .await
        .expect(204);
    server
        .call(Method::DELETE, &path, &owner.auth(), None)
        .await
        .expect(204);
    hold(&other, "calendar:x", &at("09:00"), &at("10:00"))
        .await
        .expect(201);
    server
        .call(Method::DELETE, "/v1/holds/hold_nope", &owner.auth(), None)
        .await
        .expect_error(404, "not_found");

    // A human may release any hold of the workspace, and holds too.
    let theirs = hold(&other, "calendar:y", &at("09:00"), &at("10:00"))
        .await
        .expect(201);
    human
        .call(
            Method::DELETE,
            &format!("/v1/holds/{}", theirs["hold"]["hold_id"].as_str().unwrap()),
            None,
        )
        .await
        .expect(204);
    let mine = human
        .call(
            Method::POST,
            "/v1/holds",
            Some(json!({"resource": "calendar:y", "start": at("09:00"), "end": at("10:00")})),
        )
        .await
        .expect(201);
    assert_eq!(mine["hold"]["holder"]["type"], "user");

    // Another workspace sees nothing.
    let stranger = server.signup().await.agent("stranger").await;
    server
        .call(
            Method::DELETE,
            &format!("/v1/holds/{}", mine["hold"]["hold_id"].as_str().unwrap()),
            &stranger.auth(),
            None,
        )
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn conflicts_check_previews_without_holding() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("scheduler").await;
    let check = |start: String, end: String| {
        let agent = agent.clone();
        async move {
            agent
                .post(
                    "/v1/conflicts/check",
                    json!({"resource": "calendar:x", "start": start, "end": end}),
                )
                .await
                .expect(200)
        }
    };
    let free = check(at("09:00"), at("10:00")).await;
    assert_eq!(
        (
            free["conflict"].as_bool(),
            free["conflicts"].as_array().unwrap().len()
        ),
        (Some(false), 0)
    );
    // The check held nothing.
    let created = hold(&agent, "calendar:x", &at("09:00"), &at("10:00"))
        .await
        .expect(201);
    let busy = check(at("09:59"), at("11:00")).await;
    assert_eq!(busy["conflict"], true);
    assert_eq!(busy["conflicts"][0]["hold_id"], created["hold"]["hold_id"]);
    assert_eq!(check(at("10:00"), at("11:00")).await["conflict"], false);
}
