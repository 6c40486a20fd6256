//! The run engine, free of MPI: how chunks are planned, handed out, computed
//! and collected.
//!
//! Rank 0 is the controller; ranks `1..N` are engines `0..N-1`. With a single
//! rank, rank 0 is controller and only engine at once and runs every chunk
//! itself. The loops talk through the [`transport`] seam: over MPI in the
//! program ([`crate::mpi`]), in memory in the unit tests.
//!
//! Every wait polls, paced by [`pace::Backoff`]: MPICH busy-polls inside
//! blocking calls, and a spinning controller would steal an engine's core.

pub(crate) mod alone;
pub(crate) mod controller;
pub(crate) mod dispatch;
pub(crate) mod engine;
pub(crate) mod pace;
pub mod plan;
pub(crate) mod transport;

#[cfg(test)]
pub(crate) mod memory;
#[cfg(test)]
mod tests;

use crate::config::Job;
use crate::kernel::Kernel;
use crate::record::ChunkRow;
use crate::sys::clock::thread_cpu_time;
use pace::Backoff;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};
use transport::{Alarm, ChunkResult, Clock};

/// Engines of a world of `ranks` ranks: every rank but the controller, or
/// rank 0 alone.
pub(crate) fn engines(ranks: usize) -> usize {
    ranks.saturating_sub(1).max(1)
}

/// The engine id of `rank` in a world of `ranks`; `None` for the controller
/// of a multi-rank run.
pub(crate) fn engine_of_rank(ranks: usize, rank: usize) -> Option<u32> {
    match (ranks, rank) {
        (1, _) => Some(0),
        (_, 0) => None,
        (_, r) => Some(r as u32 - 1),
    }
}

/// How a session ended, on the controller.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Controller wall time of the parallel section (up to the last result,
    /// or to the end of the wind-down after a signal).
    pub(crate) elapsed: Duration,
    /// Controller process CPU time over the same section.
    pub(crate) controller_cpu: Duration,
    /// The signal that stopped the session before its last chunk, if any.
    pub(crate) signal: Option<i32>,
    /// Engines still computing when the grace time ran out (or when a
    /// second signal came): their chunks in flight are lost and MPI cannot
    /// be shut down cleanly.
    pub(crate) stranded: Vec<u32>,
    /// A second signal ended the session at once, without the chunks being
    /// computed.
    pub(crate) hurried: bool,
}

/// What the observer of a session's news wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The run has what it needs (`--precision` is met): stop handing out
    /// chunks, collect the ones being computed, drop the queued ones.
    Enough,
}

/// What rank 0 hears during a session.
#[derive(Clone, Copy, Debug)]
pub(crate) enum News {
    /// A chunk's result.
    Chunk(ChunkRow),
    /// Nothing yet: rank 0 is about to pause before polling again.
    Waiting,
}

/// Computes one chunk with `kernel`, timing it on this thread (as engine 0:
/// the engine loop names itself).
pub(crate) fn compute(job: &Job, kernel: Kernel, chunk: u64) -> ChunkResult {
    count(kernel, job.seed, chunk, job.plan().chunk_len(chunk))
}

/// Counts the `len` points of `chunk`, timing it on this thread.
fn count(kernel: Kernel, seed: u64, chunk: u64, len: u64) -> ChunkResult {
    let (began, cpu) = (Instant::now(), thread_cpu_time());
    let inside = kernel.count_inside(seed, chunk, len);
    ChunkResult {
        chunk_id: chunk,
        engine: 0,
        inside,
        compute_s: began.elapsed().as_secs_f64(),
        compute_cpu_s: thread_cpu_time().saturating_sub(cpu).as_secs_f64(),
    }
}

/// Chunks of at least this many points are computed on a thread of their
/// own by [`compute_abandonable`]: a thread costs tens of microseconds,
/// nothing next to the milliseconds these points take on any kernel.
const ABANDONABLE_LEN: u64 = 1 << 24;

/// How often [`compute_abandonable`] looks at the alarm.
const ABANDON_POLL: Duration = Duration::from_millis(10);

/// Computes one chunk like [`compute`], but gives it up (`None`) once a
/// second signal reaches this rank: a kernel cannot be stopped half-way, so
/// a long chunk runs on a thread of its own, which is left behind and ends
/// with the process. For rank 0 alone, which nothing else would stop.
pub(crate) fn compute_abandonable(
    job: &Job,
    kernel: Kernel,
    chunk: u64,
    alarm: &impl Alarm,
) -> Option<ChunkResult> {
    let len = job.plan().chunk_len(chunk);
    if len < ABANDONABLE_LEN {
        return Some(compute(job, kernel, chunk));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let seed = job.seed;
    std::thread::spawn(move || tx.send(count(kernel, seed, chunk, len)));
    loop {
        match rx.recv_timeout(ABANDON_POLL) {
            Ok(result) => return Some(result),
            Err(RecvTimeoutError::Timeout) if alarm.repeated() => return None,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the thread computing chunk {chunk} died")
            }
        }
    }
}

/// The time the longest of `job`'s chunks takes with `kernel` on this CPU,
/// `--slow` included: the rate of a short calibration (a few milliseconds at
/// most: 2¹⁶ points, the best of three) times the chunk's length. An
/// estimate for a warning, not a measurement: cores shared with other ranks
/// make the real chunks slower still.
pub(crate) fn longest_chunk(job: &Job, kernel: Kernel) -> Duration {
    const CALIBRATION: u64 = 1 << 16;
    let len = job.plan().chunk_len(0);
    let points = len.min(CALIBRATION);
    let best = (0..3)
        .map(|_| count(kernel, job.seed, 0, points).compute_s)
        .fold(f64::INFINITY, f64::min);
    let slowest = job.targets.iter().map(|&e| job.slow(e)).fold(1.0, f64::max);
    Duration::from_secs_f64(best / points as f64 * len as f64 * slowest)
}

/// Longest piece of a straggler's wait between looks at the alarm.
const STRAGGLE_SLICE: Duration = Duration::from_millis(10);

/// A straggler's chunk (`--slow`): after computing it, waits `slow - 1`
/// times its compute time without using the CPU, and counts the wait in
/// its compute time (the chunk took that long on that engine). A signal
/// ends the wait early: the chunk is computed, and is not lost to it.
fn straggle(
    clock: &mut impl Clock,
    alarm: &impl Alarm,
    slow: f64,
    mut result: ChunkResult,
) -> ChunkResult {
    if slow > 1.0 {
        let before = clock.now();
        let until = before + Duration::from_secs_f64(result.compute_s * (slow - 1.0));
        while alarm.caught().is_none() {
            let now = clock.now();
            if now >= until {
                break;
            }
            clock.pause(pace::Pause::Sleep((until - now).min(STRAGGLE_SLICE)));
        }
        result.compute_s += (clock.now() - before).as_secs_f64();
    }
    result
}

/// The record of a chunk computed by `engine_id`.
fn row(job: &Job, r: &ChunkResult, engine_id: u32, dispatch_s: f64, done_s: f64) -> ChunkRow {
    ChunkRow {
        chunk_id: r.chunk_id,
        session: 0,
        engine_id,
        samples: job.plan().chunk_len(r.chunk_id),
        inside: r.inside,
        dispatch_s,
        done_s,
        compute_s: r.compute_s,
        compute_cpu_s: r.compute_cpu_s,
    }
}

/// What a wait ended with.
enum Event<T> {
    Found(T),
    /// A signal the waiter watches for came.
    Signal,
    /// The deadline passed.
    Timeout,
}

/// Polls `probe`, pausing as `backoff` says (and calling `idle` before each
/// pause), until it yields (then resets `backoff`: more messages tend to
/// follow), `deadline` passes, or `signalled` says a signal came.
fn poll<T>(
    mut probe: impl FnMut() -> Option<T>,
    clock: &mut impl Clock,
    backoff: &mut Backoff,
    deadline: Option<Duration>,
    signalled: &dyn Fn() -> bool,
    idle: &mut dyn FnMut(),
) -> Event<T> {
    loop {
        if let Some(found) = probe() {
            backoff.reset();
            return Event::Found(found);
        }
        if signalled() {
            return Event::Signal;
        }
        if deadline.is_some_and(|d| clock.now() >= d) {
            return Event::Timeout;
        }
        idle();
        clock.pause(backoff.pause());
    }
}
