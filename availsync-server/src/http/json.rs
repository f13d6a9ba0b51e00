//! Request-body and query extractors that answer the SPEC's 4xx codes:
//! `415` for a non-JSON body, `413` past 64 KiB, `invalid_json`,
//! `unknown_field` and `invalid_request` naming the field.

use availsync_types::{ErrorCode, MAX_BODY_BYTES};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body, decoded strictly.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024),
                    )
                } else {
                    ApiError::new(ErrorCode::InvalidJson, "the body could not be read")
                }
            })?;
        decode(&bytes).map(ApiJson)
    }
}

fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decodes a JSON body into `T`, mapping serde's errors to API errors that
/// name the field at fault.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a malformed body is always `invalid_json` whatever
    // else is wrong with it.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        classify(&path, e.inner())
    })
}

fn classify(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        ),
        Category::Data => {
            let message = without_position(&e.to_string());
            let parent = if path == "." { "" } else { path };
            let join = |name: &str| {
                if parent.rsplit('.').next() == Some(name) {
                    parent.to_owned()
                } else if parent.is_empty() {
                    name.to_owned()
                } else {
                    format!("{parent}.{name}")
                }
            };
            if let Some(name) = quoted_after(&message, "unknown field `") {
                let field = join(&name);
                return ApiError::new(
                    ErrorCode::UnknownField,
                    format!("unknown field '{field}'; {}", expected_part(&message)),
                )
                .with_field(field);
            }
            if let Some(name) = quoted_after(&message, "missing field `") {
                let field = join(&name);
                return ApiError::invalid(&field, format!("the field '{field}' is required"));
            }
            if parent.is_empty() {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("the body must be a JSON object: {message}"),
                )
            } else {
                ApiError::invalid(
                    parent,
                    format!("the field '{parent}' is invalid: {message}"),
                )
            }
        }
    }
}

fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let rest = message.strip_prefix(marker)?;
    rest.split('`').next().map(str::to_owned)
}

fn expected_part(message: &str) -> String {
    match message.split_once(", ") {
        Some((_, expected)) => expected.replace('`', "'"),
        None => "check the field names".to_owned(),
    }
}

/// A query string, decoded strictly.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let message = e.into_inner().to_string();
                if let Some(name) = quoted_after(&message, "unknown field `") {
                    ApiError::new(
                        ErrorCode::UnknownField,
                        format!("unknown query parameter '{name}'"),
                    )
                    .with_field(name)
                } else if path == "." {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("bad query string: {message}"),
                    )
                } else {
                    ApiError::invalid(
                        &path,
                        format!("the query parameter '{path}' is invalid: {message}"),
                    )
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use availsync_types::StartRunRequest;

    fn code_and_field(body: &str) -> (ErrorCode, Option<String>) {
        let err = decode::<StartRunRequest>(body.as_bytes()).unwrap_err();
        (err.code(), err.field().map(str::to_owned))
    }

    #[test]
    fn each_body_fault_gets_its_code_and_field() {
        assert_eq!(code_and_field("{").0, ErrorCode::InvalidJson);
        assert_eq!(code_and_field("{} x").0, ErrorCode::InvalidJson);
        assert_eq!(
            code_and_field(r#"{"resource":"repo:a/b","ttl":5}"#),
            (ErrorCode::UnknownField, Some("ttl".into()))
        );
        assert_eq!(
            code_and_field(r#"{"ttl_seconds":5}"#),
            (ErrorCode::InvalidRequest, Some("resource".into()))
        );
        assert_eq!(
            code_and_field(r#"{"resource":5}"#),
            (ErrorCode::InvalidRequest, Some("resource".into()))
        );
        assert_eq!(
            code_and_field(r#"{"resource":"repo:a/b","ttl_seconds":-1}"#),
            (ErrorCode::InvalidRequest, Some("ttl_seconds".into()))
        );
        assert_eq!(code_and_field("[]").0, ErrorCode::InvalidRequest);
    }
}
