//! What an operator scrapes (SPEC §16): `GET /metrics` in the Prometheus
//! text format, on its own listener (`--metrics-listen`), never on the
//! public one. Decisions by kind, extends and lost leases, HTTP requests by
//! route and status with their latency, storage write latency, and the
//! live claims at the moment of the scrape.
//!
//! One registry per process: servers embedded in one process (tests) share
//! it, so their counters add up.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::{Store, StoreError};

/// An HTTP request's route (the matched template, never the path with its
/// ids) and method.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// A route, a method and the answer's status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: String,
    route: String,
    status: u16,
}

/// A start's decision and the mode it was decided in.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: String,
    mode: String,
}

/// How something ended, in a word.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Latency buckets from 0.5 ms to about 16 s.
#[derive(Debug, Clone, Copy)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
    }
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<StatusLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram, LatencyBuckets>,
    decisions: Family<DecisionLabels, Counter>,
    extends: Family<OutcomeLabels, Counter>,
    leases_lost: Counter,
    storage_writes: Family<OutcomeLabels, Histogram, LatencyBuckets>,
    live_claims: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("availsync");
        let http_requests = Family::<StatusLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            http_requests.clone(),
        );
        let http_seconds = Family::new_with_constructor(LatencyBuckets);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route and method",
            http_seconds.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "run/start decisions, by decision (proceed, skip_run) and mode (enforce, observe)",
            decisions.clone(),
        );
        let extends = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "extends",
            "run/extend calls, by outcome (extended, lease_lost)",
            extends.clone(),
        );
        let leases_lost = Counter::default();
        registry.register(
            "leases_lost",
            "extends answered lease_lost: the holder's lease lapsed or was released",
            leases_lost.clone(),
        );
        let storage_writes = Family::new_with_constructor(LatencyBuckets);
        registry.register(
            "storage_write_duration_seconds",
            "Time for a write to commit (queue included), by outcome (ok, full, error)",
            storage_writes.clone(),
        );
        let live_claims = Gauge::default();
        registry.register(
            "live_claims",
            "Claims live (granted, not ended, not lapsed) at the last scrape",
            live_claims.clone(),
        );
        Self {
            registry,
            http_requests,
            http_seconds,
            decisions,
            extends,
            leases_lost,
            storage_writes,
            live_claims,
        }
    }

    /// An HTTP request answered `status` after `elapsed`.
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&StatusLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A `run/start` decided `decision` in `mode`.
    pub fn decision(&self, decision: &str, mode: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                decision: decision.to_owned(),
                mode: mode.to_owned(),
            })
            .inc();
    }

    /// A `run/extend` that extended (`lost == false`) or answered
    /// `lease_lost`.
    pub fn extend(&self, lost: bool) {
        let outcome = if lost { "lease_lost" } else { "extended" };
        self.extends.get_or_create(&OutcomeLabels { outcome }).inc();
        if lost {
            self.leases_lost.inc();
        }
    }

    /// A store write's outcome after `elapsed`.
    pub fn storage_write<T>(&self, outcome: &Result<T, StoreError>, elapsed: Duration) {
        let outcome = match outcome {
            Ok(_) => "ok",
            Err(StoreError::StorageFull(_)) => "full",
            Err(StoreError::Backend(_)) => "error",
            // A refusal by a rule is a write that worked as it should.
            Err(_) => "ok",
        };
        self.storage_writes
            .get_or_create(&OutcomeLabels { outcome })
            .observe(elapsed.as_secs_f64());
    }

    /// The text a scrape answers, with the live claims counted now.
    async fn scrape(&self, store: &dyn Store) -> Result<String, std::fmt::Error> {
        match store.live_claims().await {
            Ok(live) => {
                self.live_claims
                    .set(i64::try_from(live).unwrap_or(i64::MAX));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: could not count live claims"),
        }
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The metrics listener's router: `GET /metrics`.
pub fn router(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/metrics", get(serve))
        .with_state(store)
}

async fn serve(State(store): State<Arc<dyn Store>>) -> Response {
    match global().scrape(store.as_ref()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics: could not encode");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
