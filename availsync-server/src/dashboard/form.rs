//! HTML form bodies (`application/x-www-form-urlencoded`), with failures
//! answered as pages.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::layout::DashboardError;

/// A form body decoded into `T`.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = DashboardError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DashboardError> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(DashboardError::page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unexpected request",
                "Dashboard forms are sent as application/x-www-form-urlencoded.",
            ));
        }
        let body = Bytes::from_request(request, state).await.map_err(|_| {
            DashboardError::page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much",
                "The form was too large to accept.",
            )
        })?;
        serde_urlencoded::from_bytes(&body).map(Form).map_err(|e| {
            DashboardError::page(
                StatusCode::BAD_REQUEST,
                "That did not work",
                format!("The form could not be read: {e}."),
            )
        })
    }
}
