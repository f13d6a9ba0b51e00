//! The use cases the API and the dashboard share: sign-up, log-in with its
//! throttle, and creating, changing and re-keying agents. Each validates
//! its input, asks the domain and the store, and answers an [`AppError`]
//! that each front end words its own way (`http/error.rs` as the API's
//! error envelope, the dashboard as a form message).

pub mod accounts;
pub mod agents;
mod error;
pub mod event_hub;
pub mod hashing;
pub mod waiting;

use std::sync::Arc;
use std::time::Duration;

pub use error::AppError;

use crate::domain::signup_throttle::SignupThrottle;
use crate::store::Store;
use hashing::HashingPool;

/// What the use cases work with.
#[derive(Clone)]
pub struct Services {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Where passwords are hashed, a few at a time.
    pub hashing: HashingPool,
    /// Sign-ups per client address.
    pub signups: Arc<SignupThrottle>,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// The activity feed, fanned out to event streams.
    pub events: Arc<event_hub::EventHub>,
    /// Starts that wait (SPEC §13).
    pub waits: waiting::WaitQueue,
}
