//! Request bodies (SPEC §4): arbitrary bytes are decoded into every request
//! type through the server's own decoder (`decode_json_body`, what the
//! `ApiJson` extractor runs), then checked by the same validation functions
//! the handlers call. Nothing panics; every refusal is a 400 with one of the
//! SPEC's codes; when the body is a JSON object the refusal names the field
//! at fault (an unknown field that is in the body, or a missing or ill-typed
//! field of the type) and says its name in the message.

#![no_main]

use availsync_server::parsers::validate::{self, Invalid, MAX_PURPOSE_CHARS, MAX_SUMMARY_CHARS};
use availsync_server::parsers::decode_json_body;
use availsync_types::{
    CheckRequest, ConflictsCheckRequest, CreateAgentRequest, CreateHoldRequest, ErrorCode,
    ExtendRunRequest, FinishRunRequest, LoginRequest, MAX_WINDOW_MILLIS, SignupRequest,
    StartRunRequest, UpdateAgentRequest, UsageRequest,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Decodes `data` as `T` and checks the answer; `validate` is what the
/// handler does with a decoded body.
fn check<T: DeserializeOwned>(
    data: &[u8],
    object: Option<&Map<String, Value>>,
    known: &[&str],
    required: &[&str],
    validate: impl FnOnce(T) -> Result<(), Invalid>,
) {
    match decode_json_body::<T>(data) {
        Ok(request) => {
            let object = object.expect("only a JSON object decodes");
            assert!(required.iter().all(|f| object.contains_key(*f)));
            if let Err(invalid) = validate(request) {
                assert!(
                    known.contains(&invalid.field),
                    "validation names '{}', not a field of the body",
                    invalid.field
                );
            }
        }
        Err(e) => {
            assert_eq!(e.code().status(), 400);
            let Some(object) = object else {
                assert!(matches!(
                    e.code(),
                    ErrorCode::InvalidJson | ErrorCode::InvalidRequest
                ));
                return;
            };
            let field = e
                .field()
                .unwrap_or_else(|| panic!("{:?} names no field: {}", e.code(), e.message()));
            assert!(
                e.message().contains(&format!("'{field}'")),
                "the message does not name '{field}': {}",
                e.message()
            );
            match e.code() {
                ErrorCode::UnknownField => {
                    assert!(
                        object.contains_key(field),
                        "unknown '{field}' is not in the body"
                    );
                    assert!(!known.contains(&field), "'{field}' is a known field");
                }
                ErrorCode::InvalidRequest => {
                    let top = field.split(['.', '[']).next().unwrap_or(field);
                    assert!(known.contains(&top), "'{field}' is not a field of the type");
                    if !object.contains_key(top) {
                        assert!(required.contains(&top), "optional '{top}' called missing");
                    }
                }
                other => panic!("{other:?} for a JSON object"),
            }
        }
    }
}

fn window(start: &str, end: &str) -> Result<(), Invalid> {
    let w = validate::window("start", start, "end", end)?;
    assert!(w.start < w.end && w.end.unix_millis() - w.start.unix_millis() <= MAX_WINDOW_MILLIS);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let value = serde_json::from_slice::<Value>(data).ok();
    let object = value.as_ref().and_then(Value::as_object);

    check::<SignupRequest>(
        data,
        object,
        &["email", "password", "workspace_name"],
        &["email", "password", "workspace_name"],
        |r| {
            validate::email(&r.email)?;
            validate::new_password(&r.password)?;
            validate::name("workspace_name", &r.workspace_name).map(drop)
        },
    );
    check::<LoginRequest>(
        data,
        object,
        &["email", "password"],
        &["email", "password"],
        |r| {
            validate::normalise_email(&r.email);
            Ok(())
        },
    );
    check::<CreateAgentRequest>(data, object, &["name", "mode"], &["name"], |r| {
        validate::name("name", &r.name).map(drop)
    });
    check::<UpdateAgentRequest>(data, object, &["name", "mode"], &[], |r| {
        r.name
            .map(|n| validate::name("name", &n))
            .transpose()
            .map(drop)
    });
    check::<StartRunRequest>(
        data,
        object,
        &[
            "resource",
            "ttl_seconds",
            "run_id",
            "purpose",
            "mode",
            "metadata",
        ],
        &["resource"],
        |r| {
            let key = validate::claim_resource("resource", &r.resource)?;
            assert!(key.is_claimable());
            let ttl = validate::ttl_seconds(r.ttl_seconds)?;
            assert!((10..=3600).contains(&ttl));
            if let Some(run_id) = &r.run_id {
                validate::run_id("run_id", run_id)?;
            }
            validate::optional_text("purpose", r.purpose, MAX_PURPOSE_CHARS).map(drop)
        },
    );
    check::<CheckRequest>(data, object, &["resource"], &["resource"], |r| {
        validate::claim_resource("resource", &r.resource).map(drop)
    });
    check::<ExtendRunRequest>(data, object, &["run_id", "ttl_seconds"], &["run_id"], |r| {
        validate::run_id("run_id", &r.run_id)?;
        r.ttl_seconds
            .map(|t| validate::ttl_seconds(Some(t)))
            .transpose()
            .map(drop)
    });
    check::<FinishRunRequest>(
        data,
        object,
        &["run_id", "outcome", "summary"],
        &["run_id", "outcome"],
        |r| {
            validate::run_id("run_id", &r.run_id)?;
            validate::optional_text("summary", r.summary, MAX_SUMMARY_CHARS).map(drop)
        },
    );
    check::<CreateHoldRequest>(
        data,
        object,
        &[
            "resource",
            "start",
            "end",
            "purpose",
            "ttl_seconds",
            "idempotency_key",
        ],
        &["resource", "start", "end"],
        |r| {
            validate::any_resource("resource", &r.resource)?;
            window(&r.start, &r.end)?;
            validate::hold_ttl(r.ttl_seconds)?;
            validate::optional_text("purpose", r.purpose, MAX_PURPOSE_CHARS)?;
            if let Some(key) = &r.idempotency_key {
                validate::run_id("idempotency_key", key)?;
            }
            Ok(())
        },
    );
    check::<ConflictsCheckRequest>(
        data,
        object,
        &["resource", "start", "end"],
        &["resource", "start", "end"],
        |r| {
            validate::any_resource("resource", &r.resource)?;
            window(&r.start, &r.end)
        },
    );
    check::<UsageRequest>(data, object, &["since", "until"], &[], |r| {
        if let Some(since) = &r.since {
            validate::instant("since", since)?;
        }
        if let Some(until) = &r.until {
            validate::instant("until", until)?;
        }
        Ok(())
    });
});
