//! The run loops' messages over MPI point-to-point: one tag per kind of
//! message, each a few `u64` words (a derived MPI datatype would never be
//! freed: MPICH warns at exit). Receives are non-blocking: a probe, then the
//! matched receive of what it found.

use crate::run::transport::{ChunkResult, ControllerLink, EngineLink, Order, Report};
use mpi::point_to_point::{Message, Status};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use mpi::Tag;

/// Controller to engine: a chunk id to compute, or [`STOP`].
const TAG_TASK: Tag = 1;
/// Engine to controller: a [`ChunkResult`] as [`RESULT_WORDS`] words.
const TAG_RESULT: Tag = 2;
/// Engine to controller: a signal it caught.
const TAG_HALT: Tag = 3;
/// Controller to engine: cancel, with the signal (0: none, the run has enough).
const TAG_CANCEL: Tag = 4;
/// Engine to controller: its chunk count and inside total.
const TAG_BYE: Tag = 5;
/// The task word that means [`Order::Stop`].
const STOP: u64 = u64::MAX;
const RESULT_WORDS: usize = 4;

fn result_to_words(r: &ChunkResult) -> [u64; RESULT_WORDS] {
    [
        r.chunk_id,
        r.inside,
        r.compute_s.to_bits(),
        r.compute_cpu_s.to_bits(),
    ]
}

fn result_from_words(w: &[u64; RESULT_WORDS]) -> ChunkResult {
    ChunkResult {
        chunk_id: w[0],
        inside: w[1],
        compute_s: f64::from_bits(w[2]),
        compute_cpu_s: f64::from_bits(w[3]),
    }
}

/// Rank 0's end: engine `e` is rank `e + 1`.
pub(crate) struct MpiController<'w> {
    world: &'w SimpleCommunicator,
}

impl<'w> MpiController<'w> {
    pub(crate) fn new(world: &'w SimpleCommunicator) -> Self {
        MpiController { world }
    }
}

impl ControllerLink for MpiController<'_> {
    fn engines(&self) -> usize {
        self.world.size() as usize - 1
    }

    fn send(&mut self, engine: usize, order: Order) {
        let to = self.world.process_at_rank(engine as i32 + 1);
        match order {
            Order::Task(chunk) => to.send_with_tag(&chunk, TAG_TASK),
            Order::Stop => to.send_with_tag(&STOP, TAG_TASK),
            Order::Cancel(signal) => to.send_with_tag(&(signal.unwrap_or(0) as u64), TAG_CANCEL),
        }
    }

    fn try_recv(&mut self) -> Option<(usize, Report)> {
        let (message, status) = self.world.any_process().immediate_matched_probe()?;
        let engine = status.source_rank() as usize - 1;
        Some((engine, report(message, &status)))
    }
}

fn report(message: Message, status: &Status) -> Report {
    match status.tag() {
        TAG_RESULT => {
            let mut words = [0u64; RESULT_WORDS];
            message.matched_receive_into(&mut words[..]);
            Report::Result(result_from_words(&words))
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

/// An engine's end: the controller is rank 0.
pub(crate) struct MpiEngine<'w> {
    root: Process<'w>,
}

impl<'w> MpiEngine<'w> {
    pub(crate) fn new(world: &'w SimpleCommunicator) -> Self {
        MpiEngine {
            root: world.process_at_rank(0),
        }
    }
}

impl EngineLink for MpiEngine<'_> {
    fn send(&mut self, report: Report) {
        match report {
            Report::Result(r) => self
                .root
                .send_with_tag(&result_to_words(&r)[..], TAG_RESULT),
            Report::Halt(signal) => self.root.send_with_tag(&(signal as u64), TAG_HALT),
            Report::Bye { chunks, inside } => {
                self.root.send_with_tag(&[chunks, inside][..], TAG_BYE)
            }
        }
    }

    fn try_recv(&mut self) -> Option<Order> {
        let (message, status) = self.root.immediate_matched_probe()?;
        let (word, _) = message.matched_receive::<u64>();
        Some(match (status.tag(), word) {
            (TAG_TASK, STOP) => Order::Stop,
            (TAG_TASK, chunk) => Order::Task(chunk),
            (TAG_CANCEL, 0) => Order::Cancel(None),
            (TAG_CANCEL, signal) => Order::Cancel(Some(signal as i32)),
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
            inside: 123,
            compute_s: 0.25,
            compute_cpu_s: 0.125,
        };
        assert_eq!(result_from_words(&result_to_words(&r)), r);
    }
}
