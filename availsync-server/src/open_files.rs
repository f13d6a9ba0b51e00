//! The open-file limit: each connection is a file descriptor, and a soft
//! limit of 1024 (a common default) lets about a thousand idle sockets stop
//! every accept. The soft limit is raised to the hard one at start.

/// Raises the soft open-file limit to the hard limit, logging the change,
/// and answers the limit now in force (`None` when it cannot be read or is
/// unlimited).
#[cfg(unix)]
pub fn raise_to_hard_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return None; // unlimited
    };
    // macOS refuses a soft limit above OPEN_MAX even when the hard limit
    // is unlimited; try the hard limit, then stay where we are.
    let target = hard.unwrap_or(soft);
    if target <= soft {
        return Some(soft);
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: hard,
        },
    ) {
        Ok(()) => {
            tracing::info!(
                from = soft,
                to = target,
                "raised the open-file limit to the hard limit"
            );
            Some(target)
        }
        Err(e) => {
            tracing::warn!(limit = soft, error = %e, "could not raise the open-file limit; connections are capped below it");
            Some(soft)
        }
    }
}

/// Off Unix the limit is left as it is.
#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> Option<u64> {
    None
}
