//! HTML form bodies (`application/x-www-form-urlencoded`), with failures
//! answered as pages; and the pieces every form shares: a labelled control
//! with its hint and its error, tied together for assistive technology.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use maud::{Markup, html};
use serde::de::DeserializeOwned;

use super::layout::{self, DashboardError};
use crate::http::ApiError;

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

/// What a failed form says, and which field it blames.
#[derive(Debug, Clone)]
pub struct FormError {
    /// One or two sentences.
    pub message: String,
    /// The form field at fault (the API's field without an index:
    /// `depends_on[2]` blames `depends_on`), if any.
    pub field: Option<String>,
}

impl From<&ApiError> for FormError {
    fn from(e: &ApiError) -> Self {
        Self {
            message: layout::sentence(e.message()),
            field: e
                .field()
                .map(|f| f.split_once('[').map_or(f, |(name, _)| name).to_owned()),
        }
    }
}

impl FormError {
    /// The error of the field `name`, when it is the one at fault.
    pub fn of<'e>(error: Option<&'e Self>, name: &str) -> Option<&'e Self> {
        error.filter(|e| e.field.as_deref() == Some(name))
    }
}

/// The attributes that tie a control to its label, hint and error.
#[derive(Debug)]
pub struct Control {
    /// The control's `id` (its label's `for`).
    pub id: String,
    /// `aria-invalid`, when the field is at fault.
    pub invalid: Option<&'static str>,
    /// `aria-describedby`: the hint's id, then the error's.
    pub described_by: Option<String>,
}

/// A field: its label, the control `control` draws with the attributes it
/// is given, the hint, and the error when this field is the one at fault.
pub fn labelled(
    name: &str,
    label: &str,
    hint: Option<&str>,
    error: Option<&FormError>,
    control: impl FnOnce(&Control) -> Markup,
) -> Markup {
    let id = format!("f-{name}");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let error = FormError::of(error, name);
    let ids: Vec<&str> = [
        hint.map(|_| hint_id.as_str()),
        error.map(|_| error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let attributes = Control {
        id: id.clone(),
        invalid: error.map(|_| "true"),
        described_by: (!ids.is_empty()).then(|| ids.join(" ")),
    };
    html! {
        div.field {
            label for=(id) { (label) }
            (control(&attributes))
            @if let Some(hint) = hint { p.hint #(hint_id) { (hint) } }
            @if let Some(e) = error { p.field-error #(error_id) { (e.message) } }
        }
    }
}
