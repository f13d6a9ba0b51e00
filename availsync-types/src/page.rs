//! List answers.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Smallest `limit` a list accepts.
pub const MIN_PAGE_LIMIT: u32 = 1;
/// Largest `limit` a list accepts.
pub const MAX_PAGE_LIMIT: u32 = 200;
/// `limit` when none is given.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}
