//! An engine's loop: compute queued chunks in order and report them.
//!
//! Results are held back and sent several per message once as many are held
//! as remain queued (half the window: the controller refills it while the
//! other half is computed), when the queue runs dry, after [`HOLD_TIME`], or
//! at [`HOLD_MOST`]. Short chunks then cost a message per half window
//! instead of one each; a chunk longer than the rest of the queue still goes
//! alone.

use super::dispatch::share;
use super::pace::{self, Backoff};
use super::transport::{Alarm, ChunkResult, Clock, EngineLink, Order, Report};
use super::{poll, straggle, Event};
use crate::config::Job;
use std::collections::VecDeque;
use std::time::Duration;

/// The longest a result is held back (progress and checkpoints lag by it).
const HOLD_TIME: Duration = Duration::from_millis(5);
/// The most results in one message.
const HOLD_MOST: usize = 4096;

/// Serves one session as engine `engine`: the queue is this engine's share
/// of `todo` in a fixed split and filled by the controller otherwise; `work`
/// computes a chunk. Ends on Stop (once the queue is empty) or Cancel, with a
/// goodbye. A signal caught here is sent to the controller (Halt), which
/// cancels everyone, also while the engine has nothing to do. A straggler
/// (`--slow`) waits after each chunk.
pub(crate) fn serve(
    link: &mut impl EngineLink,
    clock: &mut impl Clock,
    alarm: &impl Alarm,
    job: &Job,
    engine: u32,
    todo: &[u64],
    work: &mut dyn FnMut(u64) -> ChunkResult,
) {
    let mut inbox = Inbox::default();
    let index = job.targets.iter().position(|&t| t == engine);
    if let (Some(split), Some(index)) = (job.split(), index) {
        let workers = job.targets.len() as u64;
        let mine = share(split, todo.len() as u64, workers, index as u64);
        inbox.queue.extend(mine.iter().map(|&i| todo[i as usize]));
    }
    let slow = job.slow(engine);
    // The first tasks are sent right after the start barrier.
    let mut backoff = Backoff::for_waiting();
    backoff.set_max_sleep(pace::SLEEP_CAP_RANGE.0);
    let mut halted = false;
    let mut sent = (0u64, 0u64);
    let mut held: Vec<ChunkResult> = Vec::new();
    let mut held_since = Duration::ZERO;
    loop {
        // Collect whatever has arrived without waiting for more.
        while let Some(order) = link.try_recv() {
            inbox.take(order, alarm, todo);
        }
        if inbox.told == Some(Told::Cancel) {
            break;
        }
        // Before ending on Stop: a signal caught here still stops the run.
        if !halted {
            if let Some(s) = alarm.caught() {
                send_held(link, &mut held);
                link.send(Report::Halt(s));
                halted = true;
            }
        }
        if inbox.told == Some(Told::Stop) && (inbox.queue.is_empty() || halted) {
            break;
        }
        let next = if halted {
            None
        } else {
            inbox.queue.pop_front()
        };
        if let Some(chunk) = next {
            let result = ChunkResult {
                engine,
                ..straggle(clock, alarm, slow, work(chunk))
            };
            if held.is_empty() {
                held_since = clock.now();
            }
            held.push(result);
            sent.0 += 1;
            sent.1 += result.inside;
            if hand_in(held.len(), inbox.queue.len(), clock.now() - held_since) {
                send_held(link, &mut held);
            }
            // The next task is about one controller round trip away:
            // don't sleep through a good part of a chunk waiting for it.
            let chunk_time = Duration::from_secs_f64(result.compute_s);
            backoff.set_max_sleep(pace::sleep_cap(chunk_time, 1));
        } else {
            send_held(link, &mut held);
            // No chunk will come to an engine outside the targets or past its
            // share of a fixed split: it waits for the end of the run only to
            // relay a signal, and may sleep long between looks.
            if index.is_none() || job.split().is_some() {
                backoff.set_max_sleep(pace::IDLE_SLEEP_CAP);
            }
            let signalled = || !halted && alarm.caught().is_some();
            let event = poll(
                || link.try_recv(),
                clock,
                &mut backoff,
                None,
                &signalled,
                &mut || {},
            );
            if let Event::Found(order) = event {
                inbox.take(order, alarm, todo);
            }
        }
    }
    send_held(link, &mut held);
    link.send(Report::Bye {
        chunks: sent.0,
        inside: sent.1,
    });
}

/// Whether an engine holding `held` results, the first for `held_for`, with
/// `queued` chunks still to compute, sends them now (see the module's
/// documentation). Node dispatchers and the scale model's engines follow it
/// too.
pub(crate) fn hand_in(held: usize, queued: usize, held_for: Duration) -> bool {
    held >= queued || held >= HOLD_MOST || held_for >= HOLD_TIME
}

/// Sends the results held back, if any.
fn send_held(link: &mut impl EngineLink, held: &mut Vec<ChunkResult>) {
    if !held.is_empty() {
        link.send(Report::Results(std::mem::take(held)));
    }
}

/// How the controller told an engine to end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Told {
    /// No more chunks will come; finish the queue.
    Stop,
    /// Leave the queue: a signal stops the run, or it has enough.
    Cancel,
}

/// An engine's received but not yet computed chunks.
#[derive(Default)]
struct Inbox {
    queue: VecDeque<u64>,
    told: Option<Told>,
}

impl Inbox {
    /// Takes `order`; its tasks name positions in `todo`.
    fn take(&mut self, order: Order, alarm: &impl Alarm, todo: &[u64]) {
        match order {
            Order::Stop => self.told = Some(Told::Stop),
            Order::Tasks { first, count } => self
                .queue
                .extend(&todo[first as usize..(first + count) as usize]),
            Order::Cancel(signal) => {
                if let Some(signal) = signal {
                    alarm.relay(signal);
                }
                self.told = Some(Told::Cancel);
            }
        }
    }
}
