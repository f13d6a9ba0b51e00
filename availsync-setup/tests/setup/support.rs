//! A temporary HOME with its own XDG config dir, a fake `availsync-mcp` on
//! PATH, and the binary run with only those in its environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        let home = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(home.bin()).unwrap();
        std::fs::create_dir_all(home.config()).unwrap();
        std::fs::create_dir_all(home.project()).unwrap();
        home.script("availsync-mcp", "#!/bin/sh\nexit 0\n");
        home
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    pub fn config(&self) -> PathBuf {
        self.root().join("xdg")
    }

    pub fn bin(&self) -> PathBuf {
        self.root().join("bin")
    }

    pub fn project(&self) -> PathBuf {
        self.root().join("project")
    }

    pub fn mcp(&self) -> PathBuf {
        self.bin().join("availsync-mcp")
    }

    pub fn credentials(&self) -> PathBuf {
        self.config().join("availsync").join("credentials.toml")
    }

    /// An executable script in the PATH directory.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.bin().join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    pub fn write(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// The binary with a clean environment pointing at this home, and no
    /// standard input.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.pty_command(args);
        command.stdin(Stdio::null());
        command
    }

    /// The same, with standard streams left for a pseudo-terminal.
    pub fn pty_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_availsync-setup"));
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home())
            // The real availsync-mcp may sit beside the binary under test;
            // point at this home's fake one.
            .env("AVAILSYNC_MCP_PATH", self.mcp())
            .env("XDG_CONFIG_HOME", self.config())
            .env("PATH", self.bin())
            .env("NO_COLOR", "1")
            .current_dir(self.project());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
