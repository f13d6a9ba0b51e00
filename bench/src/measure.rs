//! What a measurement records: a latency histogram per client task (merged
//! at the end), operation counts, and the server's CPU time and peak RSS
//! read from `/proc`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to a minute.
const MAX_MICROS: u64 = 60_000_000;

/// One client task's record.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency of each operation, in microseconds.
    pub latency: Histogram<u64>,
    /// Operations counted (each latency recorded is one).
    pub ops: u64,
    /// Claims answered "held by someone else", or hold conflicts.
    pub refused: u64,
    /// Claims granted, or holds created.
    pub granted: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty record.
    pub fn new() -> Self {
        Self {
            // 3 significant digits: percentiles within 0.1 %.
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"),
            ops: 0,
            refused: 0,
            granted: 0,
        }
    }

    /// Records one operation's latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
        self.latency.saturating_record(micros.clamp(1, MAX_MICROS));
        self.ops += 1;
    }

    /// Adds another task's record to this one.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ops += other.ops;
        self.refused += other.refused;
        self.granted += other.granted;
    }

    /// The latency at `quantile` (0..=1), in milliseconds.
    pub fn percentile_ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Server-side cost over a measurement window.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerCost {
    /// CPU seconds (user + system) of the server processes and their children.
    pub cpu_seconds: f64,
    /// Sum of the server processes' peak resident set (VmHWM), in KiB.
    pub peak_rss_kib: u64,
    /// Sum of their resident set at the end (VmRSS), in KiB.
    pub rss_kib: u64,
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `(ppid, utime + stime + cutime + cstime in ticks)` from a `/proc/<pid>/stat` line.
fn parse_stat(line: &str) -> Option<(u32, u64)> {
    // The command name (field 2) may hold spaces and parentheses: fields are
    // counted from the last ')'.
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3); ppid is field 4, utime..cstime 14..17.
    let ppid = fields.get(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for index in 11..=14 {
        ticks += fields.get(index)?.parse::<u64>().ok()?;
    }
    Some((ppid, ticks))
}

/// CPU seconds used so far by `roots` and all their descendants (including
/// children that have exited and been reaped).
pub fn tree_cpu_seconds(roots: &[u32]) -> anyhow::Result<f64> {
    let mut processes: HashMap<u32, (u32, u64)> = HashMap::new();
    for entry in std::fs::read_dir("/proc").context("read /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit between the listing and the read.
        if let Ok(line) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(stat) = parse_stat(&line)
        {
            processes.insert(pid, stat);
        }
    }
    let mut total = 0u64;
    let mut stack: Vec<u32> = roots.to_vec();
    let mut seen = std::collections::HashSet::new();
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some((_, ticks)) = processes.get(&pid) {
            total += ticks;
        }
        stack.extend(
            processes
                .iter()
                .filter(|(_, (ppid, _))| *ppid == pid)
                .map(|(child, _)| *child),
        );
    }
    Ok(total as f64 / clock_ticks_per_second())
}

/// CPU seconds used so far by this process (the clients).
pub fn own_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|line| parse_stat(&line))
        .map_or(0.0, |(_, ticks)| ticks as f64 / clock_ticks_per_second())
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Busy CPU seconds of the whole machine so far (all cores, from the
/// first line of `/proc/stat`: everything but idle and iowait).
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user).
    let busy: u64 = values
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy as f64 / clock_ticks_per_second()
}

/// Peak resident set (VmHWM) summed over `pids`, in KiB.
pub fn peak_rss_kib(pids: &[u32]) -> u64 {
    pids.iter().map(|pid| status_kib(*pid, "VmHWM:")).sum()
}

/// Current resident set (VmRSS) summed over `pids`, in KiB.
pub fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter().map(|pid| status_kib(*pid, "VmRSS:")).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (tokio (rt) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 9 0 1000 2000000 500";
        assert_eq!(parse_stat(line), Some((17, 250 + 50 + 7 + 3)));
    }

    #[test]
    fn merged_records_add_counts_and_latencies() {
        let mut a = Recorder::new();
        a.record(Duration::from_millis(1));
        a.granted = 1;
        let mut b = Recorder::new();
        b.record(Duration::from_millis(3));
        b.refused = 1;
        a.merge(&b);
        assert_eq!((a.ops, a.granted, a.refused), (2, 1, 1));
        assert!((a.percentile_ms(1.0) - 3.0).abs() < 0.01);
    }

    #[test]
    fn own_process_is_found_in_proc() {
        let me = std::process::id();
        assert!(peak_rss_kib(&[me]) > 0);
        assert!(tree_cpu_seconds(&[me]).is_ok());
    }
}
