//! The JSON schemas the tools advertise, rewritten into the plain subset
//! that every MCP client and model provider accepts.
//!
//! schemars writes what Rust types mean: `format: "uint32"`, `type:
//! ["string", "null"]` for an `Option`, `$ref` into `$defs`, and `oneOf` of
//! `const`s for a documented enum. Clients handle those unevenly: the
//! TypeScript SDK's validator warns on every unknown format, the Inspector
//! sends a number as a string when its type is a union, and Gemini-backed
//! clients refuse unions, unknown formats and references outright. So every
//! schema is rewritten once, when the tools are registered:
//! - references are inlined, and `$defs` and `$schema` dropped;
//! - a closed set of strings is an `enum` (variant docs go into the
//!   description);
//! - only standard formats (`date-time`, `uri`, …) are kept; integers keep
//!   their `minimum`/`maximum`;
//! - input schemas have no unions: an optional argument is simply not
//!   `required`, and `default` goes (the description says it);
//! - output schemas keep `null` where a value may be null, as a plain
//!   `type` list, which every JSON Schema validator reads.

use rmcp::model::JsonObject;
use serde_json::{Map, Value};

/// Which side of a tool a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Arguments the model writes: the strictest subset.
    Input,
    /// Structured content the server answers: nulls allowed.
    Output,
}

/// Formats that JSON Schema defines and validators know; any other
/// (`uint32`, `int64`, `double`, …) is dropped.
const STANDARD_FORMATS: [&str; 7] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "uri",
    "uuid",
];

/// How deep references are followed (schemars' types here nest a few
/// levels; a cycle would otherwise recurse forever).
const MAX_DEPTH: usize = 16;

/// `schema` in the plain subset for `side`.
///
/// ```ignore
/// let plain = plain(&schema_for_input::<StartRunArgs>()?, Side::Input);
/// ```
pub fn plain(schema: &JsonObject, side: Side) -> JsonObject {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let rewriter = Rewriter { defs, side };
    match rewriter.node(&Value::Object(schema.clone()), 0) {
        Value::Object(object) => object,
        _ => schema.clone(),
    }
}

struct Rewriter {
    defs: Map<String, Value>,
    side: Side,
}

impl Rewriter {
    fn node(&self, node: &Value, depth: usize) -> Value {
        let Value::Object(object) = node else {
            return node.clone();
        };
        if depth > MAX_DEPTH {
            return Value::Object(Map::new());
        }
        let object = self.resolve(object, depth);
        if let Some(choice) = self.closed_set(&object) {
            return Value::Object(choice);
        }
        if let Some(nullable) = self.nullable(&object, depth) {
            return Value::Object(nullable);
        }
        let mut out = Map::new();
        for (key, value) in &object {
            match key.as_str() {
                "$defs" | "definitions" | "$schema" => {}
                "format" if !is_standard_format(value) => {}
                // The description says what a default is; additionalProperties
                // stays (false: unknown arguments are refused).
                "default" | "title" if self.side == Side::Input => {}
                "type" => {
                    out.insert(key.clone(), self.type_of(value));
                }
                "properties" => {
                    let properties = value
                        .as_object()
                        .map(|props| {
                            props
                                .iter()
                                .map(|(name, prop)| (name.clone(), self.node(prop, depth + 1)))
                                .collect::<Map<_, _>>()
                        })
                        .unwrap_or_default();
                    out.insert(key.clone(), Value::Object(properties));
                }
                "items" | "additionalProperties" if value.is_object() => {
                    out.insert(key.clone(), self.node(value, depth + 1));
                }
                "anyOf" | "oneOf" | "allOf" => {
                    let variants = value
                        .as_array()
                        .map(|all| all.iter().map(|v| self.node(v, depth + 1)).collect())
                        .unwrap_or_default();
                    out.insert(key.clone(), Value::Array(variants));
                }
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        Value::Object(out)
    }

    /// The object with a `$ref` replaced by its definition (the referring
    /// object's own keys, such as its description, win).
    fn resolve(&self, object: &Map<String, Value>, depth: usize) -> Map<String, Value> {
        if depth > MAX_DEPTH {
            return object.clone();
        }
        let Some(target) = object
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| {
                r.strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
            })
            .and_then(|name| self.defs.get(name))
            .and_then(Value::as_object)
        else {
            return object.clone();
        };
        let mut merged = self.resolve(target, depth + 1);
        for (key, value) in object {
            if key != "$ref" {
                merged.insert(key.clone(), value.clone());
            }
        }
        merged
    }

    /// `oneOf`/`anyOf` of string constants (a documented Rust enum) as one
    /// `enum`, with each variant's doc appended to the description.
    fn closed_set(&self, object: &Map<String, Value>) -> Option<Map<String, Value>> {
        let variants = object
            .get("oneOf")
            .or_else(|| object.get("anyOf"))?
            .as_array()?;
        let mut values = Vec::new();
        let mut docs = Vec::new();
        for variant in variants {
            let variant = self.resolve(variant.as_object()?, 0);
            let constants: Vec<Value> = match (variant.get("const"), variant.get("enum")) {
                (Some(constant), _) => vec![constant.clone()],
                (None, Some(Value::Array(all))) => all.clone(),
                _ => return None,
            };
            if !constants.iter().all(Value::is_string) {
                return None;
            }
            if let (Some(Value::String(name)), Some(Value::String(doc))) =
                (constants.first(), variant.get("description"))
            {
                docs.push(format!("'{name}': {}", doc.trim_end_matches('.')));
            }
            values.extend(constants);
        }
        let mut out = Map::new();
        out.insert("type".into(), Value::String("string".into()));
        out.insert("enum".into(), Value::Array(values));
        let description = object
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let description = match (description, docs.is_empty()) {
            (Some(d), true) => Some(d),
            (Some(d), false) => Some(format!(
                "{} ({}).",
                d.trim_end_matches('.'),
                docs.join("; ")
            )),
            (None, false) => Some(format!("{}.", docs.join("; "))),
            (None, true) => None,
        };
        if let Some(description) = description {
            out.insert("description".into(), Value::String(description));
        }
        Some(out)
    }

    /// `anyOf: [S, {type: null}]` (an `Option` of a struct or enum): S for
    /// an input (an optional argument is one left out), S with `null`
    /// added to its type for an output.
    fn nullable(&self, object: &Map<String, Value>, depth: usize) -> Option<Map<String, Value>> {
        let variants = object.get("anyOf")?.as_array()?;
        let [first, second] = variants.as_slice() else {
            return None;
        };
        let is_null = |v: &Value| v.get("type") == Some(&Value::String("null".into()));
        let some = match (is_null(first), is_null(second)) {
            (false, true) => first,
            (true, false) => second,
            _ => return None,
        };
        let Value::Object(mut inner) = self.node(some, depth + 1) else {
            return None;
        };
        if self.side == Side::Output {
            let kind = inner.remove("type").unwrap_or(Value::Null);
            let mut kinds = match kind {
                Value::Array(all) => all,
                Value::Null => Vec::new(),
                one => vec![one],
            };
            if !kinds.is_empty() && !kinds.contains(&Value::String("null".into())) {
                kinds.push(Value::String("null".into()));
            }
            if let Some(Value::Array(values)) = inner.get_mut("enum") {
                values.push(Value::Null);
            }
            if !kinds.is_empty() {
                inner.insert("type".into(), Value::Array(kinds));
            }
        }
        for (key, value) in object {
            if key != "anyOf" && !(self.side == Side::Input && key == "default") {
                inner.insert(key.clone(), value.clone());
            }
        }
        Some(inner)
    }

    /// A `type`: for an input, a union with `null` becomes its one other
    /// type.
    fn type_of(&self, value: &Value) -> Value {
        match (self.side, value) {
            (Side::Input, Value::Array(all)) => {
                let mut rest: Vec<&Value> =
                    all.iter().filter(|t| t.as_str() != Some("null")).collect();
                match rest.len() {
                    1 => rest.remove(0).clone(),
                    _ => value.clone(),
                }
            }
            _ => value.clone(),
        }
    }
}

fn is_standard_format(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|format| STANDARD_FORMATS.contains(&format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    /// Every keyword a plain schema may hold, anywhere in it.
    fn keys(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(o) => {
                for (k, v) in o {
                    out.push(k.clone());
                    if k == "properties" {
                        for prop in v.as_object().into_iter().flat_map(|p| p.values()) {
                            keys(prop, out);
                        }
                    } else {
                        keys(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }

    fn schemars_like() -> JsonObject {
        object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "ttl_seconds": {"type": ["integer", "null"], "format": "uint32",
                                "minimum": 10, "maximum": 3600, "default": null},
                "purpose": {"type": ["string", "null"], "description": "What for."},
                "outcome": {"$ref": "#/$defs/Outcome", "description": "How it ended."},
                "window": {"anyOf": [{"$ref": "#/$defs/Window"}, {"type": "null"}]},
                "at": {"type": "string", "format": "date-time"}
            },
            "required": ["outcome"],
            "$defs": {
                "Outcome": {"oneOf": [
                    {"const": "succeeded", "description": "Done.", "type": "string"},
                    {"const": "failed", "description": "Did not work.", "type": "string"}
                ]},
                "Window": {"type": "object", "properties": {
                    "count": {"type": "integer", "format": "uint64", "minimum": 0}
                }}
            }
        }))
    }

    #[test]
    fn an_input_schema_has_no_unions_references_or_unknown_formats() {
        let plain = Value::Object(plain(&schemars_like(), Side::Input));
        let mut found = Vec::new();
        keys(&plain, &mut found);
        for banned in ["$ref", "$defs", "$schema", "oneOf", "anyOf", "default"] {
            assert!(!found.contains(&banned.to_owned()), "{banned} in {plain}");
        }
        let props = &plain["properties"];
        assert_eq!(
            props["ttl_seconds"],
            json!({"type": "integer", "minimum": 10, "maximum": 3600})
        );
        assert_eq!(
            props["purpose"],
            json!({"type": "string", "description": "What for."})
        );
        assert_eq!(
            props["outcome"],
            json!({"type": "string", "enum": ["succeeded", "failed"],
                   "description": "How it ended ('succeeded': Done; 'failed': Did not work)."})
        );
        assert_eq!(
            props["window"],
            json!({"type": "object", "properties": {"count": {"type": "integer", "minimum": 0}}})
        );
        assert_eq!(props["at"]["format"], json!("date-time"));
        assert_eq!(plain["required"], json!(["outcome"]));
        assert_eq!(plain["additionalProperties"], json!(false));
    }

    #[test]
    fn an_output_schema_keeps_nulls_as_a_type_list_and_inlines_references() {
        let plain = Value::Object(plain(&schemars_like(), Side::Output));
        let props = &plain["properties"];
        assert_eq!(props["ttl_seconds"]["type"], json!(["integer", "null"]));
        assert!(props["ttl_seconds"].get("format").is_none());
        assert_eq!(props["window"]["type"], json!(["object", "null"]));
        assert!(plain.get("$defs").is_none());
        let mut found = Vec::new();
        keys(&plain, &mut found);
        assert!(!found.contains(&"$ref".to_owned()), "{plain}");
    }

    #[test]
    fn a_reference_cycle_ends_instead_of_recursing_forever() {
        let schema = object(json!({
            "type": "object",
            "properties": {"next": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
        }));
        let plain = plain(&schema, Side::Output);
        assert_eq!(plain["type"], json!("object"));
    }
}
