//! Rules (SPEC §11): what humans declare about resources — dependencies,
//! capacity, a per-resource mode and a cap on lease length.

use serde::{Deserialize, Serialize};

use crate::{Mode, Timestamp};

/// Most resources a rule's `depends_on` closure may reach, itself included.
pub const MAX_RULE_CLOSURE: usize = 32;
/// Largest `capacity`.
pub const MAX_CAPACITY: u32 = 1000;
/// Shortest `max_ttl_seconds`.
pub const MIN_RULE_TTL_SECONDS: u32 = 10;
/// Longest `max_ttl_seconds`.
pub const MAX_RULE_TTL_SECONDS: u32 = 3600;
/// Longest `note`, in characters.
pub const MAX_RULE_NOTE_CHARS: usize = 500;

/// A rule about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// `rul_…`
    pub rule_id: String,
    /// The resource it is about (normalised).
    pub resource: String,
    /// Resources claimed with it, in the same grant (normalised).
    pub depends_on: Vec<String>,
    /// How many live claims the resource admits at once (1 to 1000).
    pub capacity: u32,
    /// `observe`: every run on the resource is an observe run; `enforce` or
    /// `null`: the agent's mode decides.
    pub mode: Option<Mode>,
    /// A longer requested or extended ttl is cut to this.
    pub max_ttl_seconds: Option<u32>,
    /// Why the rule exists.
    pub note: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// `POST /v1/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRuleRequest {
    /// Any valid resource key.
    pub resource: String,
    /// Resources claimed with it; default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// 1-1000; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub capacity: Option<u32>,
    /// `observe` or `enforce`; default none (the agent's mode decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// 10-3600 seconds; default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 3600))]
    pub max_ttl_seconds: Option<u32>,
    /// At most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub note: Option<String>,
}

/// `PATCH /v1/rules/{rule_id}`: the fields given change; `null` clears
/// `mode`, `max_ttl_seconds` and `note`. A rule's resource never changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRuleRequest {
    /// Refused: a rule's resource never changes (delete it and create
    /// another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub resource: Option<serde_json::Value>,
    /// New dependencies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// New capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// New mode (`null` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "patch")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Mode>))]
    pub mode: Option<Option<Mode>>,
    /// New cap (`null` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "patch")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u32>))]
    pub max_ttl_seconds: Option<Option<u32>>,
    /// New note (`null` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "patch")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub note: Option<Option<String>>,
}

/// `{rule}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleResponse {
    /// The rule.
    pub rule: Rule,
}

/// `GET /v1/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleList {
    /// Every rule of the workspace, by resource.
    pub items: Vec<Rule>,
}

/// A PATCH field that tells "absent" (`None`) from "null" (`Some(None)`).
mod patch {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_absent_from_null() {
        let absent: UpdateRuleRequest = serde_json::from_str(r#"{"capacity": 3}"#).unwrap();
        assert_eq!((absent.capacity, absent.mode), (Some(3), None));
        let cleared: UpdateRuleRequest = serde_json::from_str(r#"{"mode": null}"#).unwrap();
        assert_eq!(cleared.mode, Some(None));
        let set: UpdateRuleRequest = serde_json::from_str(r#"{"mode": "observe"}"#).unwrap();
        assert_eq!(set.mode, Some(Some(Mode::Observe)));
        assert_eq!(serde_json::to_string(&cleared).unwrap(), r#"{"mode":null}"#);
        assert!(serde_json::from_str::<UpdateRuleRequest>(r#"{"colour": 1}"#).is_err());
    }
}
