//! What a plan allows beyond claims (the claims limit is decided with the
//! claim, in [`super::lease`]).

use availsync_types::Plan;

/// The plan's agent limit when a workspace with `agents` agents may not
/// create another; `None` when it may.
pub fn agent_limit_reached(plan: Plan, agents: u64) -> Option<u32> {
    plan.limits()
        .agents
        .filter(|&limit| agents >= u64::from(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_agent_is_refused_only_at_a_limited_plans_limit() {
        assert_eq!(agent_limit_reached(Plan::Free, 2), None);
        assert_eq!(agent_limit_reached(Plan::Free, 3), Some(3));
        assert_eq!(agent_limit_reached(Plan::Business, 10_000), None);
    }
}
