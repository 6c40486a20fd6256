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
    /// apart), the first sleep is already the cap: the cap is set so that
    /// sleeping that long starves nobody, and each wake-up costs the
    /// controller about as much CPU as handling a message (11–14 µs measured
    /// on the project's VMs), so sleeping shorter only burns CPU.
    pub(crate) fn reset(&mut self) {
        self.polls = 0;
        self.sleep = match self.spins {
            0 => self.max_sleep,
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

/// Bounds of the controller's longest sleep. The upper bound is how late a
/// signal or the progress bar may be seen; at ~12 µs of CPU per wake-up it
/// also makes an idle controller cost about 0.1 % of a core.
pub(crate) const SLEEP_CAP_RANGE: (Duration, Duration) =
    (Duration::from_micros(20), Duration::from_millis(10));

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

/// At the end of a run, the controller's sleeps shrink with the work still
/// out (`left` per engine): a quarter of it at most, so the last results
/// are taken (and the run's elapsed time measured) at most that late.
pub(crate) fn tail_sleep_cap(left: Duration) -> Duration {
    let (lo, hi) = SLEEP_CAP_RANGE;
    (left / 4).clamp(lo, hi)
}

/// The work an engine's window holds at first, in time: enough to cover a
/// round trip to the controller, its reaction (its sleep, up to half the
/// queued work, see [`sleep_cap`]), and the results an engine holds back
/// (half its window, see [`super::engine`]); and enough that an engine
/// reports only every 2 ms or so (half a window), so that the controller's CPU
/// stays near 1 % of a core whatever the chunk size (measured: 500 µs gave
/// the controller 6 % of a core with 0.5 ms chunks and 16 % with 45 µs
/// chunks, 4 ms gave 3 %). A peer that still starves gets a wider window
/// ([`PeerPace`]). A window longer than a chunk costs nothing at the end of
/// a run when engines are alike: their queues drain together.
pub(crate) const WINDOW_TIME: Duration = Duration::from_millis(4);

/// The widest window, in time, that starving can lead to.
pub(crate) const MAX_WINDOW_TIME: Duration = Duration::from_millis(256);

/// The most chunks in flight per engine, however short they are.
pub(crate) const MAX_WINDOW: usize = 1 << 16;

/// Chunks in flight per engine: `--window` (`least`), or more when chunks
/// are so short that `least` of them last less than [`WINDOW_TIME`].
pub(crate) fn window(typical_chunk: Duration, least: usize) -> usize {
    window_of(WINDOW_TIME, typical_chunk, least)
}

/// Chunks in flight per engine for a window of `time`.
fn window_of(time: Duration, typical_chunk: Duration, least: usize) -> usize {
    let typical = typical_chunk.as_nanos().max(1);
    let wanted = time.as_nanos().div_ceil(typical);
    (wanted.min(MAX_WINDOW as u128) as usize).max(least)
}

/// What the controller learns of one peer from its reports: its typical
/// chunk time, and whether it starves, which set its window.
///
/// A peer reports every chunk it computed since its last report, so the
/// time from one report to a later one is the compute time of the chunks
/// reported in between (divided among the peer's engines) plus the time the
/// peer waited for work. Waiting for more than an eighth of that time means
/// the window does not cover the round trip (a slow link, a busy
/// controller): the window's time doubles, up to [`MAX_WINDOW_TIME`]. A
/// constant link latency cancels out of the difference. The estimate is
/// made over at least [`EPOCH`] reports, so that the controller's lateness
/// in taking each one (at most its sleep, half a window) averages out, and
/// at least [`EPOCH`] chunks per engine, so that a node's engines, whose
/// results come in bursts, are counted over that many rounds: the error of
/// cutting a burst is then at most one round in [`EPOCH`].
#[derive(Clone, Debug)]
pub(crate) struct PeerPace {
    /// The working engines behind the peer.
    engines: u32,
    computed: Duration,
    chunks: u64,
    /// The stretch of reports being measured, from the first report on.
    epoch: Option<Epoch>,
    window_time: Duration,
}

/// Reports since `start`: how many, their chunks and compute time.
#[derive(Clone, Copy, Debug)]
struct Epoch {
    start: Duration,
    reports: usize,
    chunks: u64,
    busy: Duration,
}

/// Reports, and chunks per engine, over which a peer's waiting is measured.
const EPOCH: usize = 16;

impl PeerPace {
    pub(crate) fn new(engines: usize) -> PeerPace {
        PeerPace {
            engines: engines.max(1) as u32,
            computed: Duration::ZERO,
            chunks: 0,
            epoch: None,
            window_time: WINDOW_TIME,
        }
    }

    /// A report arrived at `now` with chunks that took `compute` in all.
    pub(crate) fn heard(&mut self, now: Duration, chunks: usize, compute: Duration) {
        let fresh = Epoch {
            start: now,
            reports: 0,
            chunks: 0,
            busy: Duration::ZERO,
        };
        self.epoch = Some(match self.epoch {
            None => fresh,
            Some(e) => {
                let e = Epoch {
                    reports: e.reports + 1,
                    chunks: e.chunks + chunks as u64,
                    busy: e.busy + compute,
                    ..e
                };
                if e.reports < EPOCH || e.chunks < (EPOCH as u64) * u64::from(self.engines) {
                    e
                } else {
                    let span = now.saturating_sub(e.start);
                    let waited = span.saturating_sub(e.busy / self.engines);
                    if waited > span / 8 {
                        self.window_time = (self.window_time * 2).min(MAX_WINDOW_TIME);
                    }
                    fresh
                }
            }
        });
        self.computed += compute;
        self.chunks += chunks as u64;
    }

    /// The chunks reported so far.
    pub(crate) fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The mean chunk time so far (zero before any).
    pub(crate) fn typical(&self) -> Duration {
        match self.chunks {
            0 => Duration::ZERO,
            n => self.computed.div_f64(n as f64),
        }
    }

    /// Chunks each of the peer's engines may hold: `least` (`--window`)
    /// until a chunk came back, then enough for its window's time.
    pub(crate) fn window(&self, least: usize) -> usize {
        match self.chunks {
            0 => least,
            _ => window_of(self.window_time, self.typical(), least),
        }
    }
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
        assert_eq!(window(us(1500), 4), 4);
        assert_eq!(window(us(500), 4), 8);
        assert_eq!(window(us(1), 4), 4000);
        assert_eq!(window(Duration::ZERO, 4), MAX_WINDOW);
    }

    /// Reports from a peer of `engines` engines whose chunks take `chunk`
    /// and which sends a report every `per` chunks, waiting `waits` for its
    /// next tasks before each report; returns its window.
    fn paced(engines: usize, chunk: Duration, per: u32, waits: Duration, reports: u32) -> usize {
        let mut pace = PeerPace::new(engines);
        let mut now = Duration::from_millis(1);
        for _ in 0..reports {
            let compute = chunk * per * engines as u32;
            now += chunk * per + waits;
            pace.heard(now, per as usize * engines, compute);
        }
        pace.window(4)
    }

    #[test]
    fn a_peer_that_waits_for_work_gets_a_wider_window() {
        let us = Duration::from_micros;
        assert_eq!(PeerPace::new(1).window(4), 4, "--window until a chunk came");
        let busy = paced(1, us(100), 20, Duration::ZERO, 100);
        assert_eq!(busy, 40, "never waits: 4 ms of 0.1 ms chunks");
        // Waiting a tenth of the time is noise; a quarter doubles the window
        // every EPOCH reports, up to MAX_WINDOW_TIME.
        assert_eq!(paced(1, us(100), 20, us(200), 100), 40);
        assert_eq!(paced(1, us(100), 20, us(700), EPOCH as u32 + 1), 80);
        assert_eq!(paced(1, us(100), 20, us(700), 2 * EPOCH as u32 + 1), 160);
        assert_eq!(paced(1, us(100), 20, us(700), 1000), 2560);
        // A node's dispatcher reports for its engines, which compute at once.
        assert_eq!(paced(3, us(100), 20, Duration::ZERO, 100), 40);
        assert_eq!(paced(3, us(100), 20, us(700), EPOCH as u32 + 1), 80);
        // Chunks longer than the window's time: --window, until waiting
        // widens it past them.
        assert_eq!(paced(1, us(3000), 2, Duration::ZERO, 100), 4);
        assert_eq!(paced(1, us(3000), 2, us(3000), 2 * EPOCH as u32 + 1), 6);
    }

    #[test]
    fn a_node_whose_results_come_in_bursts_does_not_look_starved() {
        // 64 engines finish their 10 ms chunks together, and their node's
        // dispatcher sends each result alone: bursts of reports, 10 ms apart.
        let (ms, us) = (Duration::from_millis, Duration::from_micros);
        let mut pace = PeerPace::new(64);
        for round in 1..=40 {
            for engine in 0..64 {
                pace.heard(ms(10) * round + us(2) * engine, 1, ms(10));
            }
        }
        assert_eq!(pace.window_time, WINDOW_TIME);
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
