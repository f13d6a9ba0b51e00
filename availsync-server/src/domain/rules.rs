//! Rules (SPEC §11): the dependency graph a workspace declares, checked
//! when a rule is written (no cycle, no closure past
//! [`MAX_RULE_CLOSURE`]), and walked when a run starts (what else it
//! claims).

use std::collections::{BTreeMap, BTreeSet};

use availsync_types::{MAX_RULE_CLOSURE, Mode, ResourceKey, Rule, Timestamp};

use super::callers::SessionContext;
use super::events::{self, Events};
use super::ids::RuleId;
use super::refusal::Refusal;

/// What a decision needs of one resource's rule (the defaults when it has
/// none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Governs {
    /// The resource.
    pub resource: ResourceKey,
    /// Claimed with it.
    pub depends_on: Vec<ResourceKey>,
    /// Live claims it admits at once.
    pub capacity: u32,
    /// `Some(Observe)`: every run on it observes.
    pub mode: Option<Mode>,
    /// Cap on lease length.
    pub max_ttl_seconds: Option<u32>,
}

impl Governs {
    /// A resource without a rule: capacity 1, nothing else.
    pub fn default_for(resource: ResourceKey) -> Self {
        Self {
            resource,
            depends_on: Vec::new(),
            capacity: 1,
            mode: None,
            max_ttl_seconds: None,
        }
    }
}

/// Why a set of rules is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// `depends_on` would go round: the resources of the cycle, in order,
    /// the first repeated at the end.
    #[error("depends_on would form a cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The cycle.
        cycle: Vec<String>,
    },
    /// A resource would claim too many others.
    #[error(
        "claiming {resource} would claim {size} resources with its depends_on closure; at most {MAX_RULE_CLOSURE}"
    )]
    TooLarge {
        /// The resource.
        resource: String,
        /// Its closure's size, itself included.
        size: usize,
    },
}

/// Checks a whole dependency graph (`resource → depends_on`): no cycle,
/// and no closure above [`MAX_RULE_CLOSURE`].
pub fn check_graph(graph: &BTreeMap<String, Vec<String>>) -> Result<(), GraphError> {
    // Depth-first, colouring each node: on the current path, or done.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for start in graph.keys() {
        let mut path: Vec<&str> = Vec::new();
        visit(graph, start, &mut path, &mut done)?;
    }
    for start in graph.keys() {
        let size = closure_of(graph, start).len();
        if size > MAX_RULE_CLOSURE {
            return Err(GraphError::TooLarge {
                resource: start.clone(),
                size,
            });
        }
    }
    Ok(())
}

fn visit<'a>(
    graph: &'a BTreeMap<String, Vec<String>>,
    node: &'a str,
    path: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) -> Result<(), GraphError> {
    if let Some(at) = path.iter().position(|n| *n == node) {
        let mut cycle: Vec<String> = path[at..].iter().map(|n| (*n).to_owned()).collect();
        cycle.push(node.to_owned());
        return Err(GraphError::Cycle { cycle });
    }
    if done.contains(node) {
        return Ok(());
    }
    path.push(node);
    for next in graph.get(node).into_iter().flatten() {
        visit(graph, next, path, done)?;
    }
    path.pop();
    done.insert(node);
    Ok(())
}

/// `start` and everything it reaches through `graph`.
fn closure_of<'a>(graph: &'a BTreeMap<String, Vec<String>>, start: &'a str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::from([start]);
    let mut frontier = vec![start];
    while let Some(node) = frontier.pop() {
        for next in graph.get(node).into_iter().flatten() {
            if seen.insert(next.as_str()) {
                frontier.push(next);
            }
        }
    }
    seen
}

/// The walk a start makes through the rules, one level at a time, so that
/// a store reads only the rules of the resources it reaches (each level
/// one lookup): ask [`Closure::frontier`], load those rules, hand them to
/// [`Closure::learn`], until the frontier is empty.
#[derive(Debug, Clone)]
pub struct Closure {
    /// Every resource reached, in the order reached (requested ones first).
    reached: Vec<Governs>,
    frontier: Vec<ResourceKey>,
}

impl Closure {
    /// Starts from the requested resources.
    pub fn new(requested: &[ResourceKey]) -> Self {
        Self {
            reached: Vec::new(),
            frontier: requested.to_vec(),
        }
    }

    /// The resources whose rules are needed next.
    pub fn frontier(&self) -> &[ResourceKey] {
        &self.frontier
    }

    /// Takes the rules found for the frontier (a resource without a rule
    /// is simply absent) and moves on to what they depend on.
    pub fn learn(&mut self, rules: Vec<Governs>) {
        let frontier = std::mem::take(&mut self.frontier);
        for resource in &frontier {
            let resource = resource.clone();
            if self.reached.iter().any(|g| g.resource == resource) {
                continue;
            }
            let governs = rules
                .iter()
                .find(|g| g.resource == resource)
                .cloned()
                .unwrap_or_else(|| Governs::default_for(resource));
            for next in &governs.depends_on {
                let known = self.reached.iter().any(|g| g.resource == *next)
                    || self.frontier.contains(next)
                    || frontier.contains(next);
                if !known {
                    self.frontier.push(next.clone());
                }
            }
            self.reached.push(governs);
        }
    }

    /// Whether the walk is over.
    pub fn is_done(&self) -> bool {
        self.frontier.is_empty()
    }

    /// Every resource the start claims with its rule, the requested ones
    /// first.
    pub fn into_reached(self) -> Vec<Governs> {
        self.reached
    }
}

impl Governs {
    /// What a decision needs of a stored rule.
    pub fn of(rule: &Rule) -> Self {
        Self {
            resource: rule
                .resource
                .parse()
                .unwrap_or_else(|_| ResourceKey::parse("project:invalid").expect("a valid key")),
            depends_on: rule
                .depends_on
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect(),
            capacity: rule.capacity,
            mode: rule.mode,
            max_ttl_seconds: rule.max_ttl_seconds,
        }
    }
}

/// A rule's settings, validated (everything but its resource, id and
/// times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSettings {
    /// Claimed with the resource.
    pub depends_on: Vec<ResourceKey>,
    /// 1 to 1000.
    pub capacity: u32,
    /// The mode every run on the resource takes, if set.
    pub mode: Option<Mode>,
    /// Cap on lease length.
    pub max_ttl_seconds: Option<u32>,
    /// Why.
    pub note: Option<String>,
}

/// A change to a rule: the fields given (`Some`) replace the rule's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleChange {
    /// New dependencies.
    pub depends_on: Option<Vec<ResourceKey>>,
    /// New capacity.
    pub capacity: Option<u32>,
    /// New mode (`Some(None)` clears it).
    pub mode: Option<Option<Mode>>,
    /// New cap (`Some(None)` clears it).
    pub max_ttl_seconds: Option<Option<u32>>,
    /// New note (`Some(None)` clears it).
    pub note: Option<Option<String>>,
}

/// The graph of `rules`, with `changed` in place of (or added to) theirs.
fn graph_with(rules: &[Rule], changed: &Rule) -> BTreeMap<String, Vec<String>> {
    rules
        .iter()
        .filter(|r| r.resource != changed.resource)
        .chain(std::iter::once(changed))
        .map(|r| (r.resource.clone(), r.depends_on.clone()))
        .collect()
}

fn checked(rules: &[Rule], rule: &Rule) -> Result<(), Refusal> {
    check_graph(&graph_with(rules, rule)).map_err(|e| match e {
        GraphError::Cycle { cycle } => Refusal::RuleCycle { cycle },
        too_large @ GraphError::TooLarge { .. } => Refusal::InvalidRule(too_large.to_string()),
    })
}

/// A new rule for `resource` by `by` at `now`, checked against the
/// workspace's other `rules`; with its `rule_created` event.
pub fn create(
    by: &SessionContext,
    resource: &ResourceKey,
    settings: RuleSettings,
    rules: &[Rule],
    now: Timestamp,
) -> Result<(Rule, Events), Refusal> {
    if rules.iter().any(|r| r.resource == resource.as_str()) {
        return Err(Refusal::RuleExists {
            resource: resource.to_string(),
        });
    }
    let rule = Rule {
        rule_id: RuleId::generate().into_string(),
        resource: resource.to_string(),
        depends_on: settings
            .depends_on
            .iter()
            .map(ToString::to_string)
            .collect(),
        capacity: settings.capacity,
        mode: settings.mode,
        max_ttl_seconds: settings.max_ttl_seconds,
        note: settings.note,
        created_at: now,
        updated_at: now,
    };
    checked(rules, &rule)?;
    let events = events::rule_created(by, &rule);
    Ok((rule, events))
}

/// `before` changed by `change`, checked against the workspace's `rules`;
/// with its `rule_updated` event.
pub fn update(
    by: &SessionContext,
    before: &Rule,
    change: RuleChange,
    rules: &[Rule],
    now: Timestamp,
) -> Result<(Rule, Events), Refusal> {
    let rule = Rule {
        depends_on: change.depends_on.map_or_else(
            || before.depends_on.clone(),
            |d| d.iter().map(ToString::to_string).collect(),
        ),
        capacity: change.capacity.unwrap_or(before.capacity),
        mode: change.mode.unwrap_or(before.mode),
        max_ttl_seconds: change.max_ttl_seconds.unwrap_or(before.max_ttl_seconds),
        note: change.note.unwrap_or_else(|| before.note.clone()),
        updated_at: now,
        ..before.clone()
    };
    checked(rules, &rule)?;
    let events = events::rule_updated(by, before, &rule);
    Ok((rule, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(from, to)| {
                (
                    (*from).to_owned(),
                    to.iter().map(|t| (*t).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn key(text: &str) -> ResourceKey {
        text.parse().unwrap()
    }

    #[test]
    fn a_cycle_is_named_in_order() {
        let looped = graph(&[
            ("project:a", &["project:b"]),
            ("project:b", &["project:c"]),
            ("project:c", &["project:a"]),
        ]);
        let Err(GraphError::Cycle { cycle }) = check_graph(&looped) else {
            panic!("no cycle found")
        };
        assert_eq!(cycle, ["project:a", "project:b", "project:c", "project:a"]);
        let selfish = graph(&[("project:a", &["project:a"])]);
        assert!(matches!(
            check_graph(&selfish),
            Err(GraphError::Cycle { .. })
        ));
        let diamond = graph(&[
            ("project:a", &["project:b", "project:c"]),
            ("project:b", &["project:d"]),
            ("project:c", &["project:d"]),
        ]);
        assert_eq!(check_graph(&diamond), Ok(()));
    }

    #[test]
    fn a_closure_past_the_limit_is_refused() {
        let names: Vec<String> = (0..40).map(|i| format!("project:p{i}")).collect();
        let chain: BTreeMap<String, Vec<String>> = names
            .windows(2)
            .map(|w| (w[0].clone(), vec![w[1].clone()]))
            .collect();
        let Err(GraphError::TooLarge { resource, size }) = check_graph(&chain) else {
            panic!("a 40-long chain passed")
        };
        assert_eq!((resource.as_str(), size), ("project:p0", 40));
        let short: BTreeMap<String, Vec<String>> = chain
            .into_iter()
            .filter(|(from, _)| names[..31].contains(from))
            .collect();
        assert_eq!(check_graph(&short), Ok(()));
    }

    #[test]
    fn a_start_walks_the_rules_level_by_level() {
        let mut walk = Closure::new(&[key("project:homepage")]);
        assert_eq!(walk.frontier(), [key("project:homepage")]);
        walk.learn(vec![Governs {
            depends_on: vec![key("project:catalog"), key("db:main")],
            ..Governs::default_for(key("project:homepage"))
        }]);
        assert_eq!(walk.frontier(), [key("project:catalog"), key("db:main")]);
        walk.learn(vec![Governs {
            depends_on: vec![key("db:main")],
            capacity: 4,
            ..Governs::default_for(key("project:catalog"))
        }]);
        assert!(walk.is_done());
        let reached = walk.into_reached();
        let names: Vec<&str> = reached.iter().map(|g| g.resource.as_str()).collect();
        assert_eq!(names, ["project:homepage", "project:catalog", "db:main"]);
        assert_eq!(reached[1].capacity, 4);
        assert_eq!(reached[2], Governs::default_for(key("db:main")));
    }

    fn rule(resource: &str, depends_on: &[&str]) -> Rule {
        Rule {
            rule_id: format!("rul_{resource}"),
            resource: resource.into(),
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
            capacity: 1,
            mode: None,
            max_ttl_seconds: None,
            note: None,
            created_at: Timestamp::from_unix_millis(0),
            updated_at: Timestamp::from_unix_millis(0),
        }
    }

    fn settings(depends_on: &[&str]) -> RuleSettings {
        RuleSettings {
            depends_on: depends_on.iter().map(|d| key(d)).collect(),
            capacity: 1,
            mode: None,
            max_ttl_seconds: None,
            note: None,
        }
    }

    #[test]
    fn a_rule_write_is_checked_against_the_others() {
        let by = crate::domain::fixtures::human();
        let now = Timestamp::from_unix_millis(5);
        let existing = [rule("project:b", &["project:a"])];
        let (made, events) = create(
            &by,
            &key("project:c"),
            settings(&["project:b"]),
            &existing,
            now,
        )
        .unwrap();
        assert!(made.rule_id.starts_with("rul_"));
        assert_eq!(
            events.audits[0].action,
            availsync_types::AuditAction::RuleCreated
        );
        assert_eq!(
            create(&by, &key("project:b"), settings(&[]), &existing, now),
            Err(Refusal::RuleExists {
                resource: "project:b".into()
            })
        );
        let looped = create(
            &by,
            &key("project:a"),
            settings(&["project:b"]),
            &existing,
            now,
        );
        assert!(
            matches!(looped, Err(Refusal::RuleCycle { .. })),
            "{looped:?}"
        );
        let change = RuleChange {
            depends_on: Some(vec![key("project:b")]),
            ..RuleChange::default()
        };
        let before = rule("project:a", &[]);
        let all = [existing[0].clone(), before.clone()];
        assert!(matches!(
            update(&by, &before, change, &all, now),
            Err(Refusal::RuleCycle { .. })
        ));
        let cleared = RuleChange {
            capacity: Some(4),
            mode: Some(Some(Mode::Observe)),
            ..RuleChange::default()
        };
        let (after, events) = update(&by, &before, cleared, &all, now).unwrap();
        assert_eq!(
            (after.capacity, after.mode, after.updated_at),
            (4, Some(Mode::Observe), now)
        );
        assert_eq!(events.audits[0].detail["capacity"]["to"], 4);
    }
}
