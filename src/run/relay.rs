//! A node dispatcher's loop (`--dispatch node`): one engine per node takes
//! runs of chunks from rank 0, feeds the other engines of its node, computes
//! chunks itself between looks at its links, and sends its node's results
//! back to rank 0 together. To rank 0 it is one peer standing for its node's
//! engines; to those engines it is their controller, with the same protocol.
//!
//! It computes too, so that the engines, their ids and `--targets` are the
//! same in both dispatches and no core sits idle; the price is that it
//! forwards only between its own chunks, which the windows cover (an engine
//! holds several chunks, each about as long as the dispatcher's own).

use super::dispatch::share;
use super::engine::hand_in;
use super::pace::{self, Backoff};
use super::transport::{Alarm, ChunkResult, Clock, ControllerLink, EngineLink, Order, Report};
use super::{poll, straggle, Event};
use crate::config::Job;
use std::collections::VecDeque;
use std::time::Duration;

/// Serves one session as engine `engine` and dispatcher of the engines
/// behind `down`, for the controller behind `up`; `work` computes a chunk.
#[allow(clippy::too_many_arguments)]
pub(crate) fn relay(
    up: &mut impl EngineLink,
    down: &mut impl ControllerLink,
    clock: &mut impl Clock,
    alarm: &impl Alarm,
    job: &Job,
    engine: u32,
    todo: &[u64],
    work: &mut dyn FnMut(u64) -> ChunkResult,
) {
    let peers = down.peers();
    let mut node = Node {
        pending: VecDeque::new(),
        mine: VecDeque::new(),
        working: (0..peers)
            .map(|p| {
                down.engines_behind(p)
                    .iter()
                    .any(|e| job.targets.contains(e))
            })
            .collect(),
        in_flight: vec![0; peers],
        sent_back: vec![(0, 0); peers],
        told_down: vec![false; peers],
        gone: vec![false; peers],
        told: None,
        held: Vec::new(),
        held_since: Duration::ZERO,
        forwarded: (0, 0),
        computed: (0.0, 0),
    };
    let me = job.targets.iter().position(|&t| t == engine);
    if let (Some(split), Some(index)) = (job.split(), me) {
        let workers = job.targets.len() as u64;
        node.mine
            .extend(share(split, todo.len() as u64, workers, index as u64));
    }
    let slow = job.slow(engine);
    let mut backoff = Backoff::for_waiting();
    backoff.set_max_sleep(pace::SLEEP_CAP_RANGE.0);
    let mut halted = false;
    loop {
        while let Some(order) = up.try_recv() {
            node.order(order, alarm);
        }
        while let Some((peer, report)) = down.try_recv() {
            node.report(peer, report, up, clock.now());
        }
        if !halted {
            if let Some(s) = alarm.caught() {
                node.send_held(up);
                up.send(Report::Halt(s));
                halted = true;
            }
        }
        node.tell(
            down,
            job.split().is_none(),
            job.window as usize,
            me.is_some(),
        );
        let all_gone = node.gone.iter().all(|&g| g);
        let done_here = node.mine.is_empty() || halted;
        match node.told {
            Some(Told::Cancel(_)) if all_gone => break,
            Some(Told::Stop) if all_gone && done_here && node.pending.is_empty() => break,
            _ => {}
        }
        let next = match (halted, node.told) {
            (false, None | Some(Told::Stop)) => node.mine.pop_front(),
            _ => None,
        };
        if let Some(position) = next {
            let chunk = todo[position as usize];
            let result = ChunkResult {
                engine,
                ..straggle(clock, alarm, slow, work(chunk))
            };
            node.computed.0 += result.compute_s;
            node.computed.1 += 1;
            node.hold(&[result], clock.now());
            // Half the node's work is back: rank 0 refills while the rest
            // is computed.
            let queued =
                node.pending.len() + node.mine.len() + node.in_flight.iter().sum::<usize>();
            if hand_in(node.held.len(), queued, clock.now() - node.held_since) {
                node.send_held(up);
            }
            continue;
        }
        node.send_held(up);
        let typical = node.typical();
        let window = pace::window(typical, job.window as usize);
        backoff.set_max_sleep(pace::sleep_cap(typical, window));
        let signalled = || !halted && alarm.caught().is_some();
        let event = poll(
            || match up.try_recv() {
                Some(order) => Some(Heard::Up(order)),
                None => down.try_recv().map(|(p, r)| Heard::Down(p, r)),
            },
            clock,
            &mut backoff,
            None,
            &signalled,
            &mut || {},
        );
        match event {
            Event::Found(Heard::Up(order)) => node.order(order, alarm),
            // Forwarded before the next wait, or after the next own chunk.
            Event::Found(Heard::Down(peer, report)) => node.report(peer, report, up, clock.now()),
            Event::Signal | Event::Timeout => {}
        }
    }
    node.send_held(up);
    up.send(Report::Bye {
        chunks: node.forwarded.0,
        inside: node.forwarded.1,
    });
}

/// What a node dispatcher heard while waiting.
enum Heard {
    Up(Order),
    Down(usize, Report),
}

/// How rank 0 told the dispatcher to end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Told {
    Stop,
    Cancel(Option<i32>),
}

/// A node dispatcher's state.
struct Node {
    /// Positions from rank 0 not handed out yet.
    pending: VecDeque<u64>,
    /// Positions this engine computes itself.
    mine: VecDeque<u64>,
    /// The peers whose engine is targeted.
    working: Vec<bool>,
    in_flight: Vec<usize>,
    /// Each peer's results: chunks and inside total (checked at its Bye).
    sent_back: Vec<(u64, u64)>,
    /// Peers told Stop or Cancel.
    told_down: Vec<bool>,
    gone: Vec<bool>,
    told: Option<Told>,
    held: Vec<ChunkResult>,
    held_since: Duration,
    /// Sent to rank 0: chunks and inside total.
    forwarded: (u64, u64),
    /// Compute time and chunks seen, for the typical chunk.
    computed: (f64, u64),
}

impl Node {
    fn order(&mut self, order: Order, alarm: &impl Alarm) {
        match order {
            Order::Tasks { first, count } => self.pending.extend(first..first + count),
            Order::Stop => {
                if self.told.is_none() {
                    self.told = Some(Told::Stop);
                }
            }
            Order::Cancel(signal) => {
                if let Some(signal) = signal {
                    alarm.relay(signal);
                }
                self.told = Some(Told::Cancel(signal));
            }
        }
    }

    fn report(&mut self, peer: usize, report: Report, up: &mut impl EngineLink, now: Duration) {
        match report {
            Report::Results(results) => {
                self.in_flight[peer] = self.in_flight[peer].saturating_sub(results.len());
                for r in &results {
                    self.sent_back[peer].0 += 1;
                    self.sent_back[peer].1 += r.inside;
                    self.computed.0 += r.compute_s;
                    self.computed.1 += 1;
                }
                self.hold(&results, now);
            }
            Report::Halt(signal) => up.send(Report::Halt(signal)),
            Report::Bye { chunks, inside } => {
                assert_eq!(
                    (chunks, inside),
                    self.sent_back[peer],
                    "node peer {peer}: its chunks and inside total don't match what arrived"
                );
                self.gone[peer] = true;
            }
        }
    }

    fn typical(&self) -> Duration {
        match self.computed {
            (_, 0) => Duration::ZERO,
            (s, n) => Duration::from_secs_f64(s / n as f64),
        }
    }

    fn hold(&mut self, results: &[ChunkResult], now: Duration) {
        if self.held.is_empty() {
            self.held_since = now;
        }
        self.held.extend_from_slice(results);
    }

    fn send_held(&mut self, up: &mut impl EngineLink) {
        if !self.held.is_empty() {
            for r in &self.held {
                self.forwarded.0 += 1;
                self.forwarded.1 += r.inside;
            }
            up.send(Report::Results(std::mem::take(&mut self.held)));
        }
    }

    /// Hands out pending chunks to the peers (and this engine) with room,
    /// and passes an end on to the peers.
    fn tell(
        &mut self,
        down: &mut impl ControllerLink,
        dispatching: bool,
        least: usize,
        computing: bool,
    ) {
        if let Some(Told::Cancel(reason)) = self.told {
            self.pending.clear();
            self.mine.clear();
            for p in 0..self.gone.len() {
                if !self.gone[p] && !self.told_down[p] {
                    down.send(p, Order::Cancel(reason));
                    self.told_down[p] = true;
                }
            }
            return;
        }
        if dispatching {
            // Until results come, --window; then as the controller widens it.
            let window = match self.computed.1 {
                0 => least,
                _ => pace::window(self.typical(), least),
            };
            // Shared out evenly among those with room, this engine too.
            let rooms: Vec<usize> = (0..self.in_flight.len())
                .map(|p| match self.working[p] {
                    true => window.saturating_sub(self.in_flight[p]),
                    false => 0,
                })
                .collect();
            let own_room = match computing {
                true => window.saturating_sub(self.mine.len()),
                false => 0,
            };
            let takers = rooms.iter().filter(|&&r| r > 0).count() + usize::from(own_room > 0);
            let fair = self.pending.len().div_ceil(takers.max(1));
            for (p, &room) in rooms.iter().enumerate() {
                if room == 0 || self.pending.is_empty() {
                    continue;
                }
                let take = room.min(fair).min(self.pending.len());
                let batch: Vec<u64> = self.pending.drain(..take).collect();
                self.in_flight[p] += take;
                // Rank 0 sends runs, so the batch is a few runs at most.
                let mut at = 0;
                while at < batch.len() {
                    let first = batch[at];
                    let mut count = 1;
                    while at + count < batch.len() && batch[at + count] == first + count as u64 {
                        count += 1;
                    }
                    at += count;
                    let count = count as u64;
                    down.send(p, Order::Tasks { first, count });
                }
            }
            let take = own_room.min(self.pending.len());
            self.mine.extend(self.pending.drain(..take));
        }
        if self.told == Some(Told::Stop) && self.pending.is_empty() {
            for p in 0..self.gone.len() {
                if !self.told_down[p] {
                    down.send(p, Order::Stop);
                    self.told_down[p] = true;
                }
            }
        }
    }
}
