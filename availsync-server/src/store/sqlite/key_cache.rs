//! Agents found by key hash, kept in memory so that authenticating an agent's
//! request does not cost a read transaction on a reader thread.
//!
//! Every change to agents goes through this store's writer, which calls
//! [`KeyCache::invalidate`] once the change is committed: an updated,
//! re-keyed or deleted agent is looked up afresh by the very next request.
//! A lookup that raced with such a change is not cached (the generation
//! moved on while it read). Entries also lapse after [`MAX_AGE`], which
//! bounds how long a change made outside this process (another process on
//! the same data directory, which is not a supported deployment) can go
//! unseen. The PostgreSQL store has no such cache: its replicas could not
//! tell each other to forget a key.

use crate::domain::ids::AgentId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use availsync_types::Timestamp;

use crate::store::AgentContext;

/// Longest an entry is trusted without reading the database again.
pub(super) const MAX_AGE: Duration = Duration::from_secs(5);

/// Most entries kept; beyond it the cache starts over (one entry per live
/// agent key, so this is only reached by a very large fleet).
const CAPACITY: usize = 65_536;

#[derive(Default)]
struct Entries {
    generation: u64,
    by_key: HashMap<Vec<u8>, (AgentContext, Instant)>,
}

/// The cache; see the module documentation.
#[derive(Default)]
pub(super) struct KeyCache {
    entries: Mutex<Entries>,
}

/// Where a lookup that missed the cache started, for [`KeyCache::insert`].
#[derive(Clone, Copy)]
pub(super) struct Generation(u64);

impl KeyCache {
    /// The cached agent of `key_hash`, or the generation to hand back to
    /// [`KeyCache::insert`] after reading the database.
    pub(super) fn get(&self, key_hash: &[u8]) -> Result<AgentContext, Generation> {
        let Ok(entries) = self.entries.lock() else {
            return Err(Generation(u64::MAX));
        };
        match entries.by_key.get(key_hash) {
            Some((agent, at)) if at.elapsed() < MAX_AGE => Ok(agent.clone()),
            _ => Err(Generation(entries.generation)),
        }
    }

    /// Caches what a lookup read, unless agents changed since it started.
    pub(super) fn insert(&self, started: Generation, key_hash: Vec<u8>, agent: &AgentContext) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.generation != started.0 {
            return;
        }
        if entries.by_key.len() >= CAPACITY {
            entries.by_key.clear();
        }
        entries
            .by_key
            .insert(key_hash, (agent.clone(), Instant::now()));
    }

    /// Forgets every entry; called after any committed change to agents.
    pub(super) fn invalidate(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            entries.by_key.clear();
        }
    }

    /// Records that the agent's key use was stored at `at`, so requests do
    /// not keep asking to record it.
    pub(super) fn touched(&self, agent_id: &AgentId, at: Timestamp) {
        if let Ok(mut entries) = self.entries.lock() {
            for (agent, _) in entries.by_key.values_mut() {
                if agent.agent_id == *agent_id {
                    agent.last_used_at = Some(at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentContext {
        AgentContext {
            agent_id: AgentId::new("agt_1"),
            agent_name: "one".into(),
            workspace_id: crate::domain::ids::WorkspaceId::new("ws_1"),
            last_used_at: None,
        }
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_cached() {
        let cache = KeyCache::default();
        let Err(started) = cache.get(b"k") else {
            panic!("empty cache answered")
        };
        cache.invalidate();
        cache.insert(started, b"k".to_vec(), &agent());
        assert!(cache.get(b"k").is_err());
    }

    #[test]
    fn entries_are_served_until_invalidated() {
        let cache = KeyCache::default();
        let Err(started) = cache.get(b"k") else {
            panic!("empty cache answered")
        };
        cache.insert(started, b"k".to_vec(), &agent());
        assert_eq!(
            cache.get(b"k").map(|a| a.agent_id).ok(),
            Some(AgentId::new("agt_1"))
        );
        cache.touched(&AgentId::new("agt_1"), Timestamp::from_unix_millis(5));
        assert!(cache.get(b"k").is_ok_and(|a| a.last_used_at.is_some()));
        cache.invalidate();
        assert!(cache.get(b"k").is_err());
    }
}
