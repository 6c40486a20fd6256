//! The MPI layer: every MPI call of mcpi is in this module.
//!
//! Rank 0 is the controller; ranks `1..N` are engines `0..N-1`. With a single
//! rank, rank 0 is controller and only engine at once and runs every chunk
//! itself (the serial baseline). Every wait, on the controller and on idle
//! engines, polls with `MPI_Test`/`MPI_Iprobe` paced by
//! [`Backoff`](crate::schedule::Backoff): MPICH busy-polls inside blocking
//! calls, and a spinning controller would steal an engine's core.

use crate::cli::Job;
use crate::clock::{process_cpu_time, thread_cpu_time};
use crate::kernel::Kernel;
use crate::record::ChunkRow;
use crate::schedule::{self, Backoff, Dispatcher};
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::point_to_point::Message;
use mpi::request::{Request, Scope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::{Count, Tag};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const ROOT: i32 = 0;
const TAG_TASK: Tag = 1;
const TAG_RESULT: Tag = 2;
/// Task message telling an engine that no more chunks will come.
const STOP: u64 = u64::MAX;

/// One computed chunk, as an engine reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct ChunkResult {
    chunk_id: u64,
    inside: u64,
    /// Compute time on the engine (wall clock).
    compute_s: f64,
    /// CPU time the engine's thread got while computing.
    compute_cpu_s: f64,
    /// Engine clock: seconds since the engine passed the start barrier.
    finished_s: f64,
}

/// Words of a [`ChunkResult`] on the wire. Results travel as plain `u64`
/// words: a derived MPI datatype would never be freed (MPICH warns at exit).
const WORDS: usize = 5;

impl ChunkResult {
    fn to_words(self) -> [u64; WORDS] {
        [
            self.chunk_id,
            self.inside,
            self.compute_s.to_bits(),
            self.compute_cpu_s.to_bits(),
            self.finished_s.to_bits(),
        ]
    }

    fn from_words(w: &[u64]) -> ChunkResult {
        ChunkResult {
            chunk_id: w[0],
            inside: w[1],
            compute_s: f64::from_bits(w[2]),
            compute_cpu_s: f64::from_bits(w[3]),
            finished_s: f64::from_bits(w[4]),
        }
    }
}

/// What the controller holds at the end of the parallel section.
#[derive(Debug)]
pub struct Outcome {
    /// One row per chunk, in chunk order.
    pub chunks: Vec<ChunkRow>,
    /// Controller wall time of the parallel section.
    pub elapsed: Duration,
    /// Controller process CPU time over the same section.
    pub controller_cpu: Duration,
}

/// An initialised MPI world.
pub struct Cluster {
    world: SimpleCommunicator,
    // Finalises MPI when dropped, after `world`.
    _universe: Universe,
}

impl Cluster {
    pub fn init() -> Result<Cluster, String> {
        let universe = mpi::initialize().ok_or("MPI was already initialised")?;
        Ok(Cluster {
            world: universe.world(),
            _universe: universe,
        })
    }

    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub fn size(&self) -> usize {
        self.world.size() as usize
    }

    pub fn is_root(&self) -> bool {
        self.world.rank() == ROOT
    }

    /// Number of engines: every rank but the controller, or rank 0 alone.
    pub fn engines(&self) -> usize {
        (self.size() - 1).max(1)
    }

    /// The engine id of `rank`; `None` for the controller of a multi-rank run.
    pub fn engine_of_rank(&self, rank: usize) -> Option<u32> {
        match (self.size(), rank) {
            (1, _) => Some(0),
            (_, 0) => None,
            (_, r) => Some(r as u32 - 1),
        }
    }

    /// `MPI_Get_library_version`, first line, whitespace collapsed.
    pub fn library_version() -> String {
        let full = mpi::environment::library_version().unwrap_or_default();
        let first = c_string(&full).lines().next().unwrap_or("");
        first.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// `MPI_Get_processor_name`.
    pub fn processor_name() -> String {
        c_string(&mpi::environment::processor_name().unwrap_or_default()).to_string()
    }

    /// Rank 0 decides, every rank learns the decision: rank 0 passes
    /// `Some(bytes)`, the others `None`; all get rank 0's bytes back.
    pub fn agree(&self, decision: Option<Vec<u8>>) -> Vec<u8> {
        let root = self.world.process_at_rank(ROOT);
        let mut len = decision.as_ref().map_or(0, |d| d.len() as u64);
        mpi::request::scope(|scope| wait(root.immediate_broadcast_into(scope, &mut len)));
        let mut bytes = decision.unwrap_or_else(|| vec![0; len as usize]);
        mpi::request::scope(|scope| wait(root.immediate_broadcast_into(scope, &mut bytes[..])));
        bytes
    }

    /// Returns once every rank has arrived: the start of the job.
    pub fn barrier(&self) {
        wait(self.world.immediate_barrier());
    }

    /// Gathers every rank's bytes on rank 0 (in rank order); `None` elsewhere.
    pub fn gather_bytes(&self, mine: &[u8]) -> Option<Vec<Vec<u8>>> {
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

    /// Direct mode: every targeted engine computes its static share, then one
    /// gather brings all chunk results to rank 0. Returns on rank 0 only.
    pub fn run_direct(&self, job: &Job, kernel: Kernel) -> Option<Outcome> {
        let plan = job.plan();
        let workers = job.targets.len() as u64;
        let start = Instant::now();
        let cpu = process_cpu_time();
        // The chunks rank `r` computes.
        let share_of = |rank: usize| -> std::ops::Range<u64> {
            let engine = self.engine_of_rank(rank);
            match job.targets.iter().position(|&t| Some(t) == engine) {
                Some(index) => plan.share(workers, index as u64),
                None => 0..0,
            }
        };
        let mine: Vec<u64> = share_of(self.rank())
            .flat_map(|chunk| compute(job, kernel, chunk, start).to_words())
            .collect();

        let root = self.world.process_at_rank(ROOT);
        if !self.is_root() {
            mpi::request::scope(|scope| {
                wait(root.immediate_gather_varcount_into(scope, &mine[..]))
            });
            return None;
        }
        let counts: Vec<Count> = (0..self.size())
            .map(|r| (share_of(r).count() * WORDS) as Count)
            .collect();
        let displs = offsets(&counts);
        let total: Count = counts.iter().sum();
        assert_eq!(
            total as usize,
            job.chunks as usize * WORDS,
            "the shares cover every chunk"
        );
        let mut words = vec![0u64; job.chunks as usize * WORDS];
        {
            let mut partition = PartitionMut::new(&mut words[..], &counts[..], &displs[..]);
            mpi::request::scope(|scope| {
                wait(root.immediate_gather_varcount_into_root(scope, &mine[..], &mut partition))
            });
        }
        let elapsed = start.elapsed();
        let controller_cpu = process_cpu_time().saturating_sub(cpu);
        let mut chunks = Vec::with_capacity(job.chunks as usize);
        for rank in 0..self.size() {
            let engine_id = if self.size() == 1 {
                0
            } else {
                rank.saturating_sub(1) as u32
            };
            let at = displs[rank] as usize;
            for w in words[at..at + counts[rank] as usize].chunks_exact(WORDS) {
                let r = ChunkResult::from_words(w);
                // The job starts for everyone at the barrier: chunks are
                // "dispatched" at 0 and done at the engine's own clock.
                chunks.push(row(job, &r, engine_id, 0.0, r.finished_s));
            }
        }
        chunks.sort_by_key(|c| c.chunk_id);
        Some(Outcome {
            chunks,
            elapsed,
            controller_cpu,
        })
    }

    /// Balanced mode: rank 0 hands chunks to whichever engine reports back,
    /// keeping `job.window` chunks in flight per targeted engine. Calls
    /// `progress(done)` on rank 0 after each chunk. Returns on rank 0 only.
    pub fn run_balanced(
        &self,
        job: &Job,
        kernel: Kernel,
        progress: &mut dyn FnMut(u64),
    ) -> Option<Outcome> {
        if self.size() == 1 {
            return Some(self.run_alone(job, kernel, progress));
        }
        if self.is_root() {
            Some(self.control(job, progress))
        } else {
            self.serve(job, kernel);
            None
        }
    }

    /// One rank alone: the controller computes every chunk in order.
    fn run_alone(&self, job: &Job, kernel: Kernel, progress: &mut dyn FnMut(u64)) -> Outcome {
        let start = Instant::now();
        let cpu = process_cpu_time();
        let chunks = (0..job.chunks)
            .map(|chunk| {
                let dispatch_s = start.elapsed().as_secs_f64();
                let r = compute(job, kernel, chunk, start);
                progress(chunk + 1);
                row(job, &r, 0, dispatch_s, r.finished_s)
            })
            .collect();
        Outcome {
            chunks,
            elapsed: start.elapsed(),
            controller_cpu: process_cpu_time().saturating_sub(cpu),
        }
    }

    /// The controller's side of balanced mode.
    fn control(&self, job: &Job, progress: &mut dyn FnMut(u64)) -> Outcome {
        let start = Instant::now();
        let cpu = process_cpu_time();
        let engines = self.engines();
        let targeted: Vec<usize> = job.targets.iter().map(|&t| t as usize).collect();
        let send = |engine: usize, task: u64| {
            self.world
                .process_at_rank(engine as i32 + 1)
                .send_with_tag(&task, TAG_TASK);
        };
        for idle in (0..engines).filter(|e| !targeted.contains(e)) {
            send(idle, STOP);
        }
        let mut dispatch_s = vec![0.0; job.chunks as usize];
        let mut dispatcher = Dispatcher::new(job.chunks, engines, job.window as usize);
        for (engine, chunk) in dispatcher.start(&targeted) {
            dispatch_s[chunk as usize] = start.elapsed().as_secs_f64();
            send(engine, chunk);
        }
        let mut rows = vec![None; job.chunks as usize];
        let any = self.world.any_process();
        let mut backoff = Backoff::for_waiting();
        let mut computed = Duration::ZERO;
        while !dispatcher.is_complete() {
            let (message, status) = poll(&mut backoff, || {
                any.immediate_matched_probe_with_tag(TAG_RESULT)
            });
            let mut words = [0u64; WORDS];
            message.matched_receive_into(&mut words[..]);
            let result = ChunkResult::from_words(&words);
            let done_s = start.elapsed().as_secs_f64();
            let engine = status.source_rank() as usize - 1;
            if let Some(next) = dispatcher.finished(engine) {
                dispatch_s[next as usize] = start.elapsed().as_secs_f64();
                send(engine, next);
            }
            computed += Duration::from_secs_f64(result.compute_s);
            let typical = computed / dispatcher.done() as u32;
            backoff.set_max_sleep(schedule::sleep_cap(typical, job.window as usize));
            let chunk = result.chunk_id as usize;
            rows[chunk] = Some(row(job, &result, engine as u32, dispatch_s[chunk], done_s));
            progress(dispatcher.done());
        }
        let elapsed = start.elapsed();
        let controller_cpu = process_cpu_time().saturating_sub(cpu);
        for &engine in &targeted {
            send(engine, STOP);
        }
        let chunks = rows
            .into_iter()
            .map(|r| r.expect("every chunk reported"))
            .collect();
        Outcome {
            chunks,
            elapsed,
            controller_cpu,
        }
    }

    /// An engine's side of balanced mode: compute queued chunks in order,
    /// report each, and wait politely when the queue is empty.
    fn serve(&self, job: &Job, kernel: Kernel) {
        let root = self.world.process_at_rank(ROOT);
        let start = Instant::now();
        let mut inbox = Inbox::default();
        // The first tasks are sent right after the start barrier.
        let mut backoff = Backoff::for_waiting();
        backoff.set_max_sleep(schedule::SLEEP_CAP_RANGE.0);
        loop {
            // Collect whatever has arrived without waiting for more.
            while let Some((message, _)) = root.immediate_matched_probe_with_tag(TAG_TASK) {
                inbox.take(message);
            }
            if let Some(chunk) = inbox.queue.pop_front() {
                let result = compute(job, kernel, chunk, start);
                root.send_with_tag(&result.to_words()[..], TAG_RESULT);
                // The next task is about one controller round trip away:
                // don't sleep through a good part of a chunk waiting for it.
                let chunk_time = Duration::from_secs_f64(result.compute_s);
                backoff.set_max_sleep(schedule::sleep_cap(chunk_time, 1));
            } else if inbox.stopped {
                return;
            } else {
                let probe = || root.immediate_matched_probe_with_tag(TAG_TASK);
                inbox.take(poll(&mut backoff, probe).0);
            }
        }
    }
}

/// An engine's received but not yet computed chunks.
#[derive(Default)]
struct Inbox {
    queue: VecDeque<u64>,
    stopped: bool,
}

impl Inbox {
    fn take(&mut self, message: Message) {
        match message.matched_receive::<u64>().0 {
            STOP => self.stopped = true,
            chunk => self.queue.push_back(chunk),
        }
    }
}

/// The text before the first NUL: Open MPI's version string carries its
/// terminator, which HDF5 refuses in a string.
fn c_string(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}

fn compute(job: &Job, kernel: Kernel, chunk: u64, start: Instant) -> ChunkResult {
    let (began, cpu) = (Instant::now(), thread_cpu_time());
    let inside = kernel.count_inside(job.seed, chunk, job.plan().chunk_len(chunk));
    let compute_s = began.elapsed().as_secs_f64();
    let compute_cpu_s = thread_cpu_time().saturating_sub(cpu).as_secs_f64();
    ChunkResult {
        chunk_id: chunk,
        inside,
        compute_s,
        compute_cpu_s,
        finished_s: start.elapsed().as_secs_f64(),
    }
}

fn row(job: &Job, r: &ChunkResult, engine_id: u32, dispatch_s: f64, done_s: f64) -> ChunkRow {
    ChunkRow {
        chunk_id: r.chunk_id,
        engine_id,
        samples: job.plan().chunk_len(r.chunk_id),
        inside: r.inside,
        dispatch_s,
        done_s,
        compute_s: r.compute_s,
        compute_cpu_s: r.compute_cpu_s,
    }
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
                schedule::wait(backoff.pause());
            }
        }
    }
}

/// Polls `probe`, pausing as `backoff` says, until it yields; then resets
/// `backoff` (more messages tend to follow).
fn poll<T>(backoff: &mut Backoff, mut probe: impl FnMut() -> Option<T>) -> T {
    loop {
        if let Some(found) = probe() {
            backoff.reset();
            return found;
        }
        schedule::wait(backoff.pause());
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
            finished_s: 1e-9,
        };
        assert_eq!(ChunkResult::from_words(&r.to_words()), r);
    }

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
