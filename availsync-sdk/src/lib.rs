//! The Availsync SDK.
//!
//! This release carries the shared wire types ([`types`]); the typed client
//! and the auto-extending run guard build on them.

pub use availsync_types as types;
