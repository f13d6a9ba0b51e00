//! Markdown tables: one per workload with ratios against etcd, the scaling
//! over clients and over resource counts, and issue 10's targets checked.

use std::fmt::Write;
use std::time::Duration;

use crate::workloads::Outcome;

/// Which table a measurement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// One of the four workloads at the standard client count.
    Workload(usize),
    /// Workload 1 at another client count.
    Clients,
    /// Workload 1 with preloaded resources.
    Resources,
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Row {
    /// Table.
    pub section: Section,
    /// Which round of its measurement (1-based).
    pub round: usize,
    /// Every round's throughput, in round order, once [`medians`] chose
    /// this row for its measurement; empty before.
    pub rounds: Vec<f64>,
    /// `Kind::name()` of the system.
    pub system: String,
    /// Its label.
    pub label: String,
    /// Its durability.
    pub durability: String,
    /// Workload title.
    pub workload: String,
    /// What one operation is.
    pub unit: String,
    /// Client tasks.
    pub clients: usize,
    /// Protected resources (workload 1).
    pub resources: usize,
    /// Live claims taken before the run.
    pub live_claims: usize,
    /// How long the preload took.
    pub preload: Option<Duration>,
    /// What was measured.
    pub outcome: Outcome,
}

fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    let digits = format!("{:.0}", value.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn ratio(value: f64, base: Option<f64>) -> String {
    match base {
        Some(base) if base > 0.0 && value.is_finite() => format!("{:.2}×", value / base),
        _ => "–".into(),
    }
}

fn cpu(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.3}")
    } else {
        "–".into()
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn refused(outcome: &Outcome) -> String {
    let decided = outcome.record.granted + outcome.record.refused;
    if outcome.record.refused == 0 || decided == 0 {
        return "0".into();
    }
    format!(
        "{} ({:.0} %)",
        thousands(outcome.record.refused as f64),
        100.0 * outcome.record.refused as f64 / decided as f64
    )
}

fn errors(outcome: &Outcome) -> String {
    match &outcome.first_error {
        None => "0".into(),
        Some(first) => {
            let short: String = first.chars().take(80).collect();
            format!("{} ({})", outcome.errors, short.replace('|', "/"))
        }
    }
}

/// The report's header: when, the exact command, the machine.
pub struct Header {
    /// UTC date and time.
    pub date: String,
    /// The exact command line.
    pub command: String,
    /// Machine description lines.
    pub machine: Vec<String>,
    /// Settings lines.
    pub settings: Vec<String>,
}

/// Renders the whole report; `waiting` is the waiting section's table
/// (empty when it did not run).
pub fn render(header: &Header, rows: &[Row], waiting: &str, failures: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Availsync benchmark, {}\n", header.date);
    let _ = writeln!(out, "Command:\n\n```sh\n{}\n```\n", header.command);
    let _ = writeln!(out, "Machine:\n");
    for line in &header.machine {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(out, "\nSettings:\n");
    for line in &header.settings {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    let chosen = medians(rows);
    out.push_str(&workload_tables(&chosen));
    out.push_str(&client_table(&chosen));
    out.push_str(&resource_table(&chosen));
    out.push_str(waiting);
    out.push_str(&targets(&chosen, rows));
    if !failures.is_empty() {
        out.push_str("## Failed measurements\n\n");
        for failure in failures {
            let _ = writeln!(out, "- {}", failure.replace('\n', " "));
        }
        out.push('\n');
    }
    out
}

/// Whether two rows measured the same thing on the same system (in
/// different rounds).
fn same_measurement(a: &Row, b: &Row) -> bool {
    a.section == b.section
        && a.system == b.system
        && a.clients == b.clients
        && a.resources == b.resources
        && a.preload.is_some() == b.preload.is_some()
}

/// One row per system and measurement, in the order they first ran: the
/// round with the median throughput (the lower of the two middle ones for
/// an even count), so that its latency, CPU and RSS come from one run,
/// carrying every round's throughput in [`Row::rounds`].
pub fn medians(rows: &[Row]) -> Vec<Row> {
    let mut groups: Vec<Vec<&Row>> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|g| same_measurement(g[0], row)) {
            Some(group) => group.push(row),
            None => groups.push(vec![row]),
        }
    }
    groups
        .into_iter()
        .map(|mut group| {
            group.sort_by_key(|r| r.round);
            let rounds: Vec<f64> = group.iter().map(|r| r.outcome.ops_per_second()).collect();
            group.sort_by(|a, b| {
                a.outcome
                    .ops_per_second()
                    .total_cmp(&b.outcome.ops_per_second())
            });
            let mut median = group[(group.len() - 1) / 2].clone();
            median.rounds = rounds;
            median
        })
        .collect()
}

/// Every round's throughput, in round order, e.g. "5,290 · 4,410 · 4,435".
fn rounds(row: &Row) -> String {
    row.rounds
        .iter()
        .map(|&ops| thousands(ops))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn etcd_in<'a>(rows: impl Iterator<Item = &'a Row>) -> Option<&'a Row> {
    rows.into_iter().find(|r| r.system == "etcd")
}

fn workload_tables(rows: &[Row]) -> String {
    let mut out = String::new();
    for index in 1..=5 {
        let in_table: Vec<&Row> = rows
            .iter()
            .filter(|r| r.section == Section::Workload(index))
            .collect();
        let Some(first) = in_table.first() else {
            continue;
        };
        let etcd = etcd_in(in_table.iter().copied());
        let _ = writeln!(
            out,
            "## {} ({} clients; one operation = one {})\n",
            first.workload, first.clients, first.unit
        );
        if let Some(rate) = first.outcome.target_rate {
            let _ = writeln!(
                out,
                "Scheduled: {} extends/s ({} leases, each extended every TTL/3); latency counts from the scheduled instant.\n",
                thousands(rate),
                thousands(first.resources as f64),
            );
        }
        let _ = writeln!(
            out,
            "| system | durability | ops/s | rounds (ops/s) | × etcd | p50 ms | p99 ms | p99.9 ms | refused | server CPU s / 1k ops | × etcd | client CPU s / 1k ops | peak server RSS MiB | other load (cores) | errors |"
        );
        let _ = writeln!(
            out,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for row in &in_table {
            let o = &row.outcome;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                row.label,
                row.durability,
                thousands(o.ops_per_second()),
                rounds(row),
                ratio(o.ops_per_second(), etcd.map(|e| e.outcome.ops_per_second())),
                ms(o.record.percentile_ms(0.5)),
                ms(o.record.percentile_ms(0.99)),
                ms(o.record.percentile_ms(0.999)),
                refused(o),
                cpu(o.cpu_per_1k()),
                ratio(o.cpu_per_1k(), etcd.map(|e| e.outcome.cpu_per_1k())),
                cpu(o.client_cpu_per_1k()),
                mib(o.server.peak_rss_kib),
                o.other_load(),
                errors(o),
            );
        }
        out.push('\n');
    }
    out
}

fn client_table(rows: &[Row]) -> String {
    let mut scaling: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.section == Section::Clients
                || (r.section == Section::Workload(1) && r.preload.is_none())
        })
        .collect();
    if scaling.is_empty() {
        return String::new();
    }
    scaling.sort_by_key(|r| (r.system.clone(), r.clients));
    let mut out = String::from(
        "## Scaling over clients (workload 1, uncontended claim → finish)\n\n\
         | system | clients | resources | ops/s | rounds (ops/s) | × etcd | p50 ms | p99 ms | p99.9 ms | server CPU s / 1k ops | client CPU s / 1k ops | peak server RSS MiB | other load (cores) | errors |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for row in &scaling {
        let etcd = etcd_in(scaling.iter().copied().filter(|r| r.clients == row.clients));
        let o = &row.outcome;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            row.label,
            row.clients,
            thousands(row.resources as f64),
            thousands(o.ops_per_second()),
            rounds(row),
            ratio(o.ops_per_second(), etcd.map(|e| e.outcome.ops_per_second())),
            ms(o.record.percentile_ms(0.5)),
            ms(o.record.percentile_ms(0.99)),
            ms(o.record.percentile_ms(0.999)),
            cpu(o.cpu_per_1k()),
            cpu(o.client_cpu_per_1k()),
            mib(o.server.peak_rss_kib),
            o.other_load(),
            errors(o),
        );
    }
    out.push('\n');
    out
}

fn resource_table(rows: &[Row]) -> String {
    let mut scaling: Vec<&Row> = rows
        .iter()
        .filter(|r| r.section == Section::Resources)
        .collect();
    if scaling.is_empty() {
        return String::new();
    }
    scaling.sort_by_key(|r| (r.system.clone(), r.resources));
    let mut out = String::from(
        "## Scaling over resource count (workload 1)\n\n\
         Each point is a fresh server. Systems that keep every protected resource (Availsync: a row per resource) first claim and finish each resource once; the largest point also holds live claims taken beforehand (one hour TTL). etcd and Redis keep nothing for a released key, so only the live claims are preloaded there.\n\n\
         | system | clients | resources | live claims | preload s | ops/s | p50 ms | p99 ms | p99.9 ms | p50 ÷ smallest | p99 ÷ smallest | server CPU s / 1k ops | peak server RSS MiB | server RSS at end MiB | other load (cores) | errors |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for row in &scaling {
        let smallest = scaling
            .iter()
            .filter(|r| r.system == row.system)
            .min_by_key(|r| r.resources)
            .map(|r| &r.outcome.record);
        let o = &row.outcome;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
            row.label,
            row.clients,
            thousands(row.resources as f64),
            thousands(row.live_claims as f64),
            row.preload
                .map_or("–".into(), |d| format!("{:.0}", d.as_secs_f64())),
            thousands(o.ops_per_second()),
            ms(o.record.percentile_ms(0.5)),
            ms(o.record.percentile_ms(0.99)),
            ms(o.record.percentile_ms(0.999)),
            ratio(
                o.record.percentile_ms(0.5),
                smallest.map(|s| s.percentile_ms(0.5))
            ),
            ratio(
                o.record.percentile_ms(0.99),
                smallest.map(|s| s.percentile_ms(0.99))
            ),
            cpu(o.cpu_per_1k()),
            mib(o.server.peak_rss_kib),
            mib(o.server.rss_kib),
            o.other_load(),
            errors(o),
        );
    }
    out.push('\n');
    out
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

/// Each round's `system` ÷ `base` throughput in workload 1, for the
/// rounds both ran.
fn ratios_per_round(all: &[Row], system: &str, base: &str) -> Vec<f64> {
    let in_workload_1 = |r: &&Row| r.section == Section::Workload(1);
    all.iter()
        .filter(in_workload_1)
        .filter(|r| r.system == system)
        .filter_map(|r| {
            all.iter()
                .filter(in_workload_1)
                .find(|b| b.system == base && b.round == r.round)
                .map(|b| r.outcome.ops_per_second() / b.outcome.ops_per_second())
        })
        .collect()
}

/// ", per round: 1.80×, 1.95×, 2.10×" when there was more than one round.
fn per_round(ratios: &[f64]) -> String {
    if ratios.len() < 2 {
        return String::new();
    }
    let listed: Vec<String> = ratios.iter().map(|x| format!("{x:.2}×")).collect();
    format!("; per round: {}", listed.join(", "))
}

/// Issue 10's targets, judged from this run's own numbers: `rows` holds
/// the median rounds, `all` every round.
fn targets(rows: &[Row], all: &[Row]) -> String {
    let find = |system: &str, section: Section| {
        rows.iter()
            .find(|r| r.system == system && r.section == section && r.preload.is_none())
    };
    let heading = "## Issue 10's targets, judged from this run\n\n";
    let mut out = String::from(heading);
    let availsync = find("availsync", Section::Workload(1));
    let etcd = find("etcd", Section::Workload(1));
    let redis = find("redis", Section::Workload(1));
    if let Some(a) = availsync {
        let ops = a.outcome.ops_per_second();
        let p99 = a.outcome.record.percentile_ms(0.99);
        if let Some(e) = etcd {
            let x = ops / e.outcome.ops_per_second();
            let _ = writeln!(
                out,
                "- claim→finish at {} clients ≥ 3× etcd lock+unlock: {:.2}× ({} vs {} cycles/s{}) — {}",
                a.clients,
                x,
                thousands(ops),
                thousands(e.outcome.ops_per_second()),
                per_round(&ratios_per_round(all, "availsync", "etcd")),
                verdict(x >= 3.0)
            );
        }
        let _ = writeln!(
            out,
            "- p99 ≤ 10 ms at {} clients: {} ms — {}",
            a.clients,
            ms(p99),
            verdict(p99 <= 10.0)
        );
        if let Some(r) = redis {
            let x = ops / r.outcome.ops_per_second();
            let _ = writeln!(
                out,
                "- ≥ 0.25× Redis: {:.2}× ({} vs {} cycles/s{}) — {}",
                x,
                thousands(ops),
                thousands(r.outcome.ops_per_second()),
                per_round(&ratios_per_round(all, "availsync", "redis")),
                verdict(x >= 0.25)
            );
        }
    }
    let scaling: Vec<&Row> = rows
        .iter()
        .filter(|r| r.section == Section::Resources && r.system == "availsync")
        .collect();
    let smallest = scaling.iter().min_by_key(|r| r.resources);
    let largest = scaling.iter().max_by_key(|r| r.resources);
    if let (Some(small), Some(large)) = (smallest, largest)
        && small.resources < large.resources
    {
        let rss = large.outcome.server.peak_rss_kib as f64 / 1024.0;
        let _ = writeln!(
            out,
            "- RSS ≤ 64 MB with {} protected resources and {} live claims: peak {:.1} MiB — {}",
            thousands(large.resources as f64),
            thousands(large.live_claims as f64),
            rss,
            verdict(rss <= 64.0 * 1_000_000.0 / 1_048_576.0)
        );
        let p50 = large.outcome.record.percentile_ms(0.5) / small.outcome.record.percentile_ms(0.5);
        let p99 =
            large.outcome.record.percentile_ms(0.99) / small.outcome.record.percentile_ms(0.99);
        let _ = writeln!(
            out,
            "- latency flat (≤ 1.2×) from {} to {} resources: p50 {:.2}×, p99 {:.2}× — {}",
            thousands(small.resources as f64),
            thousands(large.resources as f64),
            p50,
            p99,
            verdict(p50 <= 1.2 && p99 <= 1.2)
        );
        if large.resources < 1_000_000 {
            let _ = writeln!(
                out,
                "- (this run's largest point is {} resources, not 1,000,000: the memory and flatness targets are only indicated)",
                thousands(large.resources as f64)
            );
        }
    }
    if out.len() == heading.len() {
        return String::new();
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(f64::NAN), "–");
    }

    /// A workload-1 row of `system` in `round` that counted `ops`
    /// operations in one second, each as slow as its round number says.
    fn row(system: &str, round: usize, ops: u64) -> Row {
        let mut record = crate::measure::Recorder::new();
        for _ in 0..ops {
            record.record(Duration::from_millis(round as u64));
        }
        Row {
            section: Section::Workload(1),
            round,
            rounds: Vec::new(),
            system: system.into(),
            label: system.into(),
            durability: String::new(),
            workload: "1. claim → finish".into(),
            unit: "cycle".into(),
            clients: 64,
            resources: 10_000,
            live_claims: 0,
            preload: None,
            outcome: Outcome {
                record,
                seconds: 1.0,
                server: Default::default(),
                client_cpu_seconds: 0.0,
                other_cpu_seconds: 0.0,
                errors: 0,
                first_error: None,
                target_rate: None,
            },
        }
    }

    #[test]
    fn each_system_shows_its_median_round_whole() {
        let rows = [
            row("availsync", 1, 300),
            row("etcd", 1, 100),
            row("availsync", 2, 500),
            row("etcd", 2, 300),
            row("availsync", 3, 400),
            row("etcd", 3, 200),
        ];
        let chosen = medians(&rows);
        assert_eq!(chosen.len(), 2);
        assert_eq!(chosen[0].system, "availsync");
        // The median round's figures, latency included, not a blend.
        assert_eq!(chosen[0].round, 3);
        assert_eq!(chosen[0].outcome.record.ops, 400);
        assert_eq!(chosen[0].outcome.record.percentile_ms(0.5).round(), 3.0);
        assert_eq!(chosen[0].rounds, [300.0, 500.0, 400.0]);
        assert_eq!((chosen[1].round, chosen[1].rounds.len()), (3, 3));
        // Rounds pair up by number: 3×, 1.67×, 2×.
        let ratios = ratios_per_round(&rows, "availsync", "etcd");
        assert_eq!(per_round(&ratios), "; per round: 3.00×, 1.67×, 2.00×");
        assert!(targets(&chosen, &rows).contains("2.00× (400 vs 200 cycles/s; per round"));
    }

    #[test]
    fn ratios_against_a_missing_or_zero_base_are_a_dash() {
        assert_eq!(ratio(3.0, Some(1.5)), "2.00×");
        assert_eq!(ratio(3.0, Some(0.0)), "–");
        assert_eq!(ratio(3.0, None), "–");
    }
}
