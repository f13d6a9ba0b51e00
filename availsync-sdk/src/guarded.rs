//! Run a piece of work only while its lease is held.

use std::future::Future;

use availsync_types::Outcome;

use crate::client::Client;
use crate::error::Result;
use crate::guard::{Lease, LossReason, RunStart, Skipped};
use crate::requests::StartRun;

/// How a guarded piece of work ended.
#[derive(Debug)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "answered once per guarded call and matched at once; boxing would cost every caller a deref"
)]
pub enum Guarded<T, E> {
    /// The work ran to completion (the run was finished as succeeded or
    /// failed from its result).
    Completed(std::result::Result<T, E>),
    /// The resource was busy; the work did not run.
    Skipped(Skipped),
    /// The lease was lost while the work ran; the work was stopped (its
    /// future dropped) and the run finished as cancelled.
    LeaseLost(LossReason),
}

impl Client {
    /// Claims `start`'s resource and runs `work` only if claimed, keeping the
    /// lease alive meanwhile; stops the work when the lease is lost; finishes
    /// the run as succeeded or failed from the work's result.
    ///
    /// Observe agents run the work too (nothing is protected) and record the
    /// outcome. So does a partial grant of a
    /// [`StartRun::partial`](crate::StartRun::partial) working-set start:
    /// the work sees the paths it holds in [`Lease::working_set`].
    ///
    /// ```no_run
    /// # async fn demo(client: availsync_sdk::Client) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::{Guarded, StartRun};
    ///
    /// let outcome = client
    ///     .guarded(StartRun::new("project:homepage")?, |lease| async move {
    ///         println!("deploying with fencing token {}", lease.fencing_token);
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await?;
    /// if let Guarded::Skipped(skip) = outcome {
    ///     println!("skipped: {}", skip.reason.message);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn guarded<F, Fut, T, E>(&self, start: StartRun, work: F) -> Result<Guarded<T, E>>
    where
        F: FnOnce(Lease) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        match self.claim(start).await? {
            RunStart::Skipped(skip) => Ok(Guarded::Skipped(skip)),
            RunStart::Observed(observed) => {
                let lease = Lease {
                    run_id: observed.run_id.clone(),
                    resource: observed.resource.clone(),
                    fencing_token: 0,
                    lost: tokio_util::sync::CancellationToken::new(),
                    working_set: None,
                };
                let result = work(lease).await;
                observed.finish(outcome_of(&result)).await?;
                Ok(Guarded::Completed(result))
            }
            // A partial grant (asked for with `StartRun::partial`): the
            // work sees the paths held in `lease.working_set`.
            RunStart::Claimed(guard) | RunStart::Partial(guard, _) => {
                // A replay of a run whose lease is already gone must not
                // start the work at all.
                if !guard.is_held() {
                    let reason = guard.lost().await;
                    guard.finish(Outcome::Cancelled).await?;
                    return Ok(Guarded::LeaseLost(reason));
                }
                let lease = guard.lease();
                let result = tokio::select! {
                    biased;
                    reason = guard.lost() => {
                        guard.finish(Outcome::Cancelled).await?;
                        return Ok(Guarded::LeaseLost(reason));
                    }
                    result = work(lease) => result,
                };
                guard.finish(outcome_of(&result)).await?;
                Ok(Guarded::Completed(result))
            }
        }
    }
}

fn outcome_of<T, E>(result: &std::result::Result<T, E>) -> Outcome {
    if result.is_ok() {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    }
}
