//! Request-body and query extractors that answer the SPEC's 4xx codes:
//! `415` for a non-JSON body, `413` past 64 KiB, `invalid_json` (also for a
//! key twice in one object), `unknown_field` and `invalid_request` naming
//! the field.

use availsync_types::{ErrorCode, MAX_BODY_BYTES};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::duplicate_keys::first_duplicate_key;
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
    if let Some(key) = first_duplicate_key(bytes) {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            format!("the key '{key}' appears twice in one object; each key may appear only once"),
        )
        .with_field(key));
    }
    // Most bodies are fine: decode them straight into `T`, without the
    // intermediate `Value` and path tracking below (about 2 % of a busy
    // server's CPU). Only an object is taken here, since serde would also
    // fill a struct from an array; anything refused is decoded again the
    // careful way, which gives the same answer for every body it accepts
    // and names what is wrong with the rest.
    if starts_an_object(bytes)
        && let Ok(decoded) = serde_json::from_slice(bytes)
    {
        return Ok(decoded);
    }
    decode_carefully(bytes)
}

/// Decodes a JSON body into `T` through a `Value`, so that whatever is
/// wrong is named: malformed JSON, a body that is not an object, or the
/// field at fault.
fn decode_carefully<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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
    serde_path_to_error::deserialize(value).map_err(|e| classify(e.path(), e.inner()))
}

/// Whether the first byte after any leading whitespace opens an object.
fn starts_an_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn classify(path: &serde_path_to_error::Path, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        ),
        Category::Data => {
            // Decoded from a `Value`, so serde_json adds no "at line N": a
            // key that happens to contain those words must stay whole.
            let message = if e.line() == 0 {
                e.to_string()
            } else {
                without_position(&e.to_string())
            };
            let mut segments: Vec<String> = path.iter().map(ToString::to_string).collect();
            if let Some((name, expected)) = unknown_field(&message) {
                // The path already ends with the unknown key; a key may hold
                // '.' or '`', so it is taken from the path, not re-split.
                if segments.last() != Some(&name) {
                    segments.push(name);
                }
                let field = segments.join(".");
                return ApiError::new(
                    ErrorCode::UnknownField,
                    format!("unknown field '{field}'; {expected}"),
                )
                .with_field(field);
            }
            if let Some(name) = quoted(&message, "missing field `") {
                segments.push(name.to_owned());
                let field = segments.join(".");
                return ApiError::invalid(&field, format!("the field '{field}' is required"));
            }
            if segments.is_empty() {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("the body must be a JSON object: {message}"),
                )
            } else {
                let field = segments.join(".");
                ApiError::invalid(&field, format!("the field '{field}' is invalid: {message}"))
            }
        }
    }
}

/// The name and the "expected ..." part of serde's
/// "unknown field `name`, expected one of `a`, `b`" (or ", there are no
/// fields"). The name may itself hold '`' or ", ", so it ends at the last
/// "`, expected" / "`, there are".
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest
        .rfind("`, expected ")
        .or_else(|| rest.rfind("`, there are no fields"))?;
    let expected = rest[end + 3..].replace('`', "'");
    Some((rest[..end].to_owned(), expected))
}

fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// `name` in serde's "<marker>name`", where the name runs to the end.
fn quoted<'a>(message: &'a str, marker: &str) -> Option<&'a str> {
    message.strip_prefix(marker)?.strip_suffix('`')
}

/// A query string, decoded strictly.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        decode_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Decodes a query string (without the `?`) into `T`, mapping serde's errors
/// to API errors that name the parameter at fault.
pub fn decode_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if let Some((name, _)) = unknown_field(&message) {
            ApiError::new(
                ErrorCode::UnknownField,
                format!("unknown query parameter '{name}'"),
            )
            .with_field(name)
        } else if let Some(name) = quoted(&message, "missing field `") {
            ApiError::invalid(name, format!("the query parameter '{name}' is required"))
        } else if let Some(name) = quoted(&message, "duplicate field `") {
            ApiError::invalid(name, format!("the query parameter '{name}' is given twice"))
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
            code_and_field(r#"{"resource":"repo:a/b","partial":"yes"}"#),
            (ErrorCode::InvalidRequest, Some("partial".into()))
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

    #[test]
    fn unknown_keys_are_named_whole_whatever_they_hold() {
        // Found by the `request_body` fuzz target: a '`' or '.' in a key
        // once made the named field "ltt`eonscds.ltt".
        for key in ["ltt`eonscds", "a.b", "x`, expected y", "", "k at line 3"] {
            let body = serde_json::json!({ key: 1, "resource": "repo:a/b" }).to_string();
            let err = decode::<StartRunRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::UnknownField, "{key:?}");
            assert_eq!(err.field(), Some(key));
            assert!(
                err.message().contains(&format!("'{key}'")),
                "{}",
                err.message()
            );
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Query {
        from: String,
        limit: Option<u32>,
    }

    #[test]
    fn query_faults_name_the_parameter() {
        let field = |q: &str| {
            let err = decode_query::<Query>(q).unwrap_err();
            (err.code(), err.field().map(str::to_owned))
        };
        let invalid = |name: &str| (ErrorCode::InvalidRequest, Some(name.to_owned()));
        assert_eq!(field(""), invalid("from"));
        assert_eq!(field("from=a&from=b"), invalid("from"));
        assert_eq!(field("from=a&limit=x"), invalid("limit"));
        assert_eq!(
            field("from=a&li%60mit=1"),
            (ErrorCode::UnknownField, Some("li`mit".to_owned()))
        );
    }

    #[test]
    fn the_fast_path_takes_only_what_the_careful_one_takes_alike() {
        let start = |body: &str| {
            decode::<StartRunRequest>(body.as_bytes())
                .map(|r| serde_json::to_value(r).unwrap())
                .map_err(|e| e.code())
        };
        // serde fills a struct from an array too; the API takes objects.
        assert_eq!(start(r#"["repo:a/b"]"#), Err(ErrorCode::InvalidRequest));
        // A repeated key is refused on either path (SPEC §4).
        assert_eq!(
            start(r#" {"resource":"repo:a/b","resource":"repo:c/d"}"#),
            Err(ErrorCode::InvalidJson)
        );
        assert_eq!(
            start("\n\t{\"resource\":\"repo:a/b\",\"ttl_seconds\":5}").unwrap()["ttl_seconds"],
            5
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        const KNOWN: [&str; 6] = [
            "resource",
            "ttl_seconds",
            "run_id",
            "purpose",
            "mode",
            "metadata",
        ];

        fn values() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "repo:[a-z]{1,3}/[a-z]{1,3}".prop_map(Value::from),
                prop_oneof![Just("observe"), Just("enforce"), Just("x")].prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
                Just(serde_json::json!({"k": [1, null]})),
                Just(serde_json::json!([])),
            ]
        }

        fn keys() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(&KNOWN[..]).prop_map(str::to_owned),
                ".{0,6}",
                "[a-z]{1,3}[`.,: ]{1,2}[a-z]{0,3}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// The `request_body` fuzz target's property, for `run/start`:
            /// a refused JSON object names the field at fault, and the
            /// message says its name.
            #[test]
            fn a_refused_object_names_the_field_at_fault(
                object in proptest::collection::btree_map(keys(), values(), 0..5),
            ) {
                let object: Map<String, Value> = object.into_iter().collect();
                let body = Value::Object(object.clone()).to_string();
                match decode::<StartRunRequest>(body.as_bytes()) {
                    Ok(request) => {
                        prop_assert!(object.keys().all(|k| KNOWN.contains(&k.as_str())));
                        let given = object.get("resource").filter(|v| !v.is_null()).cloned();
                        prop_assert_eq!(request.resource.map(Value::from), given);
                    }
                    Err(e) => {
                        let field = e.field().expect("a field is named").to_owned();
                        prop_assert!(e.message().contains(&format!("'{field}'")), "{}", e.message());
                        match e.code() {
                            ErrorCode::UnknownField => {
                                prop_assert!(object.contains_key(&field));
                                prop_assert!(!KNOWN.contains(&field.as_str()));
                            }
                            ErrorCode::InvalidRequest => {
                                let top = field.split('.').next().unwrap_or_default();
                                prop_assert!(KNOWN.contains(&top), "{}", field);
                                prop_assert!(object.contains_key(top) || top == "resource");
                            }
                            other => prop_assert!(false, "{:?}", other),
                        }
                    }
                }
            }

            /// Whatever the careful path decides, the fast one decides
            /// alike: the same request, or the same refusal.
            #[test]
            fn both_paths_agree(
                object in proptest::collection::btree_map(keys(), values(), 0..5),
            ) {
                let body = Value::Object(object.into_iter().collect()).to_string();
                let fast = decode::<StartRunRequest>(body.as_bytes());
                let careful = decode_carefully::<StartRunRequest>(body.as_bytes());
                match (fast, careful) {
                    (Ok(fast), Ok(careful)) => prop_assert_eq!(
                        serde_json::to_value(fast).unwrap(),
                        serde_json::to_value(careful).unwrap()
                    ),
                    (Err(fast), Err(careful)) => {
                        prop_assert_eq!(fast.code(), careful.code());
                        prop_assert_eq!(fast.field(), careful.field());
                    }
                    (fast, careful) => prop_assert!(false, "{:?} vs {:?}", fast, careful),
                }
            }

            /// Arbitrary bytes never panic the decoder, and non-JSON is
            /// `invalid_json`.
            #[test]
            fn arbitrary_bytes_are_refused_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                if let Err(e) = decode::<StartRunRequest>(&bytes) {
                    prop_assert_eq!(e.code().status(), 400);
                    if serde_json::from_slice::<Value>(&bytes).is_err() {
                        prop_assert_eq!(e.code(), ErrorCode::InvalidJson);
                    }
                }
            }
        }
    }
}
