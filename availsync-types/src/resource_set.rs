//! The resources one start names (SPEC §12): 2 to 16 distinct keys, the
//! first named first. The server and the SDK check a list with this one
//! rule.

use crate::{ResourceKey, ResourceKeyError};

/// Fewest resources a several-resource start names (one is `resource`).
pub const MIN_REQUESTED_RESOURCES: usize = 2;
/// Most resources one start names.
pub const MAX_REQUESTED_RESOURCES: usize = 16;

/// Why a `resources` list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceSetError {
    /// Fewer than 2 or more than 16 entries.
    #[error(
        "resources lists {MIN_REQUESTED_RESOURCES} to {MAX_REQUESTED_RESOURCES} resources (for one, use resource), not {0}"
    )]
    Count(usize),
    /// An entry that is not a valid resource key.
    #[error("resources[{index}]: {error}")]
    Key {
        /// Its position in the list.
        index: usize,
        /// What is wrong with it.
        error: ResourceKeyError,
    },
    /// An entry equal to an earlier one after normalisation.
    #[error("resources[{index}]: {key} is listed twice (after normalisation)")]
    Duplicate {
        /// Its position in the list.
        index: usize,
        /// The normalised key.
        key: String,
    },
}

impl ResourceSetError {
    /// The request field at fault: `resources[i]` or `resources`.
    pub fn field(&self) -> String {
        match self {
            Self::Key { index, .. } => format!("resources[{index}]"),
            Self::Count(_) | Self::Duplicate { .. } => "resources".to_owned(),
        }
    }
}

/// Parses and normalises a `resources` list: 2 to 16 valid, distinct keys,
/// in the order given.
///
/// ```
/// use availsync_types::{parse_resource_set, ResourceSetError};
///
/// let keys = parse_resource_set(["repo:Acme/Web", "pool:gpu"])?;
/// assert_eq!(keys[0].as_str(), "repo:acme/web");
/// assert!(matches!(
///     parse_resource_set(["repo:acme/web", "repo:ACME/web"]),
///     Err(ResourceSetError::Duplicate { index: 1, .. })
/// ));
/// assert!(matches!(parse_resource_set(["pool:gpu"]), Err(ResourceSetError::Count(1))));
/// # Ok::<(), ResourceSetError>(())
/// ```
pub fn parse_resource_set<I>(resources: I) -> Result<Vec<ResourceKey>, ResourceSetError>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let raw: Vec<I::Item> = resources.into_iter().collect();
    if !(MIN_REQUESTED_RESOURCES..=MAX_REQUESTED_RESOURCES).contains(&raw.len()) {
        return Err(ResourceSetError::Count(raw.len()));
    }
    let mut keys: Vec<ResourceKey> = Vec::with_capacity(raw.len());
    for (index, raw) in raw.iter().enumerate() {
        let key = ResourceKey::parse(raw.as_ref())
            .map_err(|error| ResourceSetError::Key { index, error })?;
        if keys.contains(&key) {
            return Err(ResourceSetError::Duplicate {
                index,
                key: key.to_string(),
            });
        }
        keys.push(key);
    }
    Ok(keys)
}
