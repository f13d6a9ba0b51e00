//! The key is never shown: masked dry runs.

use crate::support::{Home, text};

const KEY: &str = "avs_live_UDrfq8xKx3b0Lk_2-vYhTq0mZq4n8bS1aW7cQeR5uJo";
const MASKED: &str = "avs_live_UDrf…";

fn all_output(out: &std::process::Output) -> String {
    let all = text(out);
    assert!(!all.contains(KEY), "the key was printed:\n{all}");
    all
}

#[test]
fn dry_run_diffs_mask_the_key() {
    let home = Home::new();
    let path = home.home().join(".codeium/windsurf/mcp_config.json");
    for args in [
        &[
            "install",
            "--dry-run",
            "--embed-key",
            "--client",
            "windsurf",
        ][..],
        &[
            "install",
            "--dry-run",
            "--embed-key",
            "--client",
            "windsurf",
            "--json",
        ],
    ] {
        let out = home
            .command(args)
            .env("AVAILSYNC_API_KEY", KEY)
            .output()
            .unwrap();
        let all = all_output(&out);
        assert!(out.status.success(), "{all}");
        assert!(all.contains(MASKED), "{all}");
    }
    assert!(!path.exists());

    // A key already in the file is masked where the diff removes it.
    let out = home
        .command(&["install", "--yes", "--embed-key", "--client", "windsurf"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let out = home
        .command(&["install", "--dry-run", "--client", "windsurf"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    let all = all_output(&out);
    assert!(
        all.lines().any(|line| line.starts_with('-')
            && line.ends_with(&format!("\"AVAILSYNC_API_KEY\": \"{MASKED}\","))),
        "{all}"
    );
}
