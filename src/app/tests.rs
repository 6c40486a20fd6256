//! Whole sessions of the program without MPI: rank 0's real session code
//! (records, checkpoints, results files) fed by the real controller and
//! engine loops in memory.

use super::session::{Controller, Session};
use super::Identity;
use crate::config::cli::tests::parse;
use crate::config::{Job, Settings};
use crate::kernel::Kernel;
use crate::run::memory::{Cluster, TestAlarm};
use crate::run::transport::Alarm;
use crate::run::{self, News};
use crate::store::checkpoint::{self, Ledger, Requested};
use crate::store::{h5, output};
use crate::sys::clock::UtcTime;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ENGINES: usize = 3;

fn scratch(name: &str) -> PathBuf {
    crate::testing::scratch("app", name)
}

fn identities() -> Vec<Identity> {
    (0..=ENGINES as u32)
        .map(|rank| Identity {
            pid: 1000 + rank,
            host: "node1".into(),
            kernel: "scalar".into(),
        })
        .collect()
}

/// Rank 0's session of `job` into `target`, begun.
fn open(settings: Settings, job: &Job, target: output::Target, ledger: Ledger) -> Session {
    let controller = Controller {
        settings,
        output: target,
        ledger,
        started_utc: UtcTime::now(),
        slurm: None,
    };
    let mut s = Session::new(controller, job, &identities(), "in-memory MPI".into());
    s.begin(0.0);
    s
}

/// Runs one session of `job` into `output` with in-memory engines; `stop`
/// raises a signal on the controller once that many chunks came in.
fn session(
    settings: Settings,
    job: &Job,
    target: output::Target,
    ledger: Ledger,
    stop: Option<usize>,
) -> super::session::Ending {
    let mut s = open(settings, job, target, ledger);
    let work = |_: usize, chunk| {
        std::thread::sleep(Duration::from_micros(200));
        run::compute(job, Kernel::Scalar, chunk)
    };
    let cluster = Cluster {
        job,
        grace: s.grace(),
        work: &work,
        controller: TestAlarm::default(),
        engines: vec![TestAlarm::default(); ENGINES],
    };
    let mut heard = 0;
    let outcome = cluster.run(&mut |news| {
        if matches!(news, News::Chunk(_)) {
            heard += 1;
            if Some(heard) == stop {
                cluster.controller.raise(libc::SIGTERM);
            }
        }
        s.hear(news)
    });
    s.finish(outcome, &cluster.controller)
}

fn inside(path: &Path) -> u64 {
    h5::read(path).unwrap().rows.iter().map(|r| r.inside).sum()
}

#[test]
fn a_session_writes_every_chunk_and_publishes_the_results() {
    let dir = scratch("complete");
    let path = dir.join("r.h5");
    let cli = parse(&["-q", "-n", "4e4", "-k", "40", "-o", path.to_str().unwrap()]).unwrap();
    let job = Job::from_cli(&cli, ENGINES, None).unwrap();
    let target = output::reserve_new(&path, false).unwrap();
    let ending = session(
        Settings::from_cli(&cli),
        &job,
        target,
        Ledger::new(40, None),
        None,
    );
    assert_eq!((ending.code, ending.abort), (0, false));
    let stored = h5::read(&path).unwrap();
    assert_eq!(stored.rows.len(), 40);
    assert_eq!(stored.sessions.len(), 1);
    let serial: u64 = (0..40)
        .map(|c| run::compute(&job, Kernel::Scalar, c).inside)
        .sum();
    assert_eq!(inside(&path), serial);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["r.h5"], "no checkpoint or claim is left behind");
}

#[test]
fn an_interrupted_session_saves_a_checkpoint_that_a_resumed_one_completes() {
    let dir = scratch("resume");
    let path = dir.join("r.h5");
    let shown = path.to_str().unwrap();
    let args = ["-q", "-n", "6e4", "-k", "60", "--checkpoint-every", "0"];
    let cli = parse(&[&args[..], &["-o", shown]].concat()).unwrap();
    let job = Job::from_cli(&cli, ENGINES, None).unwrap();
    let target = output::reserve_new(&path, false).unwrap();
    let partial = dir.join("r.partial.h5");
    let ending = session(
        Settings::from_cli(&cli),
        &job,
        target,
        Ledger::new(60, None),
        Some(10),
    );
    assert_eq!((ending.code, ending.abort), (128 + libc::SIGTERM, false));
    assert!(!path.exists() && partial.exists());
    let first = h5::read(&partial).unwrap();
    let saved: Vec<u64> = first.rows.iter().map(|r| r.chunk_id).collect();
    assert!(
        (10..60).contains(&saved.len()),
        "{} chunks saved",
        saved.len()
    );

    // The resume: what decide does for --resume, then a session of the rest.
    let resume = parse(&["-q", "--resume", partial.to_str().unwrap()]).unwrap();
    let mut job = Job::from_cli(&resume, ENGINES, None).unwrap();
    checkpoint::check_resumable(&partial, &first, &Requested::default()).unwrap();
    (job.samples, job.chunks, job.seed) = (first.samples, first.chunks, first.seed);
    let ledger = Ledger::resume(first);
    let missing = ledger.missing();
    job.set_todo(&missing);
    let final_path = checkpoint::final_path(&partial, shown).unwrap();
    let target = output::reserve(&final_path, false).unwrap();
    let ending = session(Settings::from_cli(&resume), &job, target, ledger, None);
    assert_eq!(ending.code, 0);
    assert!(path.exists() && !partial.exists());

    let stored = h5::read(&path).unwrap();
    assert_eq!(stored.sessions.len(), 2);
    let second: Vec<u64> = stored
        .rows
        .iter()
        .filter(|r| r.session == 1)
        .map(|r| r.chunk_id)
        .collect();
    assert_eq!(
        second, missing,
        "the resumed session computes exactly the missing chunks"
    );
    let serial: u64 = (0..60)
        .map(|c| run::compute(&job, Kernel::Scalar, c).inside)
        .sum();
    assert_eq!(inside(&path), serial);
}

#[test]
fn a_signal_after_the_last_chunk_keeps_the_results_and_still_says_so() {
    let dir = scratch("late");
    let path = dir.join("r.h5");
    let cli = parse(&["-q", "-n", "1e4", "-k", "10", "-o", path.to_str().unwrap()]).unwrap();
    let job = Job::from_cli(&cli, ENGINES, None).unwrap();
    let target = output::reserve_new(&path, false).unwrap();
    let mut s = open(
        Settings::from_cli(&cli),
        &job,
        target,
        Ledger::new(10, None),
    );
    let work = |_: usize, chunk| run::compute(&job, Kernel::Scalar, chunk);
    let cluster = Cluster {
        job: &job,
        grace: s.grace(),
        work: &work,
        controller: TestAlarm::default(),
        engines: vec![TestAlarm::default(); ENGINES],
    };
    let outcome = cluster.run(&mut |news| s.hear(news));
    assert_eq!(outcome.signal, None);
    cluster.controller.raise(libc::SIGINT);
    assert_eq!(cluster.controller.caught(), Some(libc::SIGINT));
    let ending = s.finish(outcome, &cluster.controller);
    assert_eq!(ending.code, 128 + libc::SIGINT);
    assert_eq!(
        h5::read(&path).unwrap().rows.len(),
        10,
        "the results are complete"
    );
}

/// A root attribute of a results file.
fn attr<T: hdf5::H5Type>(path: &Path, name: &str) -> T {
    hdf5::File::open(path)
        .unwrap()
        .attr(name)
        .unwrap()
        .read_scalar()
        .unwrap()
}

#[test]
fn a_precision_run_stops_at_its_prefix_and_a_resume_reaches_the_same_answer() {
    let dir = scratch("precision");
    // 300 chunks of 1000 points; +-0.01 needs about 10^5 of them.
    let args = ["-q", "-n", "3e5", "-k", "300", "--precision", "0.01"];
    let run = |name: &str, stop: Option<usize>| {
        let path = dir.join(name);
        let cli = parse(&[&args[..], &["-o", path.to_str().unwrap()]].concat()).unwrap();
        let job = Job::from_cli(&cli, ENGINES, None).unwrap();
        let target = output::reserve_new(&path, false).unwrap();
        let ledger = Ledger::new(job.chunks, job.precision);
        let ending = session(Settings::from_cli(&cli), &job, target, ledger, stop);
        (path, job, ending)
    };
    let (path, job, ending) = run("whole.h5", None);
    assert_eq!(ending.code, 0);
    let used: u64 = attr(&path, "chunks_used");
    let stopped: hdf5::types::VarLenUnicode = attr(&path, "stopped_by");
    assert_eq!(stopped.as_str(), "precision");
    assert!((50..300).contains(&used), "{used}");
    let prefix: u64 = (0..used)
        .map(|c| run::compute(&job, Kernel::Scalar, c).inside)
        .sum();
    assert_eq!(attr::<u64>(&path, "inside"), prefix);
    let done: u64 = attr(&path, "chunks_done");
    assert!(done >= used && done < 300, "{done} computed, {used} used");

    // Interrupted after 3 chunks, then resumed: the same prefix and count.
    let (first, _, ending) = run("split.h5", Some(3));
    assert_eq!(ending.code, 128 + libc::SIGTERM);
    let partial = checkpoint::partial_path(&first);
    let stored = h5::read(&partial).unwrap();
    assert_eq!(stored.precision, Some(0.01));
    let resume = parse(&["-q", "--resume", partial.to_str().unwrap()]).unwrap();
    let mut job = Job::from_cli(&resume, ENGINES, None).unwrap();
    (job.samples, job.chunks, job.seed) = (stored.samples, stored.chunks, stored.seed);
    job.precision = stored.precision;
    let ledger = Ledger::resume(stored);
    job.set_todo(&ledger.missing());
    let target = output::reserve(&first, false).unwrap();
    let ending = session(Settings::from_cli(&resume), &job, target, ledger, None);
    assert_eq!(ending.code, 0);
    assert_eq!(attr::<u64>(&first, "chunks_used"), used);
    assert_eq!(attr::<u64>(&first, "inside"), prefix);
}

#[test]
fn engines_stuck_after_the_precision_is_met_are_aborted_after_the_grace_time() {
    // Chunks beyond the prefix that meets +-0.01 take 1 s; a signal right
    // after the precision is met leaves the engines computing them: the
    // results are published, then MPI is aborted once the grace time is up.
    let dir = scratch("stuck-precision");
    let path = dir.join("r.h5");
    let args = [
        "-q",
        "-n",
        "3e5",
        "-k",
        "300",
        "--precision",
        "0.01",
        "--grace",
        "0.1",
    ];
    let cli = parse(&[&args[..], &["-o", path.to_str().unwrap()]].concat()).unwrap();
    let job = Job::from_cli(&cli, ENGINES, None).unwrap();
    let mut ledger = Ledger::new(job.chunks, job.precision);
    let k = (0..job.chunks)
        .find(|&c| {
            ledger.add(crate::record::ChunkRow {
                chunk_id: c,
                session: 0,
                engine_id: 0,
                samples: job.plan().chunk_len(c),
                inside: run::compute(&job, Kernel::Scalar, c).inside,
                dispatch_s: 0.0,
                done_s: 0.0,
                compute_s: 0.0,
                compute_cpu_s: 0.0,
            });
            ledger.is_complete()
        })
        .expect("met within the cap")
        + 1;
    let target = output::reserve_new(&path, false).unwrap();
    let ledger = Ledger::new(job.chunks, job.precision);
    let mut s = open(Settings::from_cli(&cli), &job, target, ledger);
    let work = |_: usize, chunk| {
        let wait = if chunk >= k { 1000 } else { 0 };
        std::thread::sleep(Duration::from_millis(wait));
        run::compute(&job, Kernel::Scalar, chunk)
    };
    let cluster = Cluster {
        job: &job,
        grace: s.grace(),
        work: &work,
        controller: TestAlarm::default(),
        engines: vec![TestAlarm::default(); ENGINES],
    };
    let outcome = cluster.run(&mut |news| {
        let flow = s.hear(news);
        if flow == crate::run::Flow::Enough {
            cluster.controller.raise(libc::SIGTERM);
        }
        flow
    });
    assert_eq!(
        outcome.signal, None,
        "the signal came after the run had all it needed"
    );
    assert!(
        !outcome.stranded.is_empty(),
        "engines were computing chunks >= {k}"
    );
    let ending = s.finish(outcome, &cluster.controller);
    assert_eq!((ending.code, ending.abort), (128 + libc::SIGTERM, true));
    assert_eq!(attr::<u64>(&path, "chunks_used"), k);
}
