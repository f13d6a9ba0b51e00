//! Working sets (SPEC §10) through the SDK: path-level claims inside a
//! repository, against the real server.

use std::time::Duration;

use availsync_sdk::types::{Plan, ReasonCode, WorkingSetError};
use availsync_sdk::{
    Client, Error, Guarded, Outcome, PathPattern, PathsChange, RunStart, RunsQuery, StartRun,
    WorkingSetMode,
};

use crate::support::{World, claimed};

const REPO: &str = "repo:acme/web";

fn paths(list: &[&str]) -> StartRun {
    StartRun::new(REPO)
        .unwrap()
        .ttl(Duration::from_secs(10))
        .working_set(list, WorkingSetMode::Edit)
        .unwrap()
}

/// A world on the team plan: more live claims than the free plan's three.
async fn team() -> World {
    let world = World::new().await;
    world.set_plan(Plan::Team).await;
    world
}

fn held_paths(guard: &availsync_sdk::RunGuard) -> Vec<String> {
    guard.working_set().expect("a working-set claim").paths
}

#[tokio::test]
async fn disjoint_working_sets_are_both_claimed_and_an_overlap_is_skipped_with_its_conflicts() {
    let world = team().await;
    let (a, b, c) = (
        world.agent("a").await,
        world.agent("b").await,
        world.agent("c").await,
    );
    let api = claimed(&a, paths(&["src/api/"])).await;
    let pattern: PathPattern = "src/db/**".parse().unwrap();
    let start = StartRun::new(REPO)
        .unwrap()
        .working_set([&pattern], WorkingSetMode::Edit)
        .unwrap();
    let db = claimed(&b, start).await;
    assert_eq!(held_paths(&api), ["src/api/**"]);
    assert_eq!(held_paths(&db), ["src/db/**"]);
    assert_eq!(
        api.claim().working_set.as_ref().unwrap().mode,
        WorkingSetMode::Edit
    );

    let RunStart::Skipped(skip) = c
        .claim(paths(&["src/api/users.rs", "README.md"]))
        .await
        .unwrap()
    else {
        panic!("an overlapping edit set must be skipped");
    };
    assert_eq!(skip.reason.code, ReasonCode::PathsClaimed);
    assert_eq!(skip.holder().unwrap().run_id, api.run_id());
    let conflicts = skip.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let first = conflicts[0].as_path().unwrap();
    assert_eq!(first.path.as_deref(), Some("src/api/users.rs"));
    assert_eq!(first.holder.agent_name, "a");
    assert_eq!(
        first.held_paths.as_deref(),
        Some(&["src/api/**".to_owned()][..])
    );
    assert!(skip.retry_after.is_some());

    // A check says the same without claiming anything; reads of the same
    // paths would be refused too (a read meets an edit).
    let check = c
        .check_paths(REPO, ["src/db/schema.rs"], WorkingSetMode::Read)
        .await
        .unwrap();
    assert!(!check.available);
    assert_eq!(check.conflicts.unwrap()[0].holder().run_id, db.run_id());
    let free = c
        .check_paths(REPO, ["docs/"], WorkingSetMode::Edit)
        .await
        .unwrap();
    assert!(free.available, "{free:?}");
    // A whole-repository start meets both working sets.
    let RunStart::Skipped(whole) = c.claim(StartRun::new(REPO).unwrap()).await.unwrap() else {
        panic!("a whole-repo start must be skipped");
    };
    assert_eq!(whole.reason.code, ReasonCode::ResourceClaimed);
    assert_eq!(whole.conflicts().len(), 2);
    api.finish(Outcome::Succeeded).await.unwrap();
    db.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn a_partial_start_holds_the_free_paths_and_lists_the_blocked_ones() {
    let world = team().await;
    let (a, b) = (world.agent("ci-bot").await, world.agent("claude").await);
    let api = claimed(&a, paths(&["src/api/**"])).await;

    let start = paths(&["src/api/x.rs", "src/db/"]).partial();
    let RunStart::Partial(guard, blocked) = b.claim(start).await.unwrap() else {
        panic!("expected a partial grant");
    };
    assert!(guard.is_held());
    assert_eq!(held_paths(&guard), ["src/db/**"]);
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].path, "src/api/x.rs");
    assert_eq!(blocked[0].holder.run_id, api.run_id());
    guard.finish(Outcome::Succeeded).await.unwrap();

    // Nothing free: a skip, partial or not.
    let all_held = b.claim(paths(&["src/api/y.rs"]).partial()).await.unwrap();
    assert!(matches!(all_held, RunStart::Skipped(_)), "{all_held:?}");

    // `guarded` runs the work on a partial grant, showing the paths held.
    let start = paths(&["src/api/z.rs", "docs/"]).partial();
    let outcome = b
        .guarded(start, |lease| async move {
            Ok::<_, std::io::Error>(lease.working_set.map(|set| set.paths))
        })
        .await
        .unwrap();
    let Guarded::Completed(Ok(Some(held))) = outcome else {
        panic!("the work should have run: {outcome:?}");
    };
    assert_eq!(held, ["docs/**"]);
    api.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn paths_are_added_and_removed_and_an_overlapping_add_is_a_typed_error() {
    let world = team().await;
    let (a, b) = (world.agent("a").await, world.agent("b").await);
    let mine = claimed(&a, paths(&["src/a.rs"])).await;
    let theirs = claimed(&b, paths(&["src/b.rs"])).await;
    let token = mine.fencing_token();

    let grown = mine.add_paths(["src/c/"]).await.unwrap();
    assert_eq!(
        grown.claim.fencing_token, token,
        "a change is not a new grant"
    );
    assert_eq!(held_paths(&mine), ["src/a.rs", "src/c/**"]);

    // An add that overlaps their claim changes nothing and names them.
    let err = mine.add_paths(["src/d.rs", "src/*.rs"]).await.unwrap_err();
    let Error::PathsClaimed(refusal) = &err else {
        panic!("expected PathsClaimed: {err:?}");
    };
    assert_eq!(refusal.conflicts[0].path.as_deref(), Some("src/*.rs"));
    assert_eq!(refusal.conflicts[0].holder.run_id, theirs.run_id());
    assert_eq!(err.code(), Some("paths_claimed"));
    assert_eq!(err.api().unwrap().status, 409);
    assert_eq!(err.path_conflicts().len(), 1);
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("src/*.rs by 'b'"), "{err}");
    assert!(mine.is_held(), "a refused change leaves the lease alone");
    assert_eq!(held_paths(&mine), ["src/a.rs", "src/c/**"]);

    // Partial: the free one is added, the held one listed.
    let partial = mine.add_free_paths(["src/d.rs", "src/*.rs"]).await.unwrap();
    assert_eq!(partial.blocked.unwrap()[0].path, "src/*.rs");
    assert_eq!(held_paths(&mine), ["src/a.rs", "src/c/**", "src/d.rs"]);

    // Removing frees the paths for others.
    mine.remove_paths(["src/c/", "src/d.rs"]).await.unwrap();
    assert_eq!(held_paths(&mine), ["src/a.rs"]);
    let c_file = claimed(&b, paths(&["src/c/x.rs"])).await;

    // Removing every path is refused: finish the run instead.
    let err = mine.remove_paths(["src/a.rs"]).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_working_set"), "{err}");
    assert_eq!(held_paths(&mine), ["src/a.rs"]);

    // The raw call, as another process of the same agent would make it.
    let change = PathsChange::new()
        .add_paths(["docs/"])
        .unwrap()
        .remove_paths(["src/a.rs"])
        .unwrap();
    let raw = a.change_paths(mine.run_id(), &change).await.unwrap();
    assert_eq!(raw.claim.working_set.unwrap().paths, ["docs/**".to_owned()]);
    for guard in [mine, theirs, c_file] {
        guard.finish(Outcome::Succeeded).await.unwrap();
    }
}

#[tokio::test]
async fn the_guard_keeps_its_paths_across_extends() {
    let world = team().await;
    let (a, b) = (world.agent("a").await, world.agent("b").await);
    let guard = claimed(&a, paths(&["src/api/"])).await;
    guard.add_paths(["migrations/"]).await.unwrap();
    let first_expiry = guard.expires_at();
    // A ttl of 10 s is extended about every 3.3 s: wait for two extends.
    let mut watch = guard.watch();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(8), watch.changed())
            .await
            .expect("an extend within 8 s")
            .unwrap();
    }
    assert!(guard.expires_at() > first_expiry, "the lease was extended");
    assert_eq!(held_paths(&guard), ["src/api/**", "migrations/**"]);
    let runs = a
        .runs_page(
            &RunsQuery {
                active_only: true,
                ..RunsQuery::default()
            },
            None,
        )
        .await
        .unwrap();
    let run = runs
        .items
        .iter()
        .find(|r| r.run_id == guard.run_id())
        .unwrap();
    assert_eq!(
        run.claim
            .as_ref()
            .unwrap()
            .working_set
            .as_ref()
            .unwrap()
            .paths,
        ["src/api/**", "migrations/**"]
    );
    let RunStart::Skipped(skip) = b.claim(paths(&["migrations/001.sql"])).await.unwrap() else {
        panic!("the added path is still held after the extends");
    };
    assert_eq!(skip.holder().unwrap().run_id, guard.run_id());
    guard.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn a_change_answered_lease_lost_makes_the_guard_lost_at_once() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let guard = claimed(&a, paths(&["src/"])).await;
    let token = guard.cancellation_token();
    // Another process of the same agent finishes the run.
    a.finish_run(guard.run_id(), Outcome::Cancelled, None)
        .await
        .unwrap();
    let err = guard.add_paths(["docs/"]).await.unwrap_err();
    assert!(err.is_lease_lost(), "{err}");
    assert!(token.is_cancelled(), "lost without waiting for an extend");
    assert!(!guard.is_held());
    assert_eq!(held_paths(&guard), ["src/**"]);
}

#[tokio::test]
async fn bad_paths_are_refused_before_anything_is_sent_naming_the_path() {
    // Nothing listens here: any call that went out would be a transport
    // error, not the refusal.
    let dead = Client::builder()
        .base_url("http://127.0.0.1:9")
        .api_key("avs_live_x")
        .retry_policy(availsync_sdk::RetryPolicy::none())
        .build()
        .unwrap();
    let refused = |result: Result<(), Error>| match result {
        Err(Error::InvalidWorkingSet { field, error }) => (field, error),
        other => panic!("expected InvalidWorkingSet: {other:?}"),
    };
    let start = StartRun::new(REPO)
        .unwrap()
        .working_set(["src/", "../etc"], WorkingSetMode::Edit)
        .map(|_| ());
    let (field, error) = refused(start);
    assert_eq!(field, "working_set.paths[1]");
    assert!(matches!(error, WorkingSetError::Path { index: 1, .. }));

    let none: [&str; 0] = [];
    let (field, error) = refused(
        StartRun::new(REPO)
            .unwrap()
            .working_set(none, WorkingSetMode::Edit)
            .map(|_| ()),
    );
    assert_eq!(field, "working_set.paths");
    assert_eq!(error, WorkingSetError::Count(0));

    let (field, _) = refused(
        dead.check_paths(REPO, ["ok", "a\\b"], WorkingSetMode::Read)
            .await
            .map(|_| ()),
    );
    assert_eq!(field, "working_set.paths[1]");
    let many: Vec<String> = (0..201).map(|i| format!("f{i}")).collect();
    let (field, _) = refused(PathsChange::new().add_paths(&many).map(|_| ()));
    assert_eq!(field, "add");
    let (field, _) = refused(PathsChange::new().remove_paths(["/abs"]).map(|_| ()));
    assert_eq!(field, "remove[0]");
    // The message names the field and what is wrong.
    let err = StartRun::new(REPO)
        .unwrap()
        .working_set(["a/**b"], WorkingSetMode::Edit)
        .unwrap_err();
    assert!(err.to_string().contains("working_set.paths[0]"), "{err}");
    assert!(err.to_string().contains("'**'"), "{err}");
}

#[tokio::test]
async fn the_server_refuses_a_working_set_on_a_project_naming_the_field() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let start = StartRun::new("project:site")
        .unwrap()
        .working_set(["src/"], WorkingSetMode::Edit)
        .unwrap();
    let err = a.claim(start).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_working_set"));
    assert_eq!(err.api().unwrap().field.as_deref(), Some("working_set"));
}
