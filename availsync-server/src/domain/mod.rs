//! The rules of the service, free of HTTP and SQL: who may claim what, how a
//! decision is reached, how secrets are made and checked.

pub mod accounts;
pub mod agents;
pub mod callers;
pub mod clock;
pub mod events;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod holds;
pub mod ids;
pub mod lease;
pub mod login_throttle;
pub mod password;
pub mod plans;
pub mod queue;
pub mod refusal;
pub mod rules;
pub mod run_changes;
pub mod runs;
pub mod schedule;
pub mod secrets;
pub mod signup_throttle;
pub mod ttl;
pub mod validate;
pub mod working_sets;
