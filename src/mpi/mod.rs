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
use mpi::Count;

const ROOT: i32 = 0;

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

    /// Rank 0's end of the links to the engines (ranks `1..size`).
    /// (flat dispatch: engine `e` is rank `e + 1`).
    pub(crate) fn controller_link(&self) -> transport::MpiController<'_> {
        let peers = (1..self.world.size())
            .map(|r| (r, vec![r as u32 - 1]))
            .collect();
        transport::MpiController::new(&self.world, peers)
    }

    /// An engine rank's end of its link to rank 0.
    pub(crate) fn engine_link(&self) -> transport::MpiEngine<'_> {
        transport::MpiEngine::new(&self.world, ROOT)
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
fn wait<'a, D: ?Sized, S: Scope<'a>>(mut request: Request<'a, D, S>) {
    let mut backoff = Backoff::for_waiting();
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
    fn offsets_are_exclusive_prefix_sums() {
        assert_eq!(offsets(&[0, 3, 1, 4]), [0, 0, 3, 4]);
    }
}
