//! The CI-sized chaos soak: the real binary for 40 seconds with a fixed
//! seed; every guarantee must hold. The long run is documented in
//! docs/reliability.md.

#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

#[test]
fn a_short_soak_finds_no_violation() {
    let output = Command::new(env!("CARGO_BIN_EXE_availsync-chaos"))
        .args([
            "soak",
            "--seconds",
            "40",
            "--seed",
            "20261129",
            "--kill-min",
            "2",
            "--kill-max",
            "6",
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    println!("{report}");
    assert!(output.status.success(), "the soak failed:\n{report}\n{log}");
    assert!(report.contains("result: PASS, 0 violations"), "{report}");
    // It really did something: grants were checked and the server was killed.
    let kills: u32 = report
        .lines()
        .find_map(|line| line.strip_prefix("| server kills (SIGKILL) | "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(kills >= 4, "only {kills} kills:\n{report}");
    // The several-resource and pool workloads ran, and were granted.
    for row in ["several-resource starts", "pool starts"] {
        let granted: u32 = report
            .lines()
            .find_map(|line| line.strip_prefix(&format!("| {row} | ")))
            .and_then(|rest| rest.split_once('(')?.1.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(granted > 0, "no {row} granted:\n{report}");
    }
    assert!(report.contains("capacity 3"), "{report}");
}
