//! Signals that ask a run to stop: SIGINT (Ctrl-C), SIGTERM (`kill`, Slurm's
//! `--signal=B:TERM@…`, pre-emption), SIGUSR1 and SIGHUP (the terminal closed).
//!
//! The handler records the first such signal in an atomic and counts them;
//! the run polls [`caught`] between chunks, saves what it has and exits with
//! `128 + signal`. A second one ([`repeated`]) stops it at once, without the
//! chunks being computed. mpirun (MPICH's hydra and Open MPI) and srun forward
//! SIGINT, SIGTERM and SIGUSR1 to every rank; a signal that reaches one rank
//! only is relayed by the run loops.
//!
//! A SIGHUP that was ignored when mcpi started (`nohup`) stays ignored, and
//! SIGPIPE is always ignored: a closed stdout or stderr fails the write
//! (`EPIPE`) instead of killing the rank.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

/// The signals that interrupt a run, with their names.
pub(crate) const STOPPING: [(i32, &str); 4] = [
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGUSR1, "SIGUSR1"),
];

/// The first stopping signal received or relayed, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

/// How many stopping signals this process received (relays not counted).
static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// SIGHUP was ignored when mcpi started (`nohup mcpi`): it stays ignored.
static HANGUP_IGNORED: AtomicBool = AtomicBool::new(false);

/// Notes SIGHUP's disposition as the process was started. On Linux this
/// runs from the executable's `.preinit_array`, before any shared library's
/// constructor: UCX (under MPICH) installs a SIGHUP handler of its own in
/// one, over `nohup`'s SIG_IGN, long before `main`.
extern "C" fn note_hangup_at_start() {
    HANGUP_IGNORED.store(is_ignored(libc::SIGHUP), Ordering::SeqCst);
}

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".preinit_array"]
static NOTE_HANGUP_AT_START: extern "C" fn() = note_hangup_at_start;

extern "C" fn record(signal: libc::c_int) {
    // Async-signal-safe: two atomic operations.
    let _ = CAUGHT.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    RECEIVED.fetch_add(1, Ordering::SeqCst);
}

/// Whether `signal` is ignored in this process right now.
fn is_ignored(signal: i32) -> bool {
    // SAFETY: a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old);
        old.sa_sigaction == libc::SIG_IGN
    }
}

/// The stopping signals as a signal set.
fn stopping_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset uses it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for (signal, _) in STOPPING {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Holds the stopping signals back (they stay pending) until [`install`].
/// Call first thing, before `MPI_Init`: threads it starts inherit the mask,
/// so the signals reach the main thread's handler.
///
/// Also ignores SIGXFSZ, so that a write beyond the file-size limit
/// (`ulimit -f`) fails with `EFBIG`, reported like any failed write, instead
/// of killing the process (MPI abort noise, the temporary file left behind).
pub(crate) fn hold() {
    #[cfg(not(target_os = "linux"))]
    note_hangup_at_start();
    // SAFETY: a valid, initialised set; the old mask is not needed. Ignoring
    // a signal has no preconditions.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &stopping_set(), std::ptr::null_mut());
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Installs the handlers, then lets held signals in. Call after `MPI_Init`:
/// MPICH's singleton start-up (a process run without mpirun) sets its own
/// SIGUSR1 handler, which hangs the process when SIGUSR1 arrives, and UCX
/// (under MPICH) one for SIGHUP that only turns its debug log on.
///
/// SIGPIPE is ignored here too (Rust's runtime does so before `main`, but
/// the MPI library comes after it): a write to a closed pipe fails instead
/// of killing the rank.
pub(crate) fn install() {
    // SAFETY: `record` is async-signal-safe; the sigaction struct is fully
    // initialised (zeroed, then the handler, an empty mask and SA_RESTART).
    // Ignoring a signal has no preconditions; an ignored pending SIGHUP is
    // discarded.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        for (signal, _) in STOPPING {
            if signal == libc::SIGHUP && HANGUP_IGNORED.load(Ordering::SeqCst) {
                libc::signal(signal, libc::SIG_IGN);
            } else {
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &stopping_set(), std::ptr::null_mut());
    }
}

/// The first stopping signal this process received, if any.
pub(crate) fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// A second stopping signal reached this process: stop at once.
pub(crate) fn repeated() -> bool {
    RECEIVED.load(Ordering::SeqCst) >= 2
}

/// Records `signal` as if it had been received (a relay from another rank);
/// it does not count towards [`repeated`].
pub(crate) fn relay(signal: i32) {
    let _ = CAUGHT.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
}

/// This process's signals, as the run loops see them.
pub(crate) struct ProcessAlarm;

impl crate::run::transport::Alarm for ProcessAlarm {
    fn caught(&self) -> Option<i32> {
        caught()
    }

    fn relay(&self, signal: i32) {
        relay(signal)
    }

    fn repeated(&self) -> bool {
        repeated()
    }
}

/// "SIGTERM" for 15; "signal N" for others.
pub(crate) fn name(signal: i32) -> String {
    STOPPING
        .iter()
        .find(|(s, _)| *s == signal)
        .map_or_else(|| format!("signal {signal}"), |(_, n)| n.to_string())
}

/// The shell's exit status for a process stopped by `signal`.
pub(crate) fn exit_status(signal: i32) -> i32 {
    128 + signal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_signals_arrive_once_installed_and_the_first_wins() {
        hold();
        // SAFETY: raising a blocked signal: it stays pending.
        unsafe { libc::raise(libc::SIGUSR1) };
        assert_eq!(caught(), None);
        install();
        assert_eq!(caught(), Some(libc::SIGUSR1));
        relay(libc::SIGTERM);
        assert_eq!(caught(), Some(libc::SIGUSR1));
        assert!(!repeated(), "a relay is not a second signal");
        // SAFETY: raising a signal whose handler is installed.
        unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(caught(), Some(libc::SIGUSR1));
        assert!(repeated());
        assert!(is_ignored(libc::SIGPIPE));
        assert_eq!(name(libc::SIGHUP), "SIGHUP");
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(9), "signal 9");
        assert_eq!(exit_status(libc::SIGTERM), 143);
    }
}
