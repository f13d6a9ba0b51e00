//! The wizard driven end to end in a real pseudo-terminal.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use availsync_sdk::Mode;
use expectrl::{Eof, Expect, Session};

use crate::server::World;
use crate::support::Home;

/// Waits for `needle`; on failure shows what the program printed.
fn expect(s: &mut expectrl::session::OsSession, needle: &str) {
    if let Err(e) = s.expect(needle) {
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(s, &mut rest);
        panic!(
            "waiting for {needle:?}: {e}; the program then printed {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wizard_verifies_plans_writes_and_tests() {
    let world = World::new("wizard@example.com").await;
    let home = Home::new();
    let url = world.server.url();
    let key = world.key(Mode::Enforce).await;
    // Cursor is detected (its directory exists) and has a config to keep.
    let cursor = home.home().join(".cursor/mcp.json");
    home.write(&cursor, "{\n  // mine\n  \"mcpServers\": {}\n}\n");

    let mut command = home.pty_command(&[]);
    command.env("TERM", "xterm").env("AVAILSYNC_URL", &url);
    let (home_path, credentials) = (home.home(), home.credentials());
    let transcript = tokio::task::spawn_blocking(move || {
        let mut s = Session::spawn(command).unwrap();
        s.set_expect_timeout(Some(Duration::from_secs(20)));
        expect(&mut s, "Server URL");
        s.send("\r").unwrap(); // accept the default ($AVAILSYNC_URL)
        expect(&mut s, "Agent API key");
        s.send(format!("{key}\r")).unwrap();
        expect(&mut s, "key verified");
        expect(&mut s, "Clients to configure");
        s.send("\r").unwrap(); // the detected ones are preselected
        expect(&mut s, "The plan:");
        expect(&mut s, "Write these changes?");
        s.send("y").unwrap();
        expect(&mut s, "Run the setup test now?");
        s.send("y").unwrap();
        let rest = s.expect(Eof).unwrap();
        let status = s.get_process().wait().unwrap();
        (
            String::from_utf8_lossy(rest.as_bytes()).into_owned(),
            status,
            key,
        )
    })
    .await
    .unwrap();
    let (rest, status, key) = transcript;
    assert!(rest.contains("All checks passed"), "{rest}");
    assert!(!rest.contains(&key));
    assert!(
        matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    let written = std::fs::read_to_string(&cursor).unwrap();
    assert!(
        written.contains("// mine") && written.contains("\"availsync\""),
        "{written}"
    );
    assert!(!written.contains(&key));
    assert!(
        !home_path.join(".gemini").exists(),
        "only the selected clients are written"
    );
    assert_eq!(
        std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}
