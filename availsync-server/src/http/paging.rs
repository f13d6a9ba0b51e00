//! `?limit=` and `?cursor=` for lists.

use availsync_types::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, MIN_PAGE_LIMIT};
use serde::Deserialize;

use super::error::ApiError;
use crate::store::{PageRequest, cursor};

/// `?limit=&cursor=` of a list with no other filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-200, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `?status=active|all` (default `all`): answers whether only live objects
/// are wanted.
pub fn status_filter(status: Option<&str>) -> Result<bool, ApiError> {
    match status {
        None | Some("all") => Ok(false),
        Some("active") => Ok(true),
        Some(other) => Err(ApiError::invalid(
            "status",
            format!("status must be 'active' or 'all', got '{other}'"),
        )),
    }
}

/// Validates `limit` (1-200, default 50) and decodes `cursor`.
pub fn page_request(limit: Option<u32>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(MIN_PAGE_LIMIT..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be between {MIN_PAGE_LIMIT} and {MAX_PAGE_LIMIT}, got {limit}"),
        ));
    }
    let after = match cursor {
        None | Some("") => None,
        Some(raw) => Some(cursor::decode(raw).ok_or_else(|| {
            ApiError::invalid("cursor", "cursor is not one this server handed out")
        })?),
    };
    Ok(PageRequest { limit, after })
}
