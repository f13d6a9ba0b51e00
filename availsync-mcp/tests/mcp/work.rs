//! Claiming, skipping, keeping and releasing leases through the MCP tools.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Launch, World, eventually};

const TOOLS: [&str; 11] = [
    "start_run",
    "claim_paths",
    "extend_run",
    "finish_run",
    "list_runs",
    "list_rules",
    "check_availability",
    "check_conflicts",
    "create_hold",
    "release_hold",
    "usage",
];

#[tokio::test]
async fn initialize_names_the_server_and_lists_eleven_tools_with_input_and_output_schemas() {
    let world = World::new().await;
    let key = world.agent("claude-a").await;
    let mcp = Launch::agent(&world.url(), &key).start().await;

    let info = mcp.client.peer_info().unwrap();
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("availsync-mcp")
    );
    assert!(info.capabilities.tools.is_some());
    let instructions = info.instructions.clone().unwrap();
    assert!(instructions.contains("start_run") && instructions.contains("finish_run"));

    let tools = mcp.client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut expected = TOOLS.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for tool in &tools {
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(
            description.len() > 80,
            "{} needs a real description",
            tool.name
        );
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        assert_eq!(
            tool.input_schema.get("additionalProperties"),
            Some(&json!(false)),
            "{} rejects unknown arguments",
            tool.name
        );
        let output = tool.output_schema.as_ref().unwrap_or_else(|| {
            panic!("{} has an output schema", tool.name);
        });
        assert_eq!(output.get("type"), Some(&json!("object")));
        // The plain subset every client and model provider takes: no
        // references, no unions, no formats beyond JSON Schema's own.
        let input = serde_json::to_string(&tool.input_schema).unwrap();
        for banned in [
            "\"$ref\"",
            "\"$defs\"",
            "\"oneOf\"",
            "\"anyOf\"",
            "\"null\"",
            "\"format\"",
        ] {
            assert!(
                !input.contains(banned),
                "{}'s input schema has {banned}: {input}",
                tool.name
            );
        }
        let output = serde_json::to_string(output).unwrap();
        for banned in ["\"$ref\"", "uint32", "uint64", "int64", "double"] {
            assert!(
                !output.contains(banned),
                "{}'s output schema has {banned}: {output}",
                tool.name
            );
        }
    }
    let start = tools.iter().find(|t| t.name == "start_run").unwrap();
    assert_eq!(
        start.input_schema.get("required"),
        Some(&json!(["resource"]))
    );
    let ttl = &start.input_schema["properties"]["ttl_seconds"];
    assert_eq!(
        (
            ttl["type"].clone(),
            ttl["minimum"].clone(),
            ttl["maximum"].clone()
        ),
        (json!("integer"), json!(10), json!(3600))
    );
    let finish = tools.iter().find(|t| t.name == "finish_run").unwrap();
    assert_eq!(
        finish.input_schema["properties"]["outcome"]["enum"],
        json!(["succeeded", "failed", "cancelled"])
    );
    let (status, _, _) = mcp.close().await;
    assert!(status.success());
}

/// The end-to-end flow: PROCEED, SKIP naming the holder, the lease
/// outlives its TTL while the process lives, and closing stdin releases it.
#[tokio::test]
async fn a_lease_outlives_its_ttl_while_the_process_lives_and_closing_stdin_releases_it() {
    let world = World::new().await;
    let key_a = world.agent("claude-a").await;
    let key_b = world.agent("ci-bot").await;
    let a = Launch::agent(&world.url(), &key_a).start().await;
    let b = Launch::agent(&world.url(), &key_b).start().await;

    let claimed = a
        .call(
            "start_run",
            json!({"resource": "repo:Acme/Web", "ttl_seconds": 10, "purpose": "fix login"}),
        )
        .await;
    assert!(!claimed.is_error);
    assert_eq!(claimed.verdict(), "PROCEED", "{}", claimed.text);
    assert_eq!(claimed.str("/action"), "proceed");
    assert_eq!(claimed.str("/resource"), "repo:acme/web");
    let run_a = claimed.str("/run_id");
    assert!(claimed.text.contains(&run_a) && claimed.text.contains("finish_run"));
    assert_eq!(claimed.structured["lease"]["kept_alive"], json!(true));
    assert_eq!(claimed.structured["lease"]["ttl_seconds"], json!(10));
    let first_expiry = claimed.str("/lease/expires_at");

    let skipped = b
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert!(!skipped.is_error);
    assert_eq!(skipped.verdict(), "SKIP", "{}", skipped.text);
    assert!(skipped.text.contains("'claude-a'") && skipped.text.contains(&run_a));
    assert!(skipped.text.contains("Do not edit it now"));
    assert_eq!(skipped.str("/action"), "skip");
    assert_eq!(skipped.str("/holder/agent_name"), "claude-a");
    assert_eq!(skipped.str("/holder/run_id"), run_a);
    assert_eq!(skipped.str("/reason/code"), "resource_claimed");

    // 25 s on a 10 s lease: b keeps being told to skip.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let again = b
            .call("start_run", json!({"resource": "repo:acme/web"}))
            .await;
        assert_eq!(
            again.verdict(),
            "SKIP",
            "at {:?}: {}",
            started.elapsed(),
            again.text
        );
        assert_eq!(again.str("/holder/run_id"), run_a);
    }
    let held = b
        .call("check_availability", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(held.verdict(), "BUSY", "{}", held.text);
    assert!(
        held.str("/holder/expires_at") > first_expiry,
        "the lease was extended"
    );
    let listed = a.call("list_runs", json!({})).await;
    assert_eq!(listed.verdict(), "RUNS");
    let runs = listed.structured["runs"].as_array().unwrap().clone();
    let mine = runs.iter().find(|r| r["run_id"] == json!(run_a)).unwrap();
    assert_eq!(mine["kept_alive_by_this_session"], json!(true));
    assert_eq!(mine["status"], json!("active"));

    // Closing a's stdin finishes its run as cancelled and frees the repo.
    let closed_at = Instant::now();
    let closing = tokio::spawn(a.close());
    let freed = eventually(Duration::from_secs(2), || async {
        b.call("check_availability", json!({"resource": "repo:acme/web"}))
            .await
            .structured["available"]
            == json!(true)
    })
    .await;
    assert!(
        freed.is_some(),
        "the lease was not released within 2 s of stdin closing"
    );
    let (status, exit_after, stderr) = closing.await.unwrap();
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{stderr}"
    );
    assert!(
        exit_after < Duration::from_secs(2),
        "exited after {exit_after:?}"
    );
    assert!(
        stderr.contains("finished run as cancelled on shutdown"),
        "{stderr}"
    );
    eprintln!(
        "released {:?} after stdin closed; process exited after {exit_after:?}",
        closed_at.elapsed()
    );

    let proceed = b
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(proceed.verdict(), "PROCEED", "{}", proceed.text);
    let audit_runs = b
        .call(
            "list_runs",
            json!({"status": "all", "resource": "repo:acme/web"}),
        )
        .await;
    let runs = audit_runs.structured["runs"].as_array().unwrap().clone();
    let old = runs.iter().find(|r| r["run_id"] == json!(run_a)).unwrap();
    assert_eq!(old["status"], json!("finished"));
    assert_eq!(old["outcome"], json!("cancelled"));
    let (status, _, _) = b.close().await;
    assert!(status.success());
}

#[tokio::test]
async fn finish_run_releases_the_lease_at_once_and_a_finished_run_cannot_be_extended() {
    let world = World::new().await;
    let key_a = world.agent("claude-a").await;
    let key_b = world.agent("ci-bot").await;
    let a = Launch::agent(&world.url(), &key_a).start().await;
    let b = Launch::agent(&world.url(), &key_b).start().await;

    let claimed = a
        .call("start_run", json!({"resource": "project:homepage"}))
        .await;
    assert_eq!(claimed.verdict(), "PROCEED", "{}", claimed.text);
    let run_id = claimed.str("/run_id");
    assert_eq!(claimed.structured["lease"]["ttl_seconds"], json!(120));

    // Asking again for what this session holds answers the same run.
    let again = a
        .call("start_run", json!({"resource": "project:homepage"}))
        .await;
    assert_eq!(again.verdict(), "PROCEED", "{}", again.text);
    assert_eq!(again.str("/run_id"), run_id);
    assert_eq!(again.structured["replayed"], json!(true));

    // A skipped run may be finished too, recording that the work was not done.
    let skipped = b
        .call("start_run", json!({"resource": "project:homepage"}))
        .await;
    assert_eq!(skipped.verdict(), "SKIP", "{}", skipped.text);
    let recorded = b
        .call(
            "finish_run",
            json!({"run_id": skipped.str("/run_id"), "outcome": "cancelled"}),
        )
        .await;
    assert_eq!(recorded.verdict(), "FINISHED", "{}", recorded.text);
    assert_eq!(recorded.structured["released"], json!(false));
    assert!(
        recorded.text.contains("held no live lease"),
        "{}",
        recorded.text
    );

    let extended = a
        .call("extend_run", json!({"run_id": run_id, "ttl_seconds": 600}))
        .await;
    assert_eq!(extended.verdict(), "EXTENDED", "{}", extended.text);
    assert_eq!(extended.structured["lease"]["ttl_seconds"], json!(600));
    assert_eq!(extended.str("/resource"), "project:homepage");

    let finished = a
        .call(
            "finish_run",
            json!({"run_id": run_id, "outcome": "succeeded", "summary": "done"}),
        )
        .await;
    assert_eq!(finished.verdict(), "FINISHED", "{}", finished.text);
    assert_eq!(finished.structured["released"], json!(true));
    assert_eq!(finished.str("/outcome"), "succeeded");
    assert!(finished.text.contains("released"));

    let proceed = b
        .call("start_run", json!({"resource": "project:homepage"}))
        .await;
    assert_eq!(proceed.verdict(), "PROCEED", "{}", proceed.text);

    let lost = a.call("extend_run", json!({"run_id": run_id})).await;
    assert!(lost.is_error);
    assert_eq!(lost.verdict(), "LEASE LOST", "{}", lost.text);
    assert!(lost.text.contains("Stop editing"));
    assert_eq!(lost.error["code"], "lease_lost");

    let again = a
        .call("finish_run", json!({"run_id": run_id, "outcome": "failed"}))
        .await;
    assert_eq!(again.verdict(), "FINISHED", "finishing twice is harmless");
    assert_eq!(
        again.str("/outcome"),
        "succeeded",
        "the first outcome stays"
    );

    let unknown = a
        .call("finish_run", json!({"run_id": "nope", "outcome": "failed"}))
        .await;
    assert!(unknown.is_error);
    assert_eq!(unknown.verdict(), "NOT FOUND", "{}", unknown.text);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn an_observe_agent_proceeds_without_a_lease_and_records_its_outcome() {
    let world = World::new().await;
    let key_a = world.agent("claude-a").await;
    let key_o = world.observer("risk-meter").await;
    let a = Launch::agent(&world.url(), &key_a).start().await;
    let o = Launch::agent(&world.url(), &key_o).start().await;

    let claimed = a
        .call("start_run", json!({"resource": "repo:acme/api"}))
        .await;
    assert_eq!(claimed.verdict(), "PROCEED");

    let observed = o
        .call("start_run", json!({"resource": "repo:acme/api"}))
        .await;
    assert!(!observed.is_error);
    assert!(
        observed
            .text
            .starts_with("PROCEED (observe mode, nothing is locked)"),
        "{}",
        observed.text
    );
    assert_eq!(observed.str("/mode"), "observe");
    assert_eq!(observed.structured["lease"], Value::Null);
    assert_eq!(observed.structured["would_block"], json!(true));
    let finished = o
        .call(
            "finish_run",
            json!({"run_id": observed.str("/run_id"), "outcome": "succeeded"}),
        )
        .await;
    assert_eq!(finished.verdict(), "FINISHED");
    assert_eq!(finished.structured["released"], json!(false));

    // A dry run by an enforcing agent: nothing locked either.
    let dry = a
        .call(
            "start_run",
            json!({"resource": "repo:acme/other", "observe": true}),
        )
        .await;
    assert_eq!(dry.str("/mode"), "observe");
    a.close().await;
    o.close().await;
}

#[tokio::test]
async fn invalid_arguments_are_tool_errors_that_say_what_to_fix_and_the_process_carries_on() {
    let world = World::new().await;
    let key = world.agent("claude-a").await;
    let mcp = Launch::agent(&world.url(), &key).start().await;

    for (args, needle) in [
        (json!({"resource": "repo:acme"}), "owner/name"),
        (
            json!({"resource": "repo:a/b", "paths": ["../x"]}),
            "working_set.paths[0]",
        ),
        (
            json!({"resource": "pool:a", "with_resources": ["pool:a"]}),
            "listed twice",
        ),
        (
            json!({"resource": "repo:a/b", "ttl_seconds": 5}),
            "ttl_seconds",
        ),
        (
            json!({"resource": "repo:a/b", "run_id": "has space"}),
            "run_id",
        ),
    ] {
        let answer = mcp.call("start_run", args.clone()).await;
        assert!(answer.is_error, "{args}");
        assert_eq!(answer.verdict(), "INVALID", "{}", answer.text);
        assert!(answer.text.contains(needle), "{}", answer.text);
        assert_eq!(answer.error["code"], "invalid_argument");
    }
    // Schema violations (a typo'd field, a missing one) are INVALID too.
    for (tool, args, needle) in [
        (
            "start_run",
            json!({"resource": "repo:a/b", "ttl": 60}),
            "unknown field `ttl`",
        ),
        (
            "finish_run",
            json!({"run_id": "x"}),
            "missing field `outcome`",
        ),
        (
            "finish_run",
            json!({"run_id": "x", "outcome": "done"}),
            "unknown variant `done`",
        ),
    ] {
        let answer = mcp.call(tool, args).await;
        assert!(answer.is_error, "{tool}");
        assert_eq!(answer.verdict(), "INVALID", "{}", answer.text);
        assert!(answer.text.contains(needle), "{}", answer.text);
        assert_eq!(answer.error["code"], "invalid_argument");
    }
    let window = mcp
        .call(
            "check_conflicts",
            json!({"resource": "calendar:x", "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T09:00:00Z"}),
        )
        .await;
    assert_eq!(window.verdict(), "INVALID", "{}", window.text);

    let still_alive = mcp.call("start_run", json!({"resource": "repo:a/b"})).await;
    assert_eq!(still_alive.verdict(), "PROCEED");
    let (status, _, _) = mcp.close().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_lease_is_kept_alive_only_up_to_the_maximum_run_time() {
    let world = World::new().await;
    let key_a = world.agent("forgetful").await;
    let key_b = world.agent("ci-bot").await;
    let a = Launch::agent(&world.url(), &key_a)
        .arg("--max-run-time")
        .arg("3s")
        .start()
        .await;
    let b = Launch::agent(&world.url(), &key_b).start().await;

    let claimed = a
        .call(
            "start_run",
            json!({"resource": "repo:acme/web", "ttl_seconds": 10}),
        )
        .await;
    assert_eq!(claimed.verdict(), "PROCEED");
    assert!(claimed.structured["lease"]["kept_alive_until"].is_string());
    let skipped = b
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(skipped.verdict(), "SKIP");

    // Finished as cancelled at 3 s, well before the 10 s TTL.
    let freed = eventually(Duration::from_secs(6), || async {
        b.call("check_availability", json!({"resource": "repo:acme/web"}))
            .await
            .structured["available"]
            == json!(true)
    })
    .await;
    assert!(freed.is_some(), "not released after the maximum run time");
    let listed = b
        .call(
            "list_runs",
            json!({"status": "all", "resource": "repo:acme/web"}),
        )
        .await;
    let run = &listed.structured["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == claimed.structured["run_id"])
        .unwrap()
        .clone();
    assert_eq!(run["outcome"], json!("cancelled"));
    let (_, _, stderr) = a.close().await;
    assert!(stderr.contains("maximum run time reached"), "{stderr}");
    b.close().await;
}
