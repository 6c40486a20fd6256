//! The MPI layer: every MPI call of mcpi is in this module.
//!
//! Rank 0 is the controller; ranks `1..N` are engines `0..N-1`. With a single
//! rank, rank 0 is controller and only engine at once and runs every chunk
//! itself (the serial baseline). Every wait, on the controller and on idle
//! engines, polls with `MPI_Test`/`MPI_Iprobe` paced by
//! [`Backoff`](crate::schedule::Backoff): MPICH busy-polls inside blocking
//! calls, and a spinning controller would steal an engine's core.

use crate::cli::{Job, Mode};
use crate::clock::{process_cpu_time, thread_cpu_time};
use crate::kernel::Kernel;
use crate::record::ChunkRow;
use crate::schedule::{self, Backoff, Dispatcher};
use crate::signals;
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
/// Controller to engine: a chunk id to compute, or [`STOP`].
const TAG_TASK: Tag = 1;
/// Engine to controller: a [`ChunkResult`].
const TAG_RESULT: Tag = 2;
/// Engine to controller: "I caught this signal; stop everyone".
const TAG_HALT: Tag = 3;
/// Controller to engine: "stop now, leave the queued chunks", with the signal.
const TAG_CANCEL: Tag = 4;
/// Engine to controller: "nothing more from me": its chunk count and inside
/// total, checked against what arrived.
const TAG_BYE: Tag = 5;
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
}

/// Words of a [`ChunkResult`] on the wire. Results travel as plain `u64`
/// words: a derived MPI datatype would never be freed (MPICH warns at exit).
const WORDS: usize = 4;

impl ChunkResult {
    fn to_words(self) -> [u64; WORDS] {
        [
            self.chunk_id,
            self.inside,
            self.compute_s.to_bits(),
            self.compute_cpu_s.to_bits(),
        ]
    }

    fn from_words(w: &[u64; WORDS]) -> ChunkResult {
        ChunkResult {
            chunk_id: w[0],
            inside: w[1],
            compute_s: f64::from_bits(w[2]),
            compute_cpu_s: f64::from_bits(w[3]),
        }
    }
}

/// How a session ended, on the controller.
#[derive(Debug)]
pub struct Outcome {
    /// Controller wall time of the parallel section (up to the last result,
    /// or to the end of the wind-down after a signal).
    pub elapsed: Duration,
    /// Controller process CPU time over the same section.
    pub controller_cpu: Duration,
    /// The signal that stopped the session before its last chunk, if any.
    pub signal: Option<i32>,
    /// Engines still computing when the grace time ran out: their chunks in
    /// flight are lost and MPI cannot be shut down cleanly.
    pub stranded: Vec<u32>,
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

    /// Runs one session: computes the chunks `todo` (ascending) in `job.mode`
    /// and calls `on_news` on rank 0 with each result as it arrives, and with
    /// [`News::Waiting`] whenever rank 0 waits (at least every millisecond
    /// or so; never while a lone rank computes). Returns on rank 0 only.
    ///
    /// Every rank watches for [`signals`]: the first one caught anywhere stops
    /// the dispatching, the chunks being computed are still collected (for up
    /// to `grace`), queued ones are dropped, and the session ends early.
    ///
    /// In direct mode every targeted engine takes a fixed contiguous share of
    /// `todo`; in balanced mode the controller hands chunks to whichever
    /// engine has room in its window. Either way results stream to rank 0 as
    /// they are computed, so a checkpoint can hold them.
    pub fn run(
        &self,
        job: &Job,
        kernel: Kernel,
        todo: &[u64],
        grace: Duration,
        on_news: &mut dyn FnMut(News),
    ) -> Option<Outcome> {
        if self.size() == 1 {
            Some(run_alone(job, kernel, todo, on_news))
        } else if self.is_root() {
            Some(self.control(job, todo, grace, on_news))
        } else {
            self.serve(job, kernel, todo);
            None
        }
    }

    /// The controller's side: dispatch (balanced mode), collect results,
    /// relay signals, and wait until every engine has said goodbye.
    fn control(
        &self,
        job: &Job,
        todo: &[u64],
        grace: Duration,
        on_news: &mut dyn FnMut(News),
    ) -> Outcome {
        let start = Instant::now();
        let cpu = process_cpu_time();
        let engines = self.engines();
        let targeted: Vec<usize> = job.targets.iter().map(|&t| t as usize).collect();
        let send = |engine: usize, tag: Tag, word: u64| {
            self.world
                .process_at_rank(engine as i32 + 1)
                .send_with_tag(&word, tag);
        };
        // Each engine gets exactly one STOP or CANCEL, then says goodbye.
        let mut told = vec![false; engines];
        let mut gone = vec![false; engines];
        let mut dispatch_s = vec![0.0; job.chunks as usize];
        let mut dispatcher = match job.mode {
            Mode::Direct => None,
            Mode::Balanced => {
                for idle in (0..engines).filter(|e| !targeted.contains(e)) {
                    send(idle, TAG_TASK, STOP);
                    told[idle] = true;
                }
                let mut d = Dispatcher::new(todo.len() as u64, engines, job.window as usize);
                for (engine, index) in d.start(&targeted) {
                    let chunk = todo[index as usize];
                    dispatch_s[chunk as usize] = start.elapsed().as_secs_f64();
                    send(engine, TAG_TASK, chunk);
                }
                Some(d)
            }
        };
        let mut received = 0;
        let mut sent_back = vec![(0u64, 0u64); engines];
        let mut end = (todo.is_empty()).then(|| start.elapsed());
        let mut signal: Option<i32> = None;
        let mut deadline = None;
        let mut backoff = Backoff::for_waiting();
        let mut computed = Duration::ZERO;
        let any = self.world.any_process();
        while gone.iter().any(|g| !g) {
            // Tells every engine not yet told, once.
            let mut tell_the_rest = |tag: Tag, word: u64| {
                for (engine, told) in told.iter_mut().enumerate() {
                    if !std::mem::replace(told, true) {
                        send(engine, tag, word);
                    }
                }
            };
            if end.is_some() && signal.is_none() {
                tell_the_rest(TAG_TASK, STOP);
            }
            if signal.is_none() {
                if let Some(s) = signals::caught() {
                    signal = Some(s);
                    deadline = Some(Instant::now() + grace);
                    tell_the_rest(TAG_CANCEL, s as u64);
                }
            }
            let probe = || any.immediate_matched_probe();
            let idle = &mut || on_news(News::Waiting);
            let watch = signal.is_none();
            let (message, status) = match poll_events(&mut backoff, deadline, watch, probe, idle) {
                Event::Found(found) => found,
                Event::Signal => continue,
                Event::Timeout => break,
            };
            let engine = status.source_rank() as usize - 1;
            match status.tag() {
                TAG_RESULT => {
                    let mut words = [0u64; WORDS];
                    message.matched_receive_into(&mut words[..]);
                    let result = ChunkResult::from_words(&words);
                    let done_s = start.elapsed().as_secs_f64();
                    if let Some(d) = dispatcher.as_mut() {
                        let next = d.finished(engine);
                        if let (Some(index), None) = (next, signal) {
                            let chunk = todo[index as usize];
                            dispatch_s[chunk as usize] = start.elapsed().as_secs_f64();
                            send(engine, TAG_TASK, chunk);
                        }
                    }
                    computed += Duration::from_secs_f64(result.compute_s);
                    received += 1;
                    let typical = computed / received as u32;
                    backoff.set_max_sleep(schedule::sleep_cap(typical, job.window as usize));
                    sent_back[engine].0 += 1;
                    sent_back[engine].1 += result.inside;
                    let chunk = result.chunk_id as usize;
                    let row = row(job, &result, engine as u32, dispatch_s[chunk], done_s);
                    on_news(News::Chunk(row));
                    if received == todo.len() {
                        end = Some(start.elapsed());
                    }
                }
                TAG_HALT => {
                    let (s, _) = message.matched_receive::<u64>();
                    signals::relay(s as i32);
                }
                TAG_BYE => {
                    let mut words = [0u64; 2];
                    message.matched_receive_into(&mut words[..]);
                    assert_eq!(
                        (words[0], words[1]),
                        sent_back[engine],
                        "engine {engine}: its chunks and inside total don't match what arrived"
                    );
                    gone[engine] = true;
                }
                tag => unreachable!("unexpected message tag {tag} from engine {engine}"),
            }
        }
        let elapsed = match (signal, end) {
            (None, Some(end)) => end,
            _ => start.elapsed(),
        };
        Outcome {
            elapsed,
            controller_cpu: process_cpu_time().saturating_sub(cpu),
            signal: signal.filter(|_| received < todo.len()),
            stranded: (0..engines)
                .filter(|&e| !gone[e])
                .map(|e| e as u32)
                .collect(),
        }
    }

    /// An engine's side: compute queued chunks in order and report each;
    /// the queue is this engine's share of `todo` in direct mode and filled
    /// by the controller in balanced mode. Ends on STOP (once the queue is
    /// empty) or CANCEL, with a goodbye.
    fn serve(&self, job: &Job, kernel: Kernel, todo: &[u64]) {
        let root = self.world.process_at_rank(ROOT);
        let mut inbox = Inbox::default();
        if job.mode == Mode::Direct {
            let engine = self.engine_of_rank(self.rank());
            if let Some(index) = job.targets.iter().position(|&t| Some(t) == engine) {
                let workers = job.targets.len() as u64;
                let share = crate::plan::part_range(todo.len() as u64, workers, index as u64);
                inbox
                    .queue
                    .extend(&todo[share.start as usize..share.end as usize]);
            }
        }
        // The first tasks are sent right after the start barrier.
        let mut backoff = Backoff::for_waiting();
        backoff.set_max_sleep(schedule::SLEEP_CAP_RANGE.0);
        let mut halted = false;
        let mut sent = (0u64, 0u64);
        loop {
            // Collect whatever has arrived without waiting for more.
            while let Some((message, status)) = root.immediate_matched_probe() {
                inbox.take(message, status.tag());
            }
            match inbox.told {
                Some(Told::Cancel) => break,
                Some(Told::Stop) if inbox.queue.is_empty() || halted => break,
                _ => {}
            }
            if !halted {
                if let Some(s) = signals::caught() {
                    root.send_with_tag(&(s as u64), TAG_HALT);
                    halted = true;
                }
            }
            let next = if halted {
                None
            } else {
                inbox.queue.pop_front()
            };
            if let Some(chunk) = next {
                let result = compute(job, kernel, chunk);
                root.send_with_tag(&result.to_words()[..], TAG_RESULT);
                sent.0 += 1;
                sent.1 += result.inside;
                // The next task is about one controller round trip away:
                // don't sleep through a good part of a chunk waiting for it.
                let chunk_time = Duration::from_secs_f64(result.compute_s);
                backoff.set_max_sleep(schedule::sleep_cap(chunk_time, 1));
            } else {
                let probe = || root.immediate_matched_probe();
                if let Event::Found((message, status)) =
                    poll_events(&mut backoff, None, !halted, probe, &mut || {})
                {
                    inbox.take(message, status.tag());
                }
            }
        }
        root.send_with_tag(&[sent.0, sent.1][..], TAG_BYE);
    }

    /// Ends every rank's MPI at once with `code`: for when engines are still
    /// computing and a clean shutdown would wait for them.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// What rank 0 hears during a session.
#[derive(Clone, Copy, Debug)]
pub enum News {
    /// A chunk's result.
    Chunk(ChunkRow),
    /// Nothing yet: rank 0 is about to pause before polling again.
    Waiting,
}

/// How the controller told an engine to end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Told {
    /// No more chunks will come; finish the queue.
    Stop,
    /// Leave the queue: a signal stops the run.
    Cancel,
}

/// An engine's received but not yet computed chunks.
#[derive(Default)]
struct Inbox {
    queue: VecDeque<u64>,
    told: Option<Told>,
}

impl Inbox {
    fn take(&mut self, message: Message, tag: Tag) {
        let (word, _) = message.matched_receive::<u64>();
        match (tag, word) {
            (TAG_TASK, STOP) => self.told = Some(Told::Stop),
            (TAG_TASK, chunk) => self.queue.push_back(chunk),
            (TAG_CANCEL, signal) => {
                signals::relay(signal as i32);
                self.told = Some(Told::Cancel);
            }
            (tag, _) => unreachable!("unexpected message tag {tag} from the controller"),
        }
    }
}

/// One rank alone: it computes every chunk in order, checking for signals
/// between chunks.
fn run_alone(job: &Job, kernel: Kernel, todo: &[u64], on_news: &mut dyn FnMut(News)) -> Outcome {
    let start = Instant::now();
    let cpu = process_cpu_time();
    let mut signal = None;
    for &chunk in todo {
        if let Some(s) = signals::caught() {
            signal = Some(s);
            break;
        }
        let dispatch_s = start.elapsed().as_secs_f64();
        let r = compute(job, kernel, chunk);
        on_news(News::Chunk(row(
            job,
            &r,
            0,
            dispatch_s,
            start.elapsed().as_secs_f64(),
        )));
    }
    Outcome {
        elapsed: start.elapsed(),
        controller_cpu: process_cpu_time().saturating_sub(cpu),
        signal,
        stranded: Vec::new(),
    }
}

/// The text before the first NUL: Open MPI's version string carries its
/// terminator, which HDF5 refuses in a string.
fn c_string(s: &str) -> &str {
    s.split('\0').next().unwrap_or("")
}

fn compute(job: &Job, kernel: Kernel, chunk: u64) -> ChunkResult {
    let (began, cpu) = (Instant::now(), thread_cpu_time());
    let inside = kernel.count_inside(job.seed, chunk, job.plan().chunk_len(chunk));
    let compute_s = began.elapsed().as_secs_f64();
    let compute_cpu_s = thread_cpu_time().saturating_sub(cpu).as_secs_f64();
    ChunkResult {
        chunk_id: chunk,
        inside,
        compute_s,
        compute_cpu_s,
    }
}

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

/// What a wait ended with.
enum Event<T> {
    Found(T),
    /// A stopping signal was caught (only when watching for them).
    Signal,
    /// The deadline passed.
    Timeout,
}

/// Polls `probe`, pausing as `backoff` says (and calling `idle` before each
/// pause), until it yields (then resets `backoff`: more messages tend to
/// follow), `deadline` passes, or, if `watch_signals`, a stopping signal is
/// caught.
fn poll_events<T>(
    backoff: &mut Backoff,
    deadline: Option<Instant>,
    watch_signals: bool,
    mut probe: impl FnMut() -> Option<T>,
    idle: &mut dyn FnMut(),
) -> Event<T> {
    loop {
        if let Some(found) = probe() {
            backoff.reset();
            return Event::Found(found);
        }
        if watch_signals && signals::caught().is_some() {
            return Event::Signal;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Event::Timeout;
        }
        idle();
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
