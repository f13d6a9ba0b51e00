//! The handler built through the library, as a remote MCP endpoint builds
//! it: the same tools as the stdio binary, and under
//! `LeaseKeeping::ByServer` no lease kept alive from the handler.

use std::time::Duration;

use availsync_mcp::{AvailsyncMcp, INSTRUCTIONS, LeaseKeeping, Options};
use rmcp::model::Tool;
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::{Launch, World, call, dead_url};

const OPTIONS: Options = Options {
    default_ttl_seconds: 120,
    call_timeout: Duration::from_secs(10),
};

fn handler(url: &str, key: &str, keeping: LeaseKeeping) -> AvailsyncMcp {
    let client = availsync_sdk::Client::builder()
        .base_url(url)
        .api_key(key)
        .build()
        .unwrap();
    AvailsyncMcp::new(client, keeping, OPTIONS)
}

/// `handler` served over an in-memory pipe, and an rmcp client session
/// with it (the session's end ends the server task).
async fn connect(handler: AvailsyncMcp) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let (read, write) = tokio::io::split(server_io);
        if let Ok(running) = handler.serve((read, write)).await {
            let _ = running.waiting().await;
        }
    });
    let (read, write) = tokio::io::split(client_io);
    tokio::time::timeout(Duration::from_secs(10), ().serve((read, write)))
        .await
        .expect("initialize within 10 s")
        .expect("initialize")
}

/// Each tool as JSON (name, title, description, schemas, annotations), by
/// name.
fn by_name(tools: &[Tool]) -> Vec<(String, Value)> {
    let mut listed: Vec<(String, Value)> = tools
        .iter()
        .map(|t| (t.name.to_string(), serde_json::to_value(t).unwrap()))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    listed
}

#[tokio::test]
async fn the_library_handler_lists_the_same_tools_as_the_stdio_binary() {
    let url = dead_url();
    let stdio = Launch::agent(&url, "avs_live_unused").start().await;
    let stdio_tools = by_name(&stdio.client.list_all_tools().await.unwrap());
    let stdio_info = stdio.client.peer_info().unwrap();
    assert_eq!(stdio_tools.len(), 11);
    assert_eq!(stdio_info.instructions.as_deref(), Some(INSTRUCTIONS));

    for keeping in [
        LeaseKeeping::InProcess {
            max_run_time: Duration::from_secs(3600),
        },
        LeaseKeeping::ByServer { ttl_seconds: 900 },
    ] {
        let handler = handler(&url, "avs_live_unused", keeping);
        assert_eq!(by_name(&handler.tools()), stdio_tools, "{keeping:?}");
        let client = connect(handler).await;
        let listed = by_name(&client.list_all_tools().await.unwrap());
        for ((name, tool), (_, expected)) in listed.iter().zip(&stdio_tools) {
            assert_eq!(tool, expected, "{name} under {keeping:?}");
        }
        assert_eq!(listed, stdio_tools, "{keeping:?}");
        let info = client.peer_info().unwrap();
        assert_eq!(info.instructions, stdio_info.instructions);
        assert_eq!(info.server_info, stdio_info.server_info);
        assert_eq!(info.capabilities, stdio_info.capabilities);
        let _ = client.cancel().await;
    }
    stdio.close().await;
}

#[tokio::test]
async fn by_server_starts_runs_with_the_servers_ttl_and_extends_nothing() {
    let world = World::new().await;
    let key = world.agent("remote-agent").await;
    let keeping = LeaseKeeping::ByServer { ttl_seconds: 10 };
    let client = connect(handler(&world.url(), &key, keeping)).await;
    let repo = "repo:acme/remote";

    let started = call(&client, "start_run", json!({"resource": repo})).await;
    assert_eq!(started.verdict(), "PROCEED", "{}", started.text);
    assert_eq!(started.structured["lease"]["ttl_seconds"], 10);
    assert_eq!(started.structured["lease"]["kept_alive"], true);
    assert_eq!(started.structured["lease"]["kept_alive_until"], Value::Null);
    let run_id = started.str("/run_id");

    // Nothing in the handler extends it: it lapses at its TTL.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let check = call(&client, "check_availability", json!({"resource": repo})).await;
    assert_eq!(check.structured["available"], true, "{}", check.text);

    // A second start, kept alive by an explicit extend_run, finishes.
    let again = call(&client, "start_run", json!({"resource": repo})).await;
    assert_eq!(again.verdict(), "PROCEED", "{}", again.text);
    let second = again.str("/run_id");
    assert_ne!(second, run_id);
    let extended = call(
        &client,
        "extend_run",
        json!({"run_id": second, "ttl_seconds": 60}),
    )
    .await;
    assert!(!extended.is_error, "{}", extended.text);
    let finished = call(
        &client,
        "finish_run",
        json!({"run_id": second, "outcome": "succeeded"}),
    )
    .await;
    assert_eq!(finished.verdict(), "FINISHED", "{}", finished.text);
    assert_eq!(finished.structured["released"], true);
    let _ = client.cancel().await;
}
