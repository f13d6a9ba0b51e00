//! The writer thread's scheduling priority.
//!
//! Every write goes through one thread ([`super::writer`]), and each batch's
//! callers wait for it. When the cores are busy (the HTTP workers parsing
//! and answering, other processes), the scheduler shares them fairly, so
//! the writer waits for a core like any other thread, and every caller in
//! its batch waits with it. Run ahead of the rest of the server, it keeps
//! the pipeline moving: on two cores shared with 64 busy clients, five
//! interleaved pairs of runs gave 8-17 % more claim → finish cycles with
//! the writer at nice −10 than at the server's own (docs/performance.md).
//! It cannot starve the rest: it only runs while callers feed it.
//!
//! Raising a thread's priority needs `CAP_SYS_NICE` (or a raised
//! `RLIMIT_NICE`, e.g. systemd's `LimitNICE=`); without it the writer runs
//! at the server's priority, as before.

use std::io;

/// How many nice levels the writer runs ahead of the process (never
/// beyond −20, the highest).
const WRITER_BOOST: i32 = 10;

/// Raises the calling thread's priority by `boost` nice levels and returns
/// its new nice value. On Linux, nice values belong to threads; elsewhere
/// this changes nothing and says so.
pub(super) fn raise_this_thread(boost: i32) -> io::Result<i32> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = rustix::thread::gettid();
        let nice = getpriority_process(Some(thread))?;
        let raised = (nice - boost).max(-20);
        setpriority_process(Some(thread), raised)?;
        Ok(raised)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = boost;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "thread priorities are set on Linux only",
        ))
    }
}

/// Raises the writer thread's priority, saying in the log what came of it.
pub(super) fn raise_writer() {
    match raise_this_thread(WRITER_BOOST) {
        Ok(nice) => tracing::debug!(nice, "the SQLite writer thread runs ahead of the server"),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => tracing::info!(
            "the SQLite writer thread runs at the server's priority: running it ahead \
             needs CAP_SYS_NICE (docs/design.md, Storage)"
        ),
        Err(e) => {
            tracing::info!(error = %e, "the SQLite writer thread runs at the server's priority")
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io;

    use rustix::process::getpriority_process;

    use super::raise_this_thread;

    fn own() -> i32 {
        getpriority_process(Some(rustix::thread::gettid()))
            .expect("a thread can read its own priority")
    }

    /// Only the calling thread moves: the one that spawned it keeps its
    /// priority. Without the privilege, the refusal is a plain permission
    /// error and nothing changes.
    #[test]
    fn only_the_calling_thread_is_raised() {
        let before = own();
        let (raised, seen) = std::thread::spawn(move || {
            let raised = raise_this_thread(3);
            (raised, own())
        })
        .join()
        .unwrap();
        match raised {
            Ok(nice) => {
                assert_eq!(nice, (before - 3).max(-20));
                assert_eq!(seen, nice, "the thread did not move");
            }
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
                assert_eq!(seen, before);
            }
        }
        assert_eq!(own(), before, "the spawning thread moved too");
    }
}
