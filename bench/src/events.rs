//! "Events/s a stream sustains": one reader follows `GET /v1/events`
//! (through the SDK's `Client::events`, which resumes by itself after a
//! `lagged` notice) while the claim → finish clients write, two activity
//! events per cycle. The row counts the events the reader received whose
//! commit time (`at`) falls in the run (warm-up included), after letting
//! the tail arrive, and how long after their commit they arrived.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use availsync_sdk::{Client, EventFilter};
use futures::StreamExt;

use crate::systems::{self, Binaries, Kind};
use crate::workloads::{self, Window, Workload};

/// Time the reader gets after the writers stop, for the events still on
/// their way.
const DRAIN: Duration = Duration::from_secs(2);

/// The section's markdown: one row per Availsync system of the run.
pub async fn section(
    kinds: &[Kind],
    binaries: &Binaries,
    clients: usize,
    window: Window,
) -> String {
    let mut out = format!(
        "\n## Events/s a stream sustains ({clients} claim → finish clients, one reader of GET /v1/events)\n\n\
         | system | events committed/s | events received/s | received / committed | delivery p50 ms | p99 ms | max ms |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for kind in kinds
        .iter()
        .filter(|k| matches!(k, Kind::Availsync | Kind::AvailsyncPostgres { .. }))
    {
        eprintln!("events · {} · {clients} clients", kind.name());
        match measure(kind, binaries, clients, window).await {
            Ok(row) => out.push_str(&format!("| {} {row}\n", kind.name())),
            Err(e) => {
                eprintln!("    failed: {e:#}");
                out.push_str(&format!("| {} | failed: {e:#} | | | | | |\n", kind.name()));
            }
        }
    }
    out
}

async fn measure(
    kind: &Kind,
    binaries: &Binaries,
    clients: usize,
    window: Window,
) -> anyhow::Result<String> {
    let system = systems::start(kind, binaries, clients + 1).await?;
    let (url, key) = system
        .event_stream()
        .ok_or_else(|| anyhow::anyhow!("{} has no event stream", kind.name()))?;
    let client = Client::builder().base_url(url).api_key(key).build()?;
    // (commit time in ms since the epoch, delivery delay in ms)
    let received: Arc<Mutex<Vec<(i64, f64)>>> = Arc::default();
    let reader = tokio::spawn({
        let received = Arc::clone(&received);
        async move {
            let events = client.events(EventFilter::new());
            futures::pin_mut!(events);
            while let Some(item) = events.next().await {
                let Ok(item) = item else { continue };
                let at = item.at.unix_millis();
                let now = millis(SystemTime::now());
                if let Ok(mut received) = received.lock() {
                    received.push((at, (now - at) as f64));
                }
            }
        }
    });
    // The stream opens on its first poll: give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let from = millis(SystemTime::now());
    let outcome = workloads::run(
        system.as_ref(),
        &Workload::ClaimFinish {
            resources: crate::CLAIM_RESOURCES,
        },
        clients,
        window,
        None,
    )
    .await;
    let until = millis(SystemTime::now());
    tokio::time::sleep(DRAIN).await;
    reader.abort();
    system.stop().await?;
    let outcome = outcome?;
    let mut delays: Vec<f64> = received
        .lock()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))?
        .iter()
        .filter(|(at, _)| (from..=until).contains(at))
        .map(|(_, delay)| *delay)
        .collect();
    delays.sort_by(f64::total_cmp);
    let seconds = (until - from) as f64 / 1000.0;
    // Every cycle records run_started and run_finished; the whole run's
    // cycles (warm-up too), as the received count covers the whole run.
    let committed = outcome.ops_per_second() * 2.0;
    let received_per_s = delays.len() as f64 / seconds;
    let at = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q).round().max(0.0) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(format!(
        "| {committed:.0} | {received_per_s:.0} | {:.2} | {:.0} | {:.0} | {:.0} |",
        received_per_s / committed,
        at(0.5),
        at(0.99),
        at(1.0)
    ))
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
