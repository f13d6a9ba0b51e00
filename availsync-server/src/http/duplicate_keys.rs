//! Finds an object key that appears twice in one JSON object.
//!
//! serde keeps the last of two equal keys in a map (and a struct decoded
//! through one), while other parsers keep the first: a gateway that reads
//! `{"resource": "repo:acme/web", "resource": "repo:acme/api"}` as the web
//! repo would see a request the server carries out on the api repo. So a
//! body with a duplicate key anywhere is refused (SPEC §4), before it is
//! decoded.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The dotted path of the first key that appears twice in one object of
/// `body` (e.g. `metadata.branch`, `items[2].id`), or `None` when there is
/// none. A body that is not valid JSON answers `None`: decoding it reports
/// that.
pub fn first_duplicate_key(body: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match (Node { path: None }).deserialize(&mut deserializer) {
        Err(e) => e.to_string().strip_prefix(MARKER).map(|rest| {
            // serde_json appends " at line L column C" to a custom error.
            match rest.rfind(" at line ") {
                Some(at) => rest[..at].to_owned(),
                None => rest.to_owned(),
            }
        }),
        Ok(()) => None,
    }
}

/// Starts the error that carries a duplicate's path out of the walk.
const MARKER: &str = "\u{0}duplicate key:";

/// One JSON value at `path` (`None` at the top).
struct Node<'p> {
    path: Option<&'p str>,
}

impl Node<'_> {
    fn child(&self, name: &str) -> String {
        match self.path {
            Some(path) => format!("{path}.{name}"),
            None => name.to_owned(),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let path = format!("{}[{index}]", self.path.unwrap_or_default());
            if seq.next_element_seed(Node { path: Some(&path) })?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            if !seen.insert(key) {
                return Err(de::Error::custom(format_args!("{MARKER}{path}")));
            }
            map.next_value_seed(Node { path: Some(&path) })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate_key;

    #[test]
    fn a_duplicate_is_found_at_any_depth_with_its_path() {
        let cases = [
            (
                r#"{"resource":"repo:a/b","resource":"repo:a/c"}"#,
                "resource",
            ),
            (
                r#"{"metadata":{"branch":"a","branch":"b"}}"#,
                "metadata.branch",
            ),
            (r#"{"items":[{"id":1},{"id":2,"id":3}]}"#, "items[1].id"),
            (r#"[{"a":1,"a":1}]"#, "[0].a"),
            // Escapes name the same key.
            (r#"{"a":1,"\u0061":2}"#, "a"),
        ];
        for (body, path) in cases {
            assert_eq!(
                first_duplicate_key(body.as_bytes()).as_deref(),
                Some(path),
                "{body}"
            );
        }
    }

    #[test]
    fn equal_keys_in_different_objects_and_broken_json_are_not_duplicates() {
        for body in [
            r#"{"a":{"x":1},"b":{"x":1}}"#,
            r#"[{"a":1},{"a":2}]"#,
            r#"{"a":"duplicate key: a"}"#,
            r#"{"a":1,"b""#,
            "not json",
            "",
        ] {
            assert_eq!(first_duplicate_key(body.as_bytes()), None, "{body}");
        }
    }
}
