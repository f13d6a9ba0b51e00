//! `availsync-setup logout`: delete the stored credentials.

use availsync_sdk::credentials;

use crate::exit;

/// Runs `logout`.
pub fn run() -> u8 {
    let path = match credentials::default_path() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::CONFIG;
        }
    };
    match credentials::remove(&path) {
        Ok(true) => {
            println!("removed {}", path.display());
            0
        }
        Ok(false) => {
            println!("no stored credentials at {}", path.display());
            0
        }
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            exit::CONFIG
        }
    }
}
