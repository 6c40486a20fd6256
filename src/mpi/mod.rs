//! MPI, and only MPI: every MPI call of mcpi is in this module. It knows
//! nothing of chunks or schedules: it initialises MPI, broadcasts rank 0's
//! decisions, gathers bytes, synchronises, aborts, and carries the run loops'
//! messages ([`transport`]).
//!
//! Every wait tests its request, paced by [`Backoff`], instead of blocking:
//! MPICH busy-polls inside blocking calls, and a rank that waits would steal
//! a core from one that computes.

pub(crate) mod transport;

use crate::run::pace::{self, Backoff};
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::request::{Request, Scope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Count, Rank};
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ROOT: i32 = 0;

/// How long `MPI_Finalize` may take once the ranks have agreed on the exit
/// status. MPICH 4.0.2 over UCX's TCP transport (`UCX_TLS=tcp`) can spin in
/// it forever after a thousand messages or so (openucx/ucx#8738); by then the
/// results are written and every rank knows the status, so nothing is lost
/// by leaving without it.
const FINALIZE_BOUND: Duration = Duration::from_secs(5);

/// An initialised MPI world.
pub(crate) struct World {
    world: SimpleCommunicator,
    // Finalises MPI when dropped, after `world`.
    _universe: Universe,
}

impl World {
    /// `MPI_Init`; `None` if MPI was already initialised.
    pub(crate) fn init() -> Option<World> {
        let universe = mpi::initialize()?;
        Some(World {
            world: universe.world(),
            _universe: universe,
        })
    }

    pub(crate) fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub(crate) fn size(&self) -> usize {
        self.world.size() as usize
    }

    pub(crate) fn is_root(&self) -> bool {
        self.world.rank() == ROOT
    }

    /// `MPI_Get_library_version`, first line, whitespace collapsed.
    pub(crate) fn library_version() -> String {
        let full = mpi::environment::library_version().unwrap_or_default();
        let first = c_string(&full).lines().next().unwrap_or("");
        first.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// `MPI_Get_processor_name`.
    pub(crate) fn processor_name() -> String {
        c_string(&mpi::environment::processor_name().unwrap_or_default()).to_string()
    }

    /// Rank 0 decides, every rank learns the decision: rank 0 passes
    /// `Some(bytes)`, the others `None`; all get rank 0's bytes back.
    pub(crate) fn agree(&self, decision: Option<Vec<u8>>) -> Vec<u8> {
        let root = self.world.process_at_rank(ROOT);
        let mut len = decision.as_ref().map_or(0, |d| d.len() as u64);
        mpi::request::scope(|scope| wait(root.immediate_broadcast_into(scope, &mut len)));
        let mut bytes = decision.unwrap_or_else(|| vec![0; len as usize]);
        mpi::request::scope(|scope| wait(root.immediate_broadcast_into(scope, &mut bytes[..])));
        bytes
    }

    /// Returns once every rank has arrived.
    pub(crate) fn barrier(&self) {
        wait(self.world.immediate_barrier());
    }

    /// The start of the parallel section: returns once every rank has
    /// arrived, on every rank within microseconds of the others. A rank that
    /// waited long (for rank 0's preparations) sleeps up to half a
    /// millisecond between polls and would start that late; so a second
    /// barrier follows, which everyone reaches within one such sleep and
    /// which is polled every 20 µs.
    pub(crate) fn start_line(&self) {
        wait(self.world.immediate_barrier());
        let (quick, _) = pace::SLEEP_CAP_RANGE;
        let mut backoff = Backoff::for_waiting();
        backoff.set_max_sleep(quick);
        wait_with(self.world.immediate_barrier(), backoff);
    }

    /// Gathers every rank's bytes on rank 0 (in rank order); `None` elsewhere.
    pub(crate) fn gather_bytes(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
        let root = self.world.process_at_rank(ROOT);
        let len = mine.len() as Count;
        if !self.is_root() {
            mpi::request::scope(|scope| wait(root.immediate_gather_into(scope, &len)));
            mpi::request::scope(|scope| wait(root.immediate_gather_varcount_into(scope, mine)));
            return None;
        }
        let mut lens = vec![0 as Count; self.size()];
        mpi::request::scope(|scope| {
            wait(root.immediate_gather_into_root(scope, &len, &mut lens[..]))
        });
        let displs = offsets(&lens);
        let mut all = vec![0u8; lens.iter().sum::<Count>() as usize];
        {
            let mut partition = PartitionMut::new(&mut all[..], &lens[..], &displs[..]);
            mpi::request::scope(|scope| {
                wait(root.immediate_gather_varcount_into_root(scope, mine, &mut partition))
            });
        }
        let parts = lens
            .iter()
            .zip(&displs)
            .map(|(&n, &at)| all[at as usize..(at + n) as usize].to_vec())
            .collect();
        Some(parts)
    }

    /// Which ranks share a node (`MPI_Comm_split_type` shared), found
    /// together by every rank: a collective.
    pub(crate) fn nodes(&self) -> Nodes {
        let node = self.world.split_shared(self.world.rank());
        let me = self.world.rank();
        let mut members = vec![0 as Rank; node.size() as usize];
        mpi::request::scope(|scope| {
            wait(node.immediate_all_gather_into(scope, &me, &mut members[..]))
        });
        // A node is known by its lowest rank; the split ranks by world rank.
        let key = members[0];
        let mut keys = vec![0 as Rank; self.size()];
        mpi::request::scope(|scope| {
            wait(
                self.world
                    .immediate_all_gather_into(scope, &key, &mut keys[..]),
            )
        });
        Nodes {
            node,
            members,
            keys,
        }
    }

    /// This rank's links for the session: rank 0's to its peers, an
    /// engine's to its controller, or a node dispatcher's both ways. With
    /// `node`, each node's lowest rank but rank 0 dispatches to the others.
    pub(crate) fn links<'w>(&'w self, nodes: &'w Nodes, node: bool) -> Links<'w> {
        let rank = self.world.rank();
        let engine = |r: Rank| r as u32 - 1;
        if !node {
            return match rank {
                ROOT => {
                    let peers = (1..self.world.size())
                        .map(|r| (r, vec![engine(r)]))
                        .collect();
                    Links::Controller(transport::MpiController::new(&self.world, peers))
                }
                _ => Links::Engine(transport::MpiEngine::new(&self.world, ROOT)),
            };
        }
        let on_node = |key: Rank| -> Vec<Rank> {
            (1..self.world.size())
                .filter(|&r| nodes.keys[r as usize] == key)
                .collect()
        };
        if rank == ROOT {
            let mut keys = nodes.keys[1..].to_vec();
            keys.sort_unstable();
            keys.dedup();
            let peers = keys
                .into_iter()
                .map(|k| {
                    let ranks = on_node(k);
                    (ranks[0], ranks.iter().map(|&r| engine(r)).collect())
                })
                .collect();
            return Links::Controller(transport::MpiController::new(&self.world, peers));
        }
        let ranks = on_node(nodes.keys[rank as usize]);
        // Node-communicator ranks follow world ranks.
        let node_rank = |r: Rank| {
            let at = nodes.members.iter().position(|&m| m == r);
            at.expect("a rank of this node") as Rank
        };
        if ranks[0] == rank {
            let down = ranks[1..]
                .iter()
                .map(|&r| (node_rank(r), vec![engine(r)]))
                .collect();
            Links::Relay(
                transport::MpiEngine::new(&self.world, ROOT),
                transport::MpiController::new(&nodes.node, down),
            )
        } else {
            Links::Engine(transport::MpiEngine::new(&nodes.node, node_rank(ranks[0])))
        }
    }

    /// Finalises MPI and returns `status`, the exit status every rank has
    /// agreed on. A finalize that has not returned within [`FINALIZE_BOUND`]
    /// ends the process with `status` (`_exit`: nothing of MPI's runs
    /// after), rank 0 saying so in one line on stderr; another rank leaves
    /// quietly, the same way.
    ///
    /// The ranks leave together, at the first whole second of the wall clock
    /// after the bound ([`leave_at`]): a launcher that sees one rank leave
    /// without finalizing kills the others (MPICH's hydra does, and then
    /// reports 9), so ranks that left a few milliseconds apart would turn a
    /// finished run into a failed one.
    pub(crate) fn finish(self, status: i32) -> i32 {
        let root = self.is_root();
        let (done, finalized) = mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if finalized.recv_timeout(leave_at(SystemTime::now())).is_ok() {
                return;
            }
            let _ = std::io::stdout().flush();
            if root {
                let why = if status == 0 {
                    "results are safe"
                } else {
                    "already reported"
                };
                eprintln!(
                    "mcpi: MPI_Finalize did not return in {} s; exiting with status {status} ({why})",
                    FINALIZE_BOUND.as_secs()
                );
            }
            // SAFETY: _exit ends the process at once; no state is shared.
            unsafe { libc::_exit(status) }
        });
        drop(self);
        let _ = done.send(());
        let _ = watchdog.join();
        status
    }

    /// Ends every rank's MPI at once with `code`: for when engines are still
    /// computing and a clean shutdown would wait for them.
    pub(crate) fn abort(&self, code: i32) -> ! {
        Self::abort_from_anywhere(code)
    }

    /// [`World::abort`] from where no `World` is at hand (a panic hook).
    /// Call only once MPI is initialised.
    ///
    /// The launcher forwards the ranks' output and stops once the abort has
    /// killed them: the line that says why would be lost (seen with MPICH:
    /// a panic's line missing from stderr), so the abort waits for it first.
    pub(crate) fn abort_from_anywhere(code: i32) -> ! {
        std::thread::sleep(std::time::Duration::from_millis(200));
        SimpleCommunicator::world().abort(code)
    }
}

/// How long to wait from `now` for `MPI_Finalize`: [`FINALIZE_BOUND`], then
/// on to the next whole second since the epoch, the moment every rank
/// computes alike (to within the ranks' clock offsets) from entries a few
/// milliseconds apart.
fn leave_at(now: SystemTime) -> Duration {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default() + FINALIZE_BOUND;
    let rest = Duration::from_secs(1) - Duration::from_nanos(u64::from(since.subsec_nanos()));
    FINALIZE_BOUND + rest
}

/// Which ranks share a node, as every rank learned it.
pub(crate) struct Nodes {
    /// This rank's node.
    node: SimpleCommunicator,
    /// World ranks on this node, by node rank.
    members: Vec<Rank>,
    /// Each world rank's node, known by its lowest world rank.
    keys: Vec<Rank>,
}

impl Nodes {
    /// How many nodes the ranks span.
    pub(crate) fn count(&self) -> usize {
        let mut keys = self.keys.clone();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }
}

/// A rank's links for a session.
pub(crate) enum Links<'w> {
    /// Rank 0's, to its peers.
    Controller(transport::MpiController<'w>),
    /// An engine's, to rank 0 or its node's dispatcher.
    Engine(transport::MpiEngine<'w>),
    /// A node dispatcher's: up to rank 0, down to its node's engines.
    Relay(transport::MpiEngine<'w>, transport::MpiController<'w>),
}

/// The text before the first NUL: Open MPI's version string carries its
/// terminator, which HDF5 refuses in a string.
fn c_string(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}

/// Exclusive prefix sums: the displacements of a varcount gather.
fn offsets(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |at, &n| {
            let here = *at;
            *at += n;
            Some(here)
        })
        .collect()
}

/// Completes a request by testing it with backoff instead of `MPI_Wait`.
fn wait<'a, D: ?Sized, S: Scope<'a>>(request: Request<'a, D, S>) {
    wait_with(request, Backoff::for_waiting());
}

/// Waits for `request`, polling as `backoff` says.
fn wait_with<'a, D: ?Sized, S: Scope<'a>>(mut request: Request<'a, D, S>, mut backoff: Backoff) {
    loop {
        match request.test() {
            Ok(_) => return,
            Err(pending) => {
                request = pending;
                pace::wait(backoff.pause());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_end_at_the_first_nul() {
        assert_eq!(c_string("Open MPI v4.1.4\0"), "Open MPI v4.1.4");
        assert_eq!(c_string("MPICH"), "MPICH");
    }

    #[test]
    fn ranks_entering_finalize_apart_leave_at_the_same_whole_second() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        for (entered, waits) in [
            (1_000, 6_000),
            (1_001, 5_999),
            (1_999, 5_001),
            (7_250, 5_750),
        ] {
            assert_eq!(
                leave_at(at(entered)),
                Duration::from_millis(waits),
                "{entered}"
            );
        }
    }

    #[test]
    fn offsets_are_exclusive_prefix_sums() {
        assert_eq!(offsets(&[0, 3, 1, 4]), [0, 0, 3, 4]);
    }
}
