//! Agents and plans as the writer last read them, so that a start does not
//! look either up again.
//!
//! Every start needs its agent's name and mode (a mode change applies at
//! once, a deleted agent starts nothing) and its workspace's plan. Both
//! change rarely, and in this process only through the writer thread, which
//! this cache belongs to (it is thread-local, and only the writer's jobs
//! use it). So it stays exact without a lifetime:
//! - a writer job that changes an agent or a plan calls [`forget`] as it
//!   does, and so does every rollback, which may take back what was read;
//! - another process (the operator's `availsync-server set-plan`) is seen
//!   through `PRAGMA data_version`, which the writer reads at the start of
//!   each batch ([`begin_batch`]): any commit by another connection empties
//!   the cache.

use crate::store::Refusal;
use crate::store::StoreResult;
use std::cell::RefCell;
use std::collections::HashMap;

use availsync_types::{Mode, Plan};
use rusqlite::Connection;

use crate::store::StoreError;

/// Entries kept of each kind; past it the cache starts over, which only
/// costs the lookups it saves.
const MOST: usize = 8_192;

/// A live agent's name and mode.
pub(super) type LiveAgent = (String, Mode);

#[derive(Default)]
struct Cache {
    data_version: Option<i64>,
    agents: HashMap<String, LiveAgent>,
    plans: HashMap<String, Plan>,
}

impl Cache {
    fn clear(&mut self) {
        self.agents.clear();
        self.plans.clear();
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Called by the writer once its batch's transaction has begun: forgets
/// everything if another connection has committed since the last batch.
pub(super) fn begin_batch(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))?;
    CACHE.with_borrow_mut(|cache| {
        if cache.data_version != Some(version) {
            cache.clear();
            cache.data_version = Some(version);
        }
    });
    Ok(())
}

/// Forgets every agent and plan: one of them is changing, or a rollback may
/// have taken back what was read.
pub(super) fn forget() {
    CACHE.with_borrow_mut(Cache::clear);
}

/// The live agent `agent_id`, from the cache or else from `load` (which
/// answers `None` for a deleted or unknown agent; that is not kept).
pub(super) fn live_agent(
    agent_id: &str,
    load: impl FnOnce() -> StoreResult<Option<LiveAgent>>,
) -> StoreResult<Option<LiveAgent>> {
    remembered(|cache| &mut cache.agents, agent_id, load)
}

/// The plan of `workspace_id`, from the cache or else from `load`.
pub(super) fn plan(
    workspace_id: &str,
    load: impl FnOnce() -> StoreResult<Plan>,
) -> StoreResult<Plan> {
    remembered(|cache| &mut cache.plans, workspace_id, || load().map(Some))?
        .ok_or(StoreError::Refused(Refusal::NotFound("workspace")))
}

/// The entry `key` of the map `kind` picks, from the cache or else from
/// `load`, whose answer is kept unless it is `None`.
fn remembered<V: Clone>(
    kind: fn(&mut Cache) -> &mut HashMap<String, V>,
    key: &str,
    load: impl FnOnce() -> StoreResult<Option<V>>,
) -> StoreResult<Option<V>> {
    if let Some(value) = CACHE.with_borrow_mut(|cache| kind(cache).get(key).cloned()) {
        return Ok(Some(value));
    }
    let value = load()?;
    if let Some(value) = &value {
        CACHE.with_borrow_mut(|cache| {
            let map = kind(cache);
            if map.len() >= MOST {
                map.clear();
            }
            map.insert(key.to_owned(), value.clone());
        });
    }
    Ok(value)
}
