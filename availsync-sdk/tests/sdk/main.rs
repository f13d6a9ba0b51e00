//! The SDK against the real in-process server, and against wiremock only
//! for faults the real server cannot produce.

#![allow(clippy::unwrap_used, missing_docs)]

mod admin;
mod events;
mod faults;
mod guard;
mod net;
mod rules;
mod scheduling;
mod support;
mod transport;
mod waiting;
mod work;
mod working_sets;
