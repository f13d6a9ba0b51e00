//! `availsync-setup` login/detect/install/remove/test and the wizard, run as
//! the built binary against a temporary HOME and the real in-process server.

#![allow(clippy::unwrap_used, missing_docs)]

mod claude_code;
mod configs;
mod doctor;
mod files;
mod hook;
mod hooks_install;
mod keys;
mod server;
mod support;
mod wizard;
