//! The checkpoint writer: a thread of rank 0 that saves chunks as they come
//! in, so that the controller never waits on a save.
//!
//! The session hands each chunk row to the writer, which sends them over a
//! channel in batches (a message per row would wake the thread per row: at
//! a million chunks a second that costs more than the rows). The writer takes every
//! row waiting, appends them to the journal as one record and flushes it; the
//! rows that arrive during one save go into the next (group commit). It
//! commits at most every `--checkpoint-every` seconds, `0` meaning as often as
//! the disk allows. Once the journal holds more rows than its base, the
//! writer asks the session for a full record and writes it as the new base,
//! which starts a new journal: each row is written a bounded number of times,
//! so saving costs in proportion to the rows saved.

use super::checkpoint::{write_base, Base};
use super::journal::{Journal, Record};
use super::output::{OutputError, Target};
use super::StoreError;
use crate::record::{ChunkRow, RunRecord};
use crate::sys::clock::process_cpu_time;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When to save and when to write a new base.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// `--checkpoint-every`: the least time between two saves.
    pub(crate) every: Duration,
    /// A journal of at most this many rows is never compacted, whatever its
    /// base: reading it back costs little.
    pub(crate) compact_from: u64,
}

impl Policy {
    pub(crate) fn every(every: Duration) -> Policy {
        Policy {
            every,
            compact_from: 10_000,
        }
    }
}

/// The most rows [`Writer::add`] holds before handing them over.
const HELD_ROWS: usize = 1024;
/// The longest [`Writer::add`] holds a row before handing it over.
const HELD_TIME: Duration = Duration::from_millis(5);

/// How long to wait before trying again after a failed save.
const RETRY: Duration = Duration::from_secs(1);

enum Message {
    /// The session's parallel section started at this instant, with the
    /// process's CPU time at this value: each record carries the session's
    /// times at its save.
    Origin(Instant, Duration),
    Rows(Vec<ChunkRow>),
    /// A full record of the run, holding every row sent before it.
    Base(Box<RunRecord>),
    /// Save everything sent so far, now, and say how it went.
    Flush(Sender<Result<(), StoreError>>),
}

/// The session's end of the writer thread.
pub(crate) struct Writer {
    to: Sender<Message>,
    /// Rows added and not sent to the thread yet, since when.
    held: Vec<ChunkRow>,
    held_since: Instant,
    failures: Receiver<StoreError>,
    wants_base: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// The checkpoint, to name in an error.
    partial: PathBuf,
}

impl Writer {
    /// Starts the writer of `target`'s checkpoint, whose current base is
    /// `base` (`None` if it could not be written: the writer then asks for
    /// one). Its records' times count from its start until [`Writer::origin`]
    /// says when the parallel section started: the thread is started before
    /// it, so that starting it is not part of the parallel section.
    pub(crate) fn start(target: Target, base: Option<Base>, policy: Policy) -> Writer {
        let (to, from) = mpsc::channel();
        let (failed, failures) = mpsc::channel();
        let wants_base = Arc::new(AtomicBool::new(false));
        let partial = target.partial.clone();
        let state = State {
            target,
            policy,
            origin: (Instant::now(), process_cpu_time()),
            base,
            journal: None,
            journaled: 0,
            pending: Vec::new(),
            next_base: None,
            wants_base: Arc::clone(&wants_base),
        };
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || state.run(&from, &failed))
            .expect("a thread for the checkpoint writer");
        Writer {
            to,
            held: Vec::new(),
            held_since: Instant::now(),
            failures,
            wants_base,
            thread,
            partial,
        }
    }

    /// The session's parallel section started at `start`, with the process's
    /// CPU time at `start_cpu`.
    pub(crate) fn origin(&mut self, start: Instant, start_cpu: Duration) {
        let _ = self.to.send(Message::Origin(start, start_cpu));
    }

    /// Saves `row` soon; never waits. Rows are handed to the thread by
    /// [`Writer::send`], or here once [`HELD_ROWS`] are held or the first
    /// has waited [`HELD_TIME`].
    pub(crate) fn add(&mut self, row: ChunkRow) {
        if self.held.is_empty() {
            self.held_since = Instant::now();
        }
        self.held.push(row);
        if self.held.len() >= HELD_ROWS || self.held_since.elapsed() >= HELD_TIME {
            self.send();
        }
    }

    /// Hands the rows added so far to the thread: call it whenever the
    /// caller is about to wait.
    pub(crate) fn send(&mut self) {
        if !self.held.is_empty() {
            // A writer that is gone has reported why (or panicked, which
            // ends the process).
            let _ = self.to.send(Message::Rows(std::mem::take(&mut self.held)));
        }
    }

    /// Whether the writer wants a new base: then the caller sends one with
    /// [`Writer::base`]. Says so once per request.
    pub(crate) fn wants_base(&self) -> bool {
        self.wants_base.swap(false, Ordering::Relaxed)
    }

    /// The whole run as it stands (every row added so far), to be written as
    /// the new base.
    pub(crate) fn base(&mut self, record: RunRecord) {
        self.send();
        let _ = self.to.send(Message::Base(Box::new(record)));
    }

    /// A save that failed since the last call, if any.
    pub(crate) fn failure(&self) -> Option<StoreError> {
        self.failures.try_recv().ok()
    }

    /// Saves everything sent so far, waiting for it.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        self.send();
        let (reply, answer) = mpsc::channel();
        let _ = self.to.send(Message::Flush(reply));
        self.thread.thread().unpark();
        answer.recv().unwrap_or_else(|_| {
            let source = std::io::Error::other("the checkpoint writer stopped");
            Err(OutputError::Write {
                path: self.partial.clone(),
                source,
            }
            .into())
        })
    }

    /// Saves everything sent so far and stops the thread.
    pub(crate) fn finish(mut self) -> Result<(), StoreError> {
        let flushed = self.flush();
        // Rows a failed save left make the thread park until its next try
        // (--checkpoint-every, or a second at least): it must notice now
        // that the session is gone.
        drop(self.to);
        self.thread.thread().unpark();
        let _ = self.thread.join();
        flushed
    }
}

/// The writer thread's state.
struct State {
    target: Target,
    policy: Policy,
    /// When the parallel section started, and the CPU time then.
    origin: (Instant, Duration),
    base: Option<Base>,
    /// The journal of `base`, once its first record is written.
    journal: Option<Journal>,
    /// Rows in `journal`.
    journaled: u64,
    /// Rows sent and not saved yet, in the order they came.
    pending: Vec<ChunkRow>,
    /// A new base to write, which holds the first `.1` rows of `pending`.
    next_base: Option<(Box<RunRecord>, usize)>,
    wants_base: Arc<AtomicBool>,
}

impl State {
    fn run(mut self, from: &Receiver<Message>, failed: &Sender<StoreError>) {
        let mut last = Instant::now();
        let mut wait = self.policy.every;
        // The session waits on at most one flush at a time.
        let mut flush = None;
        let mut open = true;
        while open {
            if self.pending.is_empty() && self.next_base.is_none() {
                match from.recv() {
                    Ok(m) => self.take(m, &mut flush),
                    Err(_) => break,
                }
            }
            // The cadence, unless a flush is asked for. The thread parks
            // rather than waiting in `recv`: a sender wakes a receiver that
            // waits in `recv`, and waking this thread for every batch of
            // rows it cannot save yet cost the controller more CPU than
            // everything else it does. A flush unparks it.
            while flush.is_none() {
                let left = wait.saturating_sub(last.elapsed());
                if left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
                open = self.drain(from, &mut flush);
                if !open {
                    break;
                }
            }
            // Group commit: everything that came in meanwhile.
            open = open && self.drain(from, &mut flush);
            let saved = self.commit();
            last = Instant::now();
            wait = match saved.is_ok() {
                true => self.policy.every,
                false => self.policy.every.max(RETRY),
            };
            match (flush.take(), saved) {
                (Some(reply), saved) => {
                    let _ = reply.send(saved);
                }
                (None, Err(e)) => {
                    let _ = failed.send(e);
                }
                (None, Ok(())) => {}
            }
        }
    }

    /// Takes every message waiting; false once the session is gone.
    fn drain(
        &mut self,
        from: &Receiver<Message>,
        flush: &mut Option<Sender<Result<(), StoreError>>>,
    ) -> bool {
        loop {
            match from.try_recv() {
                Ok(m) => self.take(m, flush),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn take(&mut self, message: Message, flush: &mut Option<Sender<Result<(), StoreError>>>) {
        match message {
            Message::Origin(start, cpu) => self.origin = (start, cpu),
            Message::Rows(rows) => self.pending.extend(rows),
            Message::Base(record) => self.next_base = Some((record, self.pending.len())),
            Message::Flush(reply) => *flush = Some(reply),
        }
    }

    /// Writes the new base, if one came, then the rows not saved yet.
    fn commit(&mut self) -> Result<(), StoreError> {
        let mut result = Ok(());
        if let Some((record, covered)) = self.next_base.take() {
            // A base that cannot be written is dropped: its rows go to the
            // journal, and a later one is asked for.
            match write_base(&self.target, &record) {
                Ok(base) => {
                    self.base = Some(base);
                    self.journal = None;
                    self.journaled = 0;
                    self.pending.drain(..covered);
                }
                Err(e) => result = Err(e),
            }
        }
        if !self.pending.is_empty() {
            let appended = self.append();
            result = result.and(appended);
        }
        let base_rows = self.base.map_or(0, |b| b.rows);
        if self.base.is_none() || self.journaled > base_rows.max(self.policy.compact_from) {
            self.wants_base.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Appends the pending rows to the journal as one record, starting the
    /// journal of the current base if there is none yet.
    fn append(&mut self) -> Result<(), StoreError> {
        let journal_path = &self.target.journal;
        let failed = |source| {
            StoreError::from(OutputError::Write {
                path: journal_path.clone(),
                source,
            })
        };
        let Some(base) = self.base else {
            let partial = self.target.partial.display();
            let why = format!("there is no checkpoint {partial} to add to");
            return Err(failed(std::io::Error::other(why)));
        };
        let (start, start_cpu) = self.origin;
        let record = Record {
            elapsed_s: start.elapsed().as_secs_f64(),
            controller_cpu_s: process_cpu_time().saturating_sub(start_cpu).as_secs_f64(),
            rows: std::mem::take(&mut self.pending),
        };
        let written = match &mut self.journal {
            Some(journal) => journal.append(&record),
            None => Journal::start(journal_path, base.digest, &record).map(|journal| {
                self.journal = Some(journal);
            }),
        };
        match written {
            Ok(()) => {
                self.journaled += record.rows.len() as u64;
                Ok(())
            }
            Err(source) => {
                self.pending = record.rows;
                Err(failed(source))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::example_record;
    use crate::store::checkpoint::load;
    use crate::store::journal;
    use crate::store::output::reserve;
    use std::path::Path;

    fn scratch(name: &str) -> PathBuf {
        crate::testing::scratch("writer", name)
    }

    fn row(chunk_id: u64) -> ChunkRow {
        ChunkRow {
            chunk_id,
            session: 0,
            engine_id: (chunk_id % 2) as u32,
            samples: 1000,
            inside: 700 + chunk_id % 100,
            dispatch_s: 0.0,
            done_s: chunk_id as f64,
            compute_s: 0.5,
            compute_cpu_s: 0.5,
        }
    }

    /// A claimed output with an empty base, and a writer of its checkpoint.
    fn writer(dir: &Path, policy: Policy) -> (Target, Writer) {
        let target = reserve(&dir.join("r.h5"), false).unwrap();
        let base = write_base(&target, &example_record(100, Vec::new())).unwrap();
        let writer = Writer::start(target.clone(), Some(base), policy);
        (target, writer)
    }

    fn ids(path: &Path) -> Vec<u64> {
        let mut ids: Vec<u64> = load(path)
            .unwrap()
            .rows
            .iter()
            .map(|r| r.chunk_id)
            .collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn rows_that_come_in_between_saves_are_saved_together() {
        let dir = scratch("group");
        let hour = Duration::from_secs(3600);
        let (target, mut writer) = writer(&dir, Policy::every(hour));
        for id in 0..50 {
            writer.add(row(id));
        }
        // Not a save before --checkpoint-every has passed...
        assert!(!target.journal.exists());
        // ...but all of them at once at the end.
        writer.finish().unwrap();
        let digest = journal::digest(&target.partial).unwrap();
        let records = journal::read(&target.journal, digest).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].rows, (0..50).map(row).collect::<Vec<_>>());
        assert_eq!(ids(&target.partial), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn saves_are_at_least_checkpoint_every_apart() {
        let dir = scratch("cadence");
        let every = Duration::from_millis(200);
        let (target, mut writer) = writer(&dir, Policy::every(every));
        let records = |n: usize| loop {
            let digest = journal::digest(&target.partial).unwrap();
            let records = journal::read(&target.journal, digest).unwrap();
            if records.len() >= n {
                return records;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        writer.add(row(0));
        writer.send();
        records(1);
        writer.add(row(1));
        writer.add(row(2));
        writer.send();
        let saved = records(2);
        assert_eq!(saved[1].rows, [row(1), row(2)]);
        let apart = saved[1].elapsed_s - saved[0].elapsed_s;
        assert!(apart >= every.as_secs_f64(), "{apart} s apart");
        writer.finish().unwrap();
    }

    #[test]
    fn a_long_journal_is_compacted_and_every_crash_in_between_reads_right() {
        let dir = scratch("compact");
        let policy = Policy {
            every: Duration::ZERO,
            compact_from: 4,
        };
        let (target, mut writer) = writer(&dir, policy);
        for id in 0..10 {
            writer.add(row(id));
        }
        writer.flush().unwrap();
        assert!(writer.wants_base(), "10 rows in the journal, 0 in its base");
        assert!(!writer.wants_base(), "asked once");
        let copy = |from: &Path, to: &str| std::fs::copy(from, dir.join(to)).unwrap();
        copy(&target.partial, "old-base");
        copy(&target.journal, "old-journal");

        writer.base(example_record(100, (0..10).map(row).collect()));
        writer.add(row(10));
        writer.flush().unwrap();
        assert!(!writer.wants_base(), "1 row in the journal, 10 in its base");
        assert_eq!(load(&target.partial).unwrap().rows.len(), 11);
        assert_eq!(ids(&target.partial), (0..11).collect::<Vec<_>>());
        let new_journal = std::fs::read(&target.journal).unwrap();
        writer.finish().unwrap();

        // A crash after the new base replaced the old, before the new
        // journal replaced the old one: the old journal is not read.
        copy(&dir.join("old-journal"), target.journal.to_str().unwrap());
        assert_eq!(ids(&target.partial), (0..10).collect::<Vec<_>>());
        // A crash before the new base: the old base and its journal.
        copy(&dir.join("old-base"), target.partial.to_str().unwrap());
        assert_eq!(ids(&target.partial), (0..10).collect::<Vec<_>>());
        // The old base with the new journal: the rows of the old base only.
        std::fs::write(&target.journal, new_journal).unwrap();
        assert_eq!(ids(&target.partial), Vec::<u64>::new());
    }

    #[test]
    fn a_failed_save_is_reported_and_its_rows_saved_by_the_next() {
        let dir = scratch("failed");
        let policy = Policy {
            every: Duration::ZERO,
            compact_from: 1000,
        };
        let (target, mut writer) = writer(&dir, policy);
        // The journal's name taken by a directory: appends fail.
        std::fs::create_dir(&target.journal).unwrap();
        writer.add(row(0));
        let err = writer.flush().unwrap_err().to_string();
        assert!(err.starts_with("cannot write "), "{err}");
        assert!(err.contains("r.partial.h5.journal"), "{err}");
        std::fs::remove_dir(&target.journal).unwrap();
        writer.add(row(1));
        writer.finish().unwrap();
        assert_eq!(ids(&target.partial), [0, 1]);
    }

    #[test]
    fn finishing_after_a_failed_save_does_not_wait_for_the_next_try() {
        let dir = scratch("finish-failed");
        let policy = Policy {
            every: Duration::from_secs(3600),
            compact_from: 1000,
        };
        let (target, mut writer) = writer(&dir, policy);
        std::fs::create_dir(&target.journal).unwrap();
        writer.add(row(0));
        assert!(writer.flush().is_err());
        // The rows it could not save wait for the next try, an hour away.
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || done.send(writer.finish()).unwrap());
        let finished = finished.recv_timeout(Duration::from_secs(20));
        assert!(finished.expect("finish returns").is_err());
    }
}
