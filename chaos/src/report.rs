//! The soak's summary: what ran, what was injected, what the checker found.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::checker::{CHECKS, Violation};
use crate::history::Counters;
use crate::proxy::{FAULT_KINDS, ProxyStats};
use crate::{SoakConfig, load};

/// Violations printed in full; the rest are counted.
const SHOWN_VIOLATIONS: usize = 20;

/// What the proxy did, read once at the end.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyTally {
    /// Connections accepted.
    pub connections: u64,
    /// Connections reset because the server was down.
    pub upstream_down: u64,
    /// Faults injected, by [`FAULT_KINDS`] index.
    pub faults: [u64; 4],
}

impl ProxyTally {
    /// Reads the proxy's counters.
    pub fn read(stats: &ProxyStats) -> Self {
        Self {
            connections: load(&stats.connections),
            upstream_down: load(&stats.upstream_down),
            faults: [0, 1, 2, 3].map(|i| load(&stats.faults[i])),
        }
    }
}

/// The soak's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// How it ran.
    pub config: SoakConfig,
    /// How long clients ran.
    pub elapsed: Duration,
    /// SIGKILLs of the server, the final one included.
    pub kills: u32,
    /// Kills followed by an outage longer than the TTL.
    pub long_outages: u32,
    /// Restarts of the shared database.
    pub database_restarts: u32,
    /// What clients did.
    pub counters: Counters,
    /// Granted runs recorded.
    pub grants_recorded: usize,
    /// Of those, grants holding several resources.
    pub multi_grants_recorded: usize,
    /// Acknowledged holds recorded.
    pub holds_recorded: usize,
    /// What the proxy did.
    pub proxy: ProxyTally,
    /// Runs the server had after the last restart.
    pub server_runs: usize,
    /// Holds the server had after the last restart.
    pub server_holds: usize,
    /// What the checker found.
    pub violations: Vec<Violation>,
    /// Where the data was kept, if asked.
    pub kept_data: Option<PathBuf>,
}

impl Report {
    /// True when no guarantee was broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let config = &self.config;
        let faults: u64 = self.proxy.faults.iter().sum();
        let rows: Vec<(&str, String)> = vec![
            ("seed", config.seed.to_string()),
            (
                "servers",
                match &config.database_url {
                    Some(_) => format!("{} replica(s) on PostgreSQL", config.replicas.max(1)),
                    None => "1 server on SQLite".to_owned(),
                },
            ),
            (
                "client time",
                format!("{:.1} s", self.elapsed.as_secs_f64()),
            ),
            (
                "clients",
                format!(
                    "{} agents on {} resources (ttl {} s), {} hold makers on {} calendars",
                    config.agents,
                    config.resources,
                    config.ttl.as_secs(),
                    config.hold_makers,
                    config.calendars
                ),
            ),
            (
                "mix",
                format!(
                    "{:.0} % of starts on 2–3 resources, {}{}",
                    config.multi_rate * 100.0,
                    if config.pool_capacity > 0 {
                        format!(
                            "{:.0} % on {} (capacity {}) alone",
                            config.pool_rate * 100.0,
                            crate::POOL,
                            config.pool_capacity
                        )
                    } else {
                        "no pool".to_owned()
                    },
                    if config.depends_on && config.resources >= 2 {
                        "; project:soak-0 depends on project:soak-1"
                    } else {
                        ""
                    }
                ),
            ),
            ("operations", c.operations().to_string()),
            (
                "starts",
                format!(
                    "{} ({} granted, {} skipped, {} failed, {} of them unanswered)",
                    c.starts, c.grants, c.skips, c.start_errors, c.start_no_answer
                ),
            ),
            (
                "several-resource starts",
                format!("{} ({} granted)", c.multi_starts, c.multi_grants),
            ),
            (
                "waiting starts",
                format!(
                    "{} ({} granted after waiting)",
                    c.waiting_starts, c.grants_after_waiting
                ),
            ),
            (
                "pool starts",
                format!(
                    "{} ({} granted, {} skipped capacity_full)",
                    c.pool_starts, c.pool_grants, c.capacity_full
                ),
            ),
            (
                "runs ended",
                format!(
                    "{} finished, {} finish failed, {} abandoned, {} leases lost",
                    c.finishes, c.finish_errors, c.abandoned, c.lost
                ),
            ),
            ("guard checks", c.guard_checks.to_string()),
            (
                "holds",
                format!(
                    "{} tried ({} created, {} conflicts, {} failed); {} released, {} release failed",
                    c.hold_attempts,
                    c.holds_created,
                    c.hold_conflicts,
                    c.hold_errors,
                    c.releases,
                    c.release_errors
                ),
            ),
            (
                "server kills (SIGKILL)",
                format!(
                    "{} ({} followed by an outage longer than the ttl)",
                    self.kills, self.long_outages
                ),
            ),
            ("database restarts", self.database_restarts.to_string()),
            (
                "proxy",
                format!(
                    "{} connections, {} refused while the server was down",
                    self.proxy.connections, self.proxy.upstream_down
                ),
            ),
            (
                "faults injected",
                format!(
                    "{faults} ({})",
                    FAULT_KINDS
                        .iter()
                        .zip(self.proxy.faults)
                        .map(|(kind, n)| format!("{kind} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            (
                "checked",
                format!(
                    "{} grants ({} on several resources), {} holds told to clients; {} runs, {} holds on the server",
                    self.grants_recorded,
                    self.multi_grants_recorded,
                    self.holds_recorded,
                    self.server_runs,
                    self.server_holds
                ),
            ),
            ("violations", self.violations.len().to_string()),
        ];
        writeln!(f, "| measure | value |")?;
        writeln!(f, "| --- | --- |")?;
        for (name, value) in rows {
            writeln!(f, "| {name} | {value} |")?;
        }
        writeln!(f)?;
        writeln!(f, "| check | violations |")?;
        writeln!(f, "| --- | --- |")?;
        for check in CHECKS {
            let n = self.violations.iter().filter(|v| v.check == check).count();
            writeln!(f, "| {check} | {n} |")?;
        }
        if !self.violations.is_empty() {
            writeln!(f)?;
            for v in self.violations.iter().take(SHOWN_VIOLATIONS) {
                writeln!(f, "- {}: {}", v.check, v.detail)?;
            }
            if self.violations.len() > SHOWN_VIOLATIONS {
                writeln!(
                    f,
                    "- … and {} more",
                    self.violations.len() - SHOWN_VIOLATIONS
                )?;
            }
        }
        if let Some(dir) = &self.kept_data {
            writeln!(f)?;
            writeln!(f, "data and server log kept in {}", dir.display())?;
        }
        writeln!(f)?;
        if self.passed() {
            write!(f, "result: PASS, 0 violations")
        } else {
            write!(f, "result: FAIL, {} violations", self.violations.len())
        }
    }
}
