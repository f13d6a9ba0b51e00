//! Wire types of the Availsync v1 API, shared by the server, the SDK, the MCP
//! server and the setup CLI so that they cannot drift apart.
//!
//! Request types reject unknown fields when deserialised (the server relies on
//! this to answer `400 unknown_field`); answer types accept them, so newer
//! servers do not break older clients.
//!
//! ```
//! use availsync_types::{ResourceKey, StartRunRequest};
//!
//! let resource: ResourceKey = "repo:Acme/Web".parse()?;
//! let body = StartRunRequest {
//!     resource: Some(resource.to_string()),
//!     resources: None,
//!     ttl_seconds: Some(120),
//!     run_id: None,
//!     purpose: Some("nightly deploy".into()),
//!     mode: None,
//!     metadata: None,
//!     working_set: None,
//!     partial: None,
//!     wait_seconds: None,
//! };
//! let json = serde_json::to_string(&body).unwrap();
//! assert_eq!(json, r#"{"resource":"repo:acme/web","ttl_seconds":120,"purpose":"nightly deploy"}"#);
//! # Ok::<(), availsync_types::ResourceKeyError>(())
//! ```

/// `as_str()` (the wire name) and a padding-aware `Display` for a unit enum.
macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The name used on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

mod accounts;
mod error;
mod feeds;
mod health;
mod page;
mod path_pattern;
mod resource;
mod resource_set;
mod rules;
mod schedule;
mod session;
mod time;
mod work;

pub use accounts::*;
pub use error::*;
pub use feeds::*;
pub use health::*;
pub use page::*;
pub use path_pattern::*;
pub use resource::*;
pub use resource_set::*;
pub use rules::*;
pub use schedule::*;
pub use session::*;
pub use time::*;
pub use work::*;

/// Name of the header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Name of the human session cookie.
pub const SESSION_COOKIE: &str = "availsync_session";
/// Prefix of every agent API key.
pub const API_KEY_PREFIX: &str = "avs_live_";
/// Default server URL.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8787";
/// Largest request body the server accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
