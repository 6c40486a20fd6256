//! How a waiting rank paces its polling: free of MPI, used by the run loops
//! and by the MPI layer's non-blocking collectives.

use std::time::Duration;

/// What a waiting rank does before its next poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// Poll again at once.
    Spin,
    /// Give the core away (`sched_yield`), then poll.
    Yield,
    /// Sleep, then poll.
    Sleep(Duration),
}

/// Adaptive polling: spin briefly right after a message (another is likely
/// close behind), then yield, then sleep with doubling intervals up to a cap.
/// MPICH busy-polls inside blocking calls, so a rank that waits in `MPI_Recv`
/// burns a core an engine could use; polling with `MPI_Test` paced by this
/// policy keeps the controller nearly idle without adding much latency.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    polls: u32,
    sleep: Duration,
    spins: u32,
    yields: u32,
    min_sleep: Duration,
    max_sleep: Duration,
}

impl Backoff {
    pub(crate) fn new(
        spins: u32,
        yields: u32,
        min_sleep: Duration,
        max_sleep: Duration,
    ) -> Backoff {
        Backoff {
            polls: 0,
            sleep: min_sleep,
            spins,
            yields,
            min_sleep,
            max_sleep,
        }
    }

    /// The policy used by the controller and idle engines.
    pub(crate) fn for_waiting() -> Backoff {
        Backoff::new(
            64,
            16,
            Duration::from_micros(20),
            Duration::from_micros(500),
        )
    }

    /// The next pause after an unsuccessful poll.
    pub(crate) fn pause(&mut self) -> Pause {
        self.polls = self.polls.saturating_add(1);
        if self.polls <= self.spins {
            Pause::Spin
        } else if self.polls <= self.spins + self.yields {
            Pause::Yield
        } else {
            let sleep = self.sleep;
            self.sleep = (self.sleep * 2).min(self.max_sleep);
            Pause::Sleep(sleep)
        }
    }

    /// Whether to spin and yield before sleeping: worth it only when the
    /// next message is likely within microseconds; otherwise every message
    /// would be followed by tens of microseconds of CPU spent for nothing.
    pub(crate) fn set_eager(&mut self, eager: bool) {
        let quick = Backoff::for_waiting();
        (self.spins, self.yields) = match eager {
            true => (quick.spins, quick.yields),
            false => (0, 0),
        };
    }

    /// Caps the sleeps from now on (see [`sleep_cap`]).
    pub(crate) fn set_max_sleep(&mut self, max_sleep: Duration) {
        self.max_sleep = max_sleep.max(self.min_sleep);
        self.sleep = self.sleep.min(self.max_sleep);
    }

    /// A message arrived: be quick again. When not eager (messages far
    /// apart), the first sleep is already a quarter of the cap: waking up
    /// every 20 µs for a message a millisecond away costs more than it saves.
    pub(crate) fn reset(&mut self) {
        self.polls = 0;
        self.sleep = match self.spins {
            0 => (self.max_sleep / 4).max(self.min_sleep),
            _ => self.min_sleep,
        };
    }
}

/// The longest sleep of an engine that has no more chunks to wait for: it
/// only waits for the end of the run (Stop) and watches for a signal, which
/// it relays this late at most.
pub(crate) const IDLE_SLEEP_CAP: Duration = Duration::from_millis(10);

/// Messages further apart than this (on average) are not waited for by
/// spinning: the controller goes straight to sleep ([`Backoff::set_eager`]).
pub(crate) const EAGER_GAP: Duration = Duration::from_micros(50);

/// Bounds of the controller's longest sleep.
pub(crate) const SLEEP_CAP_RANGE: (Duration, Duration) =
    (Duration::from_micros(20), Duration::from_millis(1));

/// The longest the controller may sleep between polls without starving the
/// engines: half the work an engine has queued behind the chunk it computes
/// (`window - 1` chunks of `typical_chunk`; half a chunk when nothing is
/// queued), within [`SLEEP_CAP_RANGE`]. Long chunks let the controller sleep
/// long and cost nothing; short chunks make it poll more often.
pub(crate) fn sleep_cap(typical_chunk: Duration, window: usize) -> Duration {
    let queued = typical_chunk * window.saturating_sub(1).max(1) as u32;
    let (lo, hi) = SLEEP_CAP_RANGE;
    (queued / 2).clamp(lo, hi)
}

/// The work an engine's window should hold, in time: enough to cover a
/// round trip to the controller, its reaction, and the results an engine
/// holds back (half its window, see [`super::engine`]), so that short chunks
/// never leave an engine waiting; and so little that the imbalance it can
/// leave at the end of a run (one window) is negligible.
pub(crate) const WINDOW_TIME: Duration = Duration::from_micros(500);

/// The most chunks in flight per engine, however short they are.
pub(crate) const MAX_WINDOW: usize = 1 << 16;

/// Chunks in flight per engine: `--window` (`least`), or more when chunks
/// are so short that `least` of them last less than [`WINDOW_TIME`].
pub(crate) fn window(typical_chunk: Duration, least: usize) -> usize {
    let typical = typical_chunk.as_nanos().max(1);
    let wanted = WINDOW_TIME.as_nanos().div_ceil(typical);
    (wanted.min(MAX_WINDOW as u128) as usize).max(least)
}

/// Asks the kernel to end this thread's sleeps on time. Linux lets a 20 µs
/// `nanosleep` overshoot by its default 50 µs timer slack; measured on the
/// project's VMs, a 20 µs sleep lasts ~90 µs by default and ~43 µs with a
/// 1 ns slack. Elsewhere this does nothing.
pub(crate) fn precise_sleeps() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only changes
    // the calling thread's timer slack; it cannot fail in a harmful way.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Performs a pause.
pub(crate) fn wait(pause: Pause) {
    match pause {
        Pause::Spin => std::hint::spin_loop(),
        Pause::Yield => std::thread::yield_now(),
        Pause::Sleep(d) => std::thread::sleep(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_spins_yields_then_sleeps_up_to_the_cap() {
        let us = Duration::from_micros;
        let mut b = Backoff::new(2, 1, us(10), us(35));
        let got: Vec<Pause> = (0..7).map(|_| b.pause()).collect();
        assert_eq!(
            got,
            [
                Pause::Spin,
                Pause::Spin,
                Pause::Yield,
                Pause::Sleep(us(10)),
                Pause::Sleep(us(20)),
                Pause::Sleep(us(35)),
                Pause::Sleep(us(35)),
            ]
        );
        b.reset();
        assert_eq!(b.pause(), Pause::Spin);
    }

    #[test]
    fn capping_shortens_the_sleeps_at_once() {
        let us = Duration::from_micros;
        let mut b = Backoff::new(0, 0, us(10), us(1000));
        for _ in 0..10 {
            b.pause();
        }
        b.set_max_sleep(us(40));
        assert_eq!(b.pause(), Pause::Sleep(us(40)));
        b.set_max_sleep(us(1));
        assert_eq!(b.pause(), Pause::Sleep(us(10)), "never below the minimum");
    }

    #[test]
    fn the_window_widens_only_for_short_chunks() {
        let us = Duration::from_micros;
        assert_eq!(window(us(300), 4), 4);
        assert_eq!(window(us(50), 4), 10);
        assert_eq!(window(us(1), 4), 500);
        assert_eq!(window(Duration::ZERO, 4), MAX_WINDOW);
    }

    #[test]
    fn the_sleep_cap_follows_the_queued_work() {
        let us = Duration::from_micros;
        assert_eq!(sleep_cap(us(300), 2), us(150));
        assert_eq!(sleep_cap(us(300), 3), us(300));
        assert_eq!(sleep_cap(us(300), 1), us(150));
        assert_eq!(sleep_cap(us(1), 2), SLEEP_CAP_RANGE.0);
        assert_eq!(sleep_cap(Duration::from_secs(5), 2), SLEEP_CAP_RANGE.1);
    }
}
