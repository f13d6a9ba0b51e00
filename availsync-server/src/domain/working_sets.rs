//! Working sets (SPEC §10): how a request for a whole repository or for
//! some of its paths meets the claims live on it, and which live patterns a
//! store must load to find out.

use availsync_types::{
    BlockedPath, Claim, Holder, PathConflict, PathPattern, ReasonCode, WorkingSet, WorkingSetMode,
};

use super::ids::RunId;

/// Most overlaps a skip lists.
pub const MAX_CONFLICTS: usize = 50;

/// What a start, a check or a working-set change asks of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// The whole resource (every v1 claim).
    Whole,
    /// Some paths of a repository.
    Paths(RequestedSet),
}

/// Requested paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSet {
    /// The patterns, normalised and without duplicates.
    pub paths: Vec<PathPattern>,
    /// Edit or read.
    pub mode: WorkingSetMode,
    /// Grant the free paths when some are held.
    pub partial: bool,
}

/// A validated `POST /v1/work/run/working-set`.
#[derive(Debug, Clone)]
pub struct PathsChange {
    /// The run whose claim changes.
    pub run_id: RunId,
    /// Patterns to add.
    pub add: Vec<PathPattern>,
    /// Patterns to remove.
    pub remove: Vec<PathPattern>,
    /// Add the free paths when some are held.
    pub partial: bool,
}

/// A live claim on the resource, as a decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Whose it is.
    pub holder: Holder,
    /// Its paths (those a store found may overlap), or `None` when it
    /// holds the whole resource.
    pub set: Option<HeldSet>,
}

/// The paths of a live working-set claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSet {
    /// Edit or read.
    pub mode: WorkingSetMode,
    /// Its patterns.
    pub paths: Vec<PathPattern>,
}

/// Why live claims stand in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `resource_claimed` (a whole claim on either side) or
    /// `paths_claimed`.
    pub code: ReasonCode,
    /// The blocker that lapses first.
    pub holder: Holder,
    /// Each overlap, when a working set is on either side (at most
    /// [`MAX_CONFLICTS`]).
    pub conflicts: Option<Vec<PathConflict>>,
}

/// How a request meets the live claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meeting {
    /// Nothing in the way.
    Free,
    /// Some requested paths are free and the request takes a part:
    /// `granted` are free, `blocked` are not.
    Partial {
        /// The free patterns.
        granted: Vec<PathPattern>,
        /// The held ones, each with the blocker that lapses first.
        blocked: Vec<BlockedPath>,
        /// What a request without `partial` would have been told.
        block: Block,
    },
    /// Blocked.
    Blocked(Block),
}

impl Want {
    /// The working set a grant of this request holds, when it is one.
    pub fn granted_set(&self, meeting: &Meeting) -> Option<WorkingSet> {
        let Want::Paths(requested) = self else {
            return None;
        };
        let paths = match meeting {
            Meeting::Partial { granted, .. } => granted,
            Meeting::Free | Meeting::Blocked(_) => &requested.paths,
        };
        Some(WorkingSet {
            paths: paths.iter().map(|p| p.as_str().to_owned()).collect(),
            mode: requested.mode,
        })
    }
}

/// The requested patterns a granted `claim` holds (all of them, or a
/// partial grant's), for the store's candidate index.
pub fn granted_patterns(want: &Want, claim: &Claim) -> Vec<PathPattern> {
    match (want, &claim.working_set) {
        (Want::Paths(requested), Some(set)) => requested
            .paths
            .iter()
            .filter(|p| set.paths.iter().any(|g| g == p.as_str()))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether two modes may conflict at all: two reads never do.
pub fn modes_conflict(a: WorkingSetMode, b: WorkingSetMode) -> bool {
    a == WorkingSetMode::Edit || b == WorkingSetMode::Edit
}

/// How `want` meets `held` (the live claims on the resource; for a paths
/// request, at least every one whose paths may overlap).
pub fn meet(want: &Want, held: &[Held]) -> Meeting {
    let mut by_expiry: Vec<&Held> = held.iter().collect();
    by_expiry.sort_by_key(|h| h.holder.expires_at);
    let requested = match want {
        Want::Whole => return meet_whole(&by_expiry),
        Want::Paths(requested) => requested,
    };
    // A whole claim blocks every path.
    if let Some(whole) = by_expiry.iter().find(|h| h.set.is_none()) {
        let conflicts = requested
            .paths
            .iter()
            .take(MAX_CONFLICTS)
            .map(|path| PathConflict {
                path: Some(path.as_str().to_owned()),
                holder: whole.holder.clone(),
                held_paths: None,
            })
            .collect();
        return Meeting::Blocked(Block {
            code: ReasonCode::ResourceClaimed,
            holder: whole.holder.clone(),
            conflicts: Some(conflicts),
        });
    }
    let mut conflicts = Vec::new();
    let mut granted = Vec::new();
    let mut blocked = Vec::new();
    let mut first_blocker: Option<&Holder> = None;
    for path in &requested.paths {
        let mut blocker_of_path: Option<&Holder> = None;
        for held in &by_expiry {
            let Some(set) = &held.set else { continue };
            if !modes_conflict(requested.mode, set.mode) {
                continue;
            }
            let overlapping: Vec<String> = set
                .paths
                .iter()
                .filter(|p| p.overlaps(path))
                .map(|p| p.as_str().to_owned())
                .collect();
            if overlapping.is_empty() {
                continue;
            }
            blocker_of_path.get_or_insert(&held.holder);
            if conflicts.len() < MAX_CONFLICTS {
                conflicts.push(PathConflict {
                    path: Some(path.as_str().to_owned()),
                    holder: held.holder.clone(),
                    held_paths: Some(overlapping),
                });
            }
        }
        match blocker_of_path {
            None => granted.push(path.clone()),
            Some(holder) => {
                if first_blocker.is_none_or(|f| holder.expires_at < f.expires_at) {
                    first_blocker = Some(holder);
                }
                blocked.push(BlockedPath {
                    path: path.as_str().to_owned(),
                    holder: holder.clone(),
                });
            }
        }
    }
    let Some(holder) = first_blocker else {
        return Meeting::Free;
    };
    let block = Block {
        code: ReasonCode::PathsClaimed,
        holder: holder.clone(),
        conflicts: Some(conflicts),
    };
    if requested.partial && !granted.is_empty() {
        Meeting::Partial {
            granted,
            blocked,
            block,
        }
    } else {
        Meeting::Blocked(block)
    }
}

/// A whole request is blocked by any live claim; overlaps are listed only
/// when a working set is among the blockers (so that v1 answers stay v1's).
fn meet_whole(by_expiry: &[&Held]) -> Meeting {
    let Some(first) = by_expiry.first() else {
        return Meeting::Free;
    };
    let any_set = by_expiry.iter().any(|h| h.set.is_some());
    let conflicts = any_set.then(|| {
        by_expiry
            .iter()
            .take(MAX_CONFLICTS)
            .map(|h| PathConflict {
                path: None,
                holder: h.holder.clone(),
                held_paths: h
                    .set
                    .as_ref()
                    .map(|s| s.paths.iter().map(|p| p.as_str().to_owned()).collect()),
            })
            .collect()
    });
    Meeting::Blocked(Block {
        code: ReasonCode::ResourceClaimed,
        holder: first.holder.clone(),
        conflicts,
    })
}

/// A live claim as a store reads it: its holder, and its working set's
/// mode and paths (both `None` for a whole claim).
#[derive(Debug, Clone)]
pub struct HeldRow {
    /// The claim.
    pub claim_id: String,
    /// Whose it is.
    pub holder: Holder,
    /// Its working set's mode.
    pub mode: Option<WorkingSetMode>,
    /// Its patterns (all of them, or only those a candidate lookup found).
    pub paths: Vec<String>,
}

/// Gathers rows (several per claim when read pattern by pattern) into the
/// live claims a decision meets; `skip` (a claim changing its own paths)
/// is left out. Stored patterns were normalised when written; one that no
/// longer parses is kept as matching everything, never dropped.
pub fn gather(rows: Vec<HeldRow>, skip: Option<&str>) -> Vec<Held> {
    let mut claims: Vec<(String, Held)> = Vec::new();
    for row in rows {
        if skip == Some(row.claim_id.as_str()) {
            continue;
        }
        let parse = |text: &String| text.parse().unwrap_or_else(|_| PathPattern::any());
        let index = match claims.iter().position(|(id, _)| *id == row.claim_id) {
            Some(index) => index,
            None => {
                let set = row.mode.map(|mode| HeldSet {
                    mode,
                    paths: Vec::new(),
                });
                claims.push((
                    row.claim_id.clone(),
                    Held {
                        holder: row.holder.clone(),
                        set,
                    },
                ));
                claims.len() - 1
            }
        };
        if let Some(set) = &mut claims[index].1.set {
            for path in &row.paths {
                let pattern = parse(path);
                if !set.paths.contains(&pattern) {
                    set.paths.push(pattern);
                }
            }
        }
    }
    claims.into_iter().map(|(_, held)| held).collect()
}

/// Which live patterns a store loads for `paths`: those whose literal
/// prefix is one of `exact` (the ancestors of a requested prefix, itself
/// included, and `""`), and those whose prefix starts with one of `below`
/// (the prefixes of requested patterns with a wildcard). Any pattern that
/// could overlap a requested one is among them (their literal prefixes must
/// be one the start of the other).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Prefixes looked up exactly.
    pub exact: Vec<String>,
    /// Prefixes whose descendants are looked up; none is below another.
    pub below: Vec<String>,
}

/// The [`Candidates`] of a requested set of patterns.
pub fn candidates(paths: &[PathPattern]) -> Candidates {
    let mut exact: Vec<String> = vec![String::new()];
    let mut below: Vec<String> = Vec::new();
    for path in paths {
        let prefix = path.literal_prefix();
        let mut end = 0;
        while let Some(slash) = prefix[end..].find('/') {
            end += slash + 1;
            exact.push(prefix[..end].to_owned());
        }
        if !path.is_literal() {
            below.push(prefix);
        }
    }
    exact.sort();
    exact.dedup();
    below.sort();
    below.dedup();
    // "src/" covers "src/api/": keep only the outermost roots.
    let mut roots: Vec<String> = Vec::new();
    for prefix in below {
        if !roots.iter().any(|root| prefix.starts_with(root.as_str())) {
            roots.push(prefix);
        }
    }
    Candidates {
        exact,
        below: roots,
    }
}

/// The exclusive upper bound of the prefixes starting with `root` (which
/// ends with `/`, or is empty for "every prefix"), in byte order: `root`
/// with its final `/` raised to `0`. `None` for the empty root.
pub fn below_upper_bound(root: &str) -> Option<String> {
    root.strip_suffix('/').map(|stem| format!("{stem}0"))
}

#[cfg(test)]
mod tests {
    use availsync_types::Timestamp;

    use super::*;

    fn p(text: &str) -> PathPattern {
        text.parse().unwrap()
    }

    fn holder(run: &str, expires: i64) -> Holder {
        Holder {
            agent_id: "agt_1".into(),
            agent_name: "ci-bot".into(),
            run_id: run.into(),
            expires_at: Timestamp::from_unix_millis(expires),
        }
    }

    fn set(run: &str, expires: i64, mode: WorkingSetMode, paths: &[&str]) -> Held {
        Held {
            holder: holder(run, expires),
            set: Some(HeldSet {
                mode,
                paths: paths.iter().map(|t| p(t)).collect(),
            }),
        }
    }

    fn want(paths: &[&str], mode: WorkingSetMode, partial: bool) -> Want {
        Want::Paths(RequestedSet {
            paths: paths.iter().map(|t| p(t)).collect(),
            mode,
            partial,
        })
    }

    use WorkingSetMode::{Edit, Read};

    #[test]
    fn disjoint_sets_and_two_reads_are_free() {
        let held = [set("r1", 50, Edit, &["src/api/**"])];
        assert_eq!(
            meet(&want(&["src/db/**"], Edit, false), &held),
            Meeting::Free
        );
        let read = [set("r1", 50, Read, &["src/**"])];
        assert_eq!(
            meet(&want(&["src/a.rs"], Read, false), &read),
            Meeting::Free
        );
    }

    #[test]
    fn an_overlap_skips_naming_the_patterns_on_both_sides() {
        let held = [
            set("r1", 90, Edit, &["src/api/**", "docs/**"]),
            set("r2", 50, Read, &["src/api/users.rs"]),
        ];
        let Meeting::Blocked(block) = meet(&want(&["src/api/users.rs"], Edit, false), &held) else {
            panic!("not blocked")
        };
        assert_eq!(block.code, ReasonCode::PathsClaimed);
        assert_eq!(block.holder.run_id, "r2", "the blocker that lapses first");
        let conflicts = block.conflicts.unwrap();
        assert_eq!(conflicts.len(), 2);
        assert_eq!(conflicts[1].held_paths, Some(vec!["src/api/**".to_owned()]));
    }

    #[test]
    fn a_partial_request_takes_the_free_paths() {
        let held = [set("r1", 90, Edit, &["src/api/**"])];
        let asked = want(&["src/api/x.rs", "src/db/**"], Edit, true);
        let meeting = meet(&asked, &held);
        let Meeting::Partial {
            granted, blocked, ..
        } = &meeting
        else {
            panic!("not partial: {meeting:?}")
        };
        assert_eq!(granted, &vec![p("src/db/**")]);
        assert_eq!(blocked[0].path, "src/api/x.rs");
        assert_eq!(
            asked.granted_set(&meeting).unwrap().paths,
            vec!["src/db/**".to_owned()]
        );
        // Nothing free: a skip, partial or not.
        let all_held = want(&["src/api/**"], Edit, true);
        assert!(matches!(meet(&all_held, &held), Meeting::Blocked(_)));
    }

    #[test]
    fn whole_claims_and_working_sets_block_each_other() {
        let whole = [Held {
            holder: holder("r1", 90),
            set: None,
        }];
        let Meeting::Blocked(block) = meet(&want(&["a.rs"], Read, true), &whole) else {
            panic!("a whole claim must block a working set")
        };
        assert_eq!(block.code, ReasonCode::ResourceClaimed);
        assert_eq!(block.conflicts.unwrap()[0].held_paths, None);
        let Meeting::Blocked(v1) = meet(&Want::Whole, &whole) else {
            panic!("whole must block whole")
        };
        assert_eq!(v1.conflicts, None, "v1 answers stay v1's");
        let sets = [
            set("r2", 40, Read, &["a.rs"]),
            set("r1", 90, Edit, &["b/**"]),
        ];
        let Meeting::Blocked(block) = meet(&Want::Whole, &sets) else {
            panic!("working sets must block a whole request")
        };
        assert_eq!(block.holder.run_id, "r2");
        let conflicts = block.conflicts.unwrap();
        assert_eq!((conflicts.len(), conflicts[0].path.clone()), (2, None));
    }

    #[test]
    fn candidates_cover_ancestors_and_what_lies_below_wildcards() {
        let found = candidates(&[p("src/api/users.rs"), p("src/db/**"), p("src/db/x/*.rs")]);
        assert_eq!(
            found.exact,
            vec![
                "",
                "src/",
                "src/api/",
                "src/api/users.rs/",
                "src/db/",
                "src/db/x/"
            ]
        );
        assert_eq!(found.below, vec!["src/db/".to_owned()]);
        assert_eq!(below_upper_bound("src/db/").as_deref(), Some("src/db0"));
        assert_eq!(below_upper_bound(""), None);
        assert_eq!(candidates(&[p("**/x.rs")]).below, vec![String::new()]);
    }
}
