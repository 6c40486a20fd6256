//! The seam between the run loops and what carries their messages.
//!
//! The controller, engine and one-rank loops ([`super::controller`],
//! [`super::engine`], [`super::alone`]) are written once against these traits.
//! [`crate::mpi`] implements them over MPI; the unit tests implement them in
//! memory (threads and channels). A simulation can implement them too: a
//! [`Clock`] whose pauses advance simulated time and links that deliver
//! messages when their simulated arrival time has come run the same loops
//! without any real waiting.
//!
//! The protocol, for one session. The controller talks to *peers*: in flat
//! dispatch each peer is one engine; in node dispatch each peer is a node's
//! dispatcher (itself an engine), which relays to the engines of its node
//! with the same protocol.
//! - the controller sends each peer [`Order::Tasks`]: a run of positions in
//!   the session's chunk list, which both ends know (balanced mode's dynamic
//!   and guided schedules; in a fixed split each engine knows its share),
//!   then [`Order::Stop`] ("no more chunks: finish your queue"),
//!   [`Order::Cancel`] ("a signal stops the run, or it has enough: drop your
//!   queue"), or Stop and later Cancel;
//! - a peer sends [`Report::Results`]: one or more computed chunks, each
//!   naming the engine that computed it (several per message when chunks
//!   are short: one message per chunk would cost more than the chunk);
//!   [`Report::Halt`] if it catches a signal itself; and finally one
//!   [`Report::Bye`] with its totals (a node dispatcher's: its node's),
//!   which the controller checks against what arrived.

use super::pace::Pause;
use std::time::Duration;

/// One computed chunk, as an engine reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ChunkResult {
    pub(crate) chunk_id: u64,
    /// The engine that computed it.
    pub(crate) engine: u32,
    pub(crate) inside: u64,
    /// Compute time on the engine (wall clock).
    pub(crate) compute_s: f64,
    /// CPU time the engine's thread got while computing.
    pub(crate) compute_cpu_s: f64,
}

/// Controller to engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Order {
    /// Compute the chunks at positions `first..first + count` of the
    /// session's chunk list (`Job::todo`), after the ones already queued.
    Tasks { first: u64, count: u64 },
    /// No more chunks will come: finish the queue, then say goodbye.
    Stop,
    /// Stop now, leave the queued chunks: the run was stopped by this
    /// signal, or (`None`) it has all it needs (`--precision`).
    Cancel(Option<i32>),
}

/// Engine (or node dispatcher) to controller.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Report {
    /// Computed chunks, oldest first (never empty).
    Results(Vec<ChunkResult>),
    /// "I caught this signal; stop everyone."
    Halt(i32),
    /// "Nothing more from me": the chunks this engine computed and their
    /// inside total.
    Bye { chunks: u64, inside: u64 },
}

/// The controller's end of the links to its peers (ids `0..peers`).
pub(crate) trait ControllerLink {
    fn peers(&self) -> usize;
    /// The engines a peer stands for: itself (flat dispatch), or every
    /// engine of its node, itself included (node dispatch).
    fn engines_behind(&self, peer: usize) -> &[u32];
    fn send(&mut self, peer: usize, order: Order);
    /// A report that has arrived, with its peer, without waiting.
    fn try_recv(&mut self) -> Option<(usize, Report)>;
}

/// An engine's end of its link to the controller.
pub(crate) trait EngineLink {
    fn send(&mut self, report: Report);
    /// An order that has arrived, without waiting.
    fn try_recv(&mut self) -> Option<Order>;
}

/// Time as a loop sees it.
pub(crate) trait Clock {
    /// Time since the clock's origin: for the controller, the start of the
    /// parallel section, which its times count from.
    fn now(&self) -> Duration;
    /// CPU time this rank's process has used (the controller's own cost).
    fn cpu(&self) -> Duration;
    /// Waits as `pause` says before the next poll.
    fn pause(&mut self, pause: Pause);
}

/// The stopping signals (SIGHUP, SIGINT, SIGTERM, SIGUSR1) as one rank sees
/// them.
pub(crate) trait Alarm {
    /// The first stopping signal this rank caught or was relayed, if any.
    fn caught(&self) -> Option<i32>;
    /// Records `signal` as if this rank had caught it (a relay from another).
    fn relay(&self, signal: i32);
    /// A second stopping signal reached this rank itself (relays do not
    /// count): stop at once, without the chunks being computed.
    fn repeated(&self) -> bool;
}
