//! The run loops' messages over MPI point-to-point: one tag per kind of
//! message, each a few `u64` words (a batch of results: [`RESULT_WORDS`] per
//! result) (a derived MPI datatype would never be
//! freed: MPICH warns at exit). Receives are non-blocking: a probe, then the
//! matched receive of what it found.

use crate::run::transport::{ChunkResult, ControllerLink, EngineLink, Order, Report};
use mpi::point_to_point::{Message, Status};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use mpi::Tag;

/// Controller to engine: `[first, count]` positions to compute, or [`STOP`].
const TAG_TASK: Tag = 1;
/// Engine to controller: [`ChunkResult`]s, [`RESULT_WORDS`] words each.
const TAG_RESULT: Tag = 2;
/// Engine to controller: a signal it caught.
const TAG_HALT: Tag = 3;
/// Controller to engine: cancel, with the signal (0: none, the run has enough).
const TAG_CANCEL: Tag = 4;
/// Engine to controller: its chunk count and inside total.
const TAG_BYE: Tag = 5;
/// The first task word that means [`Order::Stop`].
const STOP: u64 = u64::MAX;
const RESULT_WORDS: usize = 5;

fn results_to_words(results: &[ChunkResult]) -> Vec<u64> {
    results
        .iter()
        .flat_map(|r| {
            [
                r.chunk_id,
                u64::from(r.engine),
                r.inside,
                r.compute_s.to_bits(),
                r.compute_cpu_s.to_bits(),
            ]
        })
        .collect()
}

fn results_from_words(words: &[u64]) -> Vec<ChunkResult> {
    words
        .chunks_exact(RESULT_WORDS)
        .map(|w| ChunkResult {
            chunk_id: w[0],
            engine: w[1] as u32,
            inside: w[2],
            compute_s: f64::from_bits(w[3]),
            compute_cpu_s: f64::from_bits(w[4]),
        })
        .collect()
}

/// A rank's end of its links to its peers: rank 0's to the engines or node
/// dispatchers (over the world), or a node dispatcher's to the other engines
/// of its node (over the node's own communicator, so that what it hears
/// there is never an order from rank 0).
pub(crate) struct MpiController<'w> {
    world: &'w SimpleCommunicator,
    /// Each peer's rank (in `world`) and the engines it stands for.
    peers: Vec<(i32, Vec<u32>)>,
    /// Peer by rank.
    peer_of: Vec<usize>,
}

impl<'w> MpiController<'w> {
    /// Links over `world` to the ranks `peers` (each with the engines it
    /// stands for).
    pub(crate) fn new(world: &'w SimpleCommunicator, peers: Vec<(i32, Vec<u32>)>) -> Self {
        let mut peer_of = vec![usize::MAX; world.size() as usize];
        for (p, (rank, _)) in peers.iter().enumerate() {
            peer_of[*rank as usize] = p;
        }
        MpiController {
            world,
            peers,
            peer_of,
        }
    }
}

/// Probes per look for a report. MPICH over UCX brings at most about one
/// arrived message per probe into view: with a single probe, a controller
/// waking from a sleep took one report and slept again with the others
/// waiting (measured: the 100-chunk default job's reports arrived up to
/// 3.5 ms late, 14 ms instead of 9). A probe that finds nothing costs well
/// under a microsecond; a wake-up, ~12 µs.
const PROBES: usize = 8;

impl ControllerLink for MpiController<'_> {
    fn peers(&self) -> usize {
        self.peers.len()
    }

    fn engines_behind(&self, peer: usize) -> &[u32] {
        &self.peers[peer].1
    }

    fn send(&mut self, peer: usize, order: Order) {
        let to = self.world.process_at_rank(self.peers[peer].0);
        match order {
            Order::Tasks { first, count } => to.send_with_tag(&[first, count][..], TAG_TASK),
            Order::Stop => to.send_with_tag(&[STOP, 0][..], TAG_TASK),
            Order::Cancel(signal) => to.send_with_tag(&(signal.unwrap_or(0) as u64), TAG_CANCEL),
        }
    }

    fn try_recv(&mut self) -> Option<(usize, Report)> {
        let any = self.world.any_process();
        let (message, status) = (0..PROBES).find_map(|_| any.immediate_matched_probe())?;
        let peer = self.peer_of[status.source_rank() as usize];
        Some((peer, report(message, &status)))
    }
}

fn report(message: Message, status: &Status) -> Report {
    match status.tag() {
        TAG_RESULT => {
            let mut words = vec![0u64; status.count(u64::equivalent_datatype()) as usize];
            message.matched_receive_into(&mut words[..]);
            Report::Results(results_from_words(&words))
        }
        TAG_HALT => Report::Halt(message.matched_receive::<u64>().0 as i32),
        TAG_BYE => {
            let mut words = [0u64; 2];
            message.matched_receive_into(&mut words[..]);
            Report::Bye {
                chunks: words[0],
                inside: words[1],
            }
        }
        tag => unreachable!(
            "unexpected message tag {tag} from rank {}",
            status.source_rank()
        ),
    }
}

/// An engine's end: its controller is rank 0 of the world, or its node's
/// dispatcher (over the node's communicator).
pub(crate) struct MpiEngine<'w> {
    root: Process<'w>,
}

impl<'w> MpiEngine<'w> {
    /// The link to rank `controller` of `world`.
    pub(crate) fn new(world: &'w SimpleCommunicator, controller: i32) -> Self {
        MpiEngine {
            root: world.process_at_rank(controller),
        }
    }
}

impl EngineLink for MpiEngine<'_> {
    fn send(&mut self, report: Report) {
        match report {
            Report::Results(r) => self
                .root
                .send_with_tag(&results_to_words(&r)[..], TAG_RESULT),
            Report::Halt(signal) => self.root.send_with_tag(&(signal as u64), TAG_HALT),
            Report::Bye { chunks, inside } => {
                self.root.send_with_tag(&[chunks, inside][..], TAG_BYE)
            }
        }
    }

    fn try_recv(&mut self) -> Option<Order> {
        let (message, status) = self.root.immediate_matched_probe()?;
        let mut words = [0u64; 2];
        message
            .matched_receive_into(&mut words[..status.count(u64::equivalent_datatype()) as usize]);
        Some(match (status.tag(), words) {
            (TAG_TASK, [STOP, _]) => Order::Stop,
            (TAG_TASK, [first, count]) => Order::Tasks { first, count },
            (TAG_CANCEL, [0, _]) => Order::Cancel(None),
            (TAG_CANCEL, [signal, _]) => Order::Cancel(Some(signal as i32)),
            (tag, _) => unreachable!("unexpected message tag {tag} from the controller"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_the_wire_format() {
        let r = ChunkResult {
            chunk_id: 7,
            engine: 3,
            inside: 123,
            compute_s: 0.25,
            compute_cpu_s: 0.125,
        };
        let batch = [r, ChunkResult { chunk_id: 8, ..r }];
        assert_eq!(results_from_words(&results_to_words(&batch)), batch);
    }
}
