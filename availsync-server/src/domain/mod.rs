//! The rules of the service, free of HTTP and SQL: who may claim what, how a
//! decision is reached, how secrets are made and checked.

pub mod callers;
pub mod clock;
pub mod events;
pub mod holds;
pub mod ids;
pub mod lease;
pub mod login_throttle;
pub mod password;
pub mod plans;
pub mod refusal;
pub mod runs;
pub mod schedule;
pub mod secrets;
pub mod signup_throttle;
pub mod ttl;
pub mod validate;
