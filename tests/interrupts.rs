//! Nothing lost: runs stopped by signals, killed ranks and crashes, and
//! `mcpi --resume` finishing them with the very same inside count. Each test
//! is a row of the "What happens when…" table in docs/faults.md.
//!
//! The runs use the scalar kernel (the fastest one in a debug build) on 1e8
//! points in 100 chunks, about a second of work, and are stopped once their
//! checkpoint shows a few chunks done. Signals sent to mpirun go to a run of
//! 3e8 points: Open MPI's mpirun takes about a second to pass them on.

mod common;

use common::edit::{chunks_of, copy_edited, set_attr, set_chunks};
use common::{command, is_open_mpi, mcpi_in, scratch, wait, Run, SPAWN};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Inside counts of `-n 1e8` and `-n 3e8` with the default seed and chunks.
const INSIDE_1E8: u64 = 78_539_258;
const INSIDE_3E8: u64 = 235_626_576;
const RUN: [&str; 5] = ["-q", "-o", "r.h5", "--checkpoint-every", "0"];
const SCALAR: [(&str, &str); 1] = [("MCPI_KERNEL", "scalar")];

fn attr(path: &Path, name: &str) -> u64 {
    let file = hdf5::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.attr(name).unwrap().read_scalar::<u64>().unwrap()
}

/// Starts `mcpi RUN extra` on `ranks` ranks (0: without mpirun) in `dir`,
/// with `-n 1e8` unless `extra` says otherwise.
fn start(dir: &Path, ranks: usize, extra: &[&str]) -> Child {
    let samples: &[&str] = if extra.contains(&"-n") {
        &[]
    } else {
        &["-n", "1e8"]
    };
    let args: Vec<&str> = RUN.iter().chain(samples).chain(extra).copied().collect();
    command(dir, ranks, &args, &SCALAR).spawn().expect(SPAWN)
}

/// FNV-1a, 64 bits (docs/results-format.md#the-journal).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The chunks saved in the checkpoint `partial`, as docs/results-format.md
/// says to read it: the base's `/chunks`, then the rows of the whole records
/// of a journal bound to this base.
fn saved(partial: &Path) -> Vec<u64> {
    saved_rows(partial).iter().map(|r| r.0).collect()
}

/// [`saved`] with each chunk's session: `(chunk_id, session)`.
fn saved_rows(partial: &Path) -> Vec<(u64, u32)> {
    let base = std::fs::read(partial).unwrap();
    let mut ids = chunk_rows(partial);
    let journal = std::fs::read(partial.with_extension("h5.journal")).unwrap_or_default();
    let u64_at = |at: usize| u64::from_le_bytes(journal[at..at + 8].try_into().unwrap());
    let bound = journal.len() >= 32
        && journal[..8] == *b"MCPIJRNL"
        && journal[8..16] == [1, 0, 0, 0, 64, 0, 0, 0]
        && u64_at(16) == fnv(&base)
        && u64_at(24) == fnv(&journal[..24]);
    let mut at = 32;
    while bound && journal.len() >= at + 16 {
        let len = u64_at(at) as usize;
        let Some(payload) = journal.get(at + 16..at + 16 + len) else {
            break;
        };
        let whole = [&journal[at..at + 8], payload].concat();
        if len < 16 || !(len - 16).is_multiple_of(64) || fnv(&whole) != u64_at(at + 8) {
            break;
        }
        ids.extend(payload[16..].chunks(64).map(|row| {
            let id = u64::from_le_bytes(row[..8].try_into().unwrap());
            (id, u32::from_le_bytes(row[8..12].try_into().unwrap()))
        }));
        at += 16 + len;
    }
    ids
}

/// Waits until `dir/r.partial.h5` holds at least `chunks` chunks.
fn checkpointed(dir: &Path, chunks: u64, child: &mut Child) {
    let partial = dir.join("r.partial.h5");
    let started = Instant::now();
    loop {
        if partial.exists() && saved(&partial).len() as u64 >= chunks {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its checkpoint had {chunks} chunks"
        );
        assert!(started.elapsed() < common::TIMEOUT, "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// User CPU time of process `pid`, in clock ticks (usually 10 ms).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime is field 14.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(11).unwrap().parse().unwrap()
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: sending a signal to a process this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

/// The engines' and the controller's process ids, from the checkpoint.
fn pids(partial: &Path) -> (Vec<u32>, u32) {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct Engine {
        pid: u32,
    }
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct Session {
        controller_pid: u32,
    }
    let file = hdf5::File::open(partial).unwrap();
    let engines = file.dataset("engines").unwrap().read_raw::<Engine>();
    let sessions = file.dataset("sessions").unwrap().read_raw::<Session>();
    let engines = engines.unwrap().iter().map(|e| e.pid).collect();
    (engines, sessions.unwrap().last().unwrap().controller_pid)
}

/// The statuses mpirun may report after it passed on a signal that stopped
/// mcpi with `status`: Open MPI's mpirun exits 1, whatever its ranks did;
/// MPICH 4.0.2's hydra resets the status of a rank it sent a signal to now
/// and then (a later MPICH dropped that, pmodels/mpich#5930), and reports 0
/// once it has done so for every rank (measured: 1 in 30 runs of 3 ranks).
/// What mcpi saved and said is the same either way.
fn through_mpirun(status: i32) -> Vec<Option<i32>> {
    match is_open_mpi() {
        true => vec![Some(1)],
        false => vec![Some(status), Some(0)],
    }
}

/// The interrupted run's message, its exit status, and what it left: the
/// checkpoint and nothing else. Returns the chunks saved.
fn interrupted(dir: &Path, run: &Run, signal: &str, status: impl Into<Vec<Option<i32>>>) -> u64 {
    let saved = attr(&dir.join("r.partial.h5"), "chunks_done");
    let line = format!(
        "mcpi: interrupted by {signal}: {saved}/100 chunks saved in r.partial.h5; \
         resume with mcpi --resume r.partial.h5"
    );
    assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
    let status = status.into();
    assert!(
        status.contains(&run.status),
        "{:?}: {}",
        run.status,
        run.stderr
    );
    assert!(!run.stderr.contains("Abort"), "{}", run.stderr);
    assert!(saved < 100, "the run was interrupted after it had ended");
    assert_eq!(listing(dir), ["r.partial.h5"]);
    saved
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `mcpi --resume r.partial.h5` on `ranks` ranks completes the run of 1e8
/// points: the same inside count as an uninterrupted run, no checkpoint.
fn resumed(dir: &Path, ranks: usize, extra: &[&str]) -> serde_json::Value {
    resumed_to(INSIDE_1E8, dir, ranks, extra)
}

fn resumed_to(inside: u64, dir: &Path, ranks: usize, extra: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = ["--resume", "r.partial.h5", "--json", "-q"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    // Base and journal, as the resume reads them: each chunk once, in order.
    let mut saved = saved_rows(&dir.join("r.partial.h5"));
    saved.sort_unstable();
    saved.dedup();
    let summary = mcpi_in(dir, ranks, &args, &SCALAR).json();
    computed_only_the_missing_chunks(&saved, &dir.join("r.h5"));
    assert_eq!(summary["inside"], inside);
    assert_eq!(summary["chunks_done"], 100);
    assert_eq!(attr(&dir.join("r.h5"), "inside"), inside);
    assert_eq!(attr(&dir.join("r.h5"), "sessions"), summary["sessions"]);
    assert_eq!(listing(dir), ["r.h5"]);
    summary
}

/// `(chunk_id, session)` of every row of `/chunks` in `path`.
fn chunk_rows(path: &Path) -> Vec<(u64, u32)> {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct Chunk {
        chunk_id: u64,
        session: u32,
    }
    let file = hdf5::File::open(path).unwrap();
    let rows = file.dataset("chunks").unwrap().read_raw::<Chunk>().unwrap();
    rows.iter().map(|c| (c.chunk_id, c.session)).collect()
}

/// The last session of the run in `results` computed exactly the chunks
/// that the checkpoint it resumed lacked (`saved`: its rows): the earlier
/// sessions' rows are the checkpoint's, no chunk is there twice, and each
/// session's `chunks_done` in `/sessions` counts its rows. A resume that
/// recomputed a saved chunk would give the same inside count, but not this.
fn computed_only_the_missing_chunks(saved: &[(u64, u32)], results: &Path) {
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct Session {
        session: u32,
        chunks_done: u64,
    }
    let rows = chunk_rows(results);
    let file = hdf5::File::open(results).unwrap();
    let sessions = file.dataset("sessions").unwrap().read_raw::<Session>();
    let sessions = sessions.unwrap();
    let last = sessions.last().unwrap().session;
    let earlier: Vec<(u64, u32)> = rows.iter().filter(|r| r.1 < last).copied().collect();
    assert_eq!(earlier, saved, "the earlier sessions' chunks changed");
    let mut ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rows.len(), "a chunk computed twice");
    let recomputed: Vec<u64> = rows
        .iter()
        .filter(|r| r.1 == last && saved.iter().any(|s| s.0 == r.0))
        .map(|r| r.0)
        .collect();
    assert_eq!(recomputed, [0u64; 0], "the resume recomputed saved chunks");
    for (i, s) in sessions.iter().enumerate() {
        assert_eq!(s.session, i as u32);
        let rows_of = rows.iter().filter(|r| r.1 == s.session).count() as u64;
        assert_eq!(
            s.chunks_done, rows_of,
            "session {}'s chunks_done",
            s.session
        );
    }
}

#[test]
fn sigterm_to_mpirun_then_resume_in_another_mode_gives_the_same_count() {
    let dir = scratch("int-term");
    let mut child = start(&dir, 3, &["-n", "3e8"]);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGTERM);
    let run = wait(child, "interrupted run");
    interrupted(&dir, &run, "SIGTERM", through_mpirun(143));
    let summary = resumed_to(INSIDE_3E8, &dir, 2, &["--mode", "direct"]);
    assert_eq!(summary["sessions"], 2);
    assert_eq!(summary["mode"], "direct");
}

#[test]
fn a_precision_run_interrupted_and_resumed_stops_at_the_same_prefix() {
    // 3e8 points in 100 chunks, long enough to be interrupted under either
    // mpirun; +-2.4e-4 needs about 1.8e8 of them.
    let precision = ["-n", "3e8", "--precision", "2.4e-4"];
    let whole = scratch("int-precision-whole");
    let args: Vec<&str> = ["--json", "-q", "-o", "r.h5"]
        .iter()
        .chain(&precision)
        .copied()
        .collect();
    let want = mcpi_in(&whole, 3, &args, &[]).json();
    assert_eq!(want["stopped_by"], "precision");
    let used = want["chunks_used"].as_u64().unwrap();
    assert!((20..100).contains(&used), "{used}");

    let dir = scratch("int-precision");
    let mut child = start(&dir, 3, &precision);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGTERM);
    let run = wait(child, "interrupted run");
    let saved = interrupted(&dir, &run, "SIGTERM", through_mpirun(143));
    assert!(saved < used, "interrupted after the precision was met");
    let args = [
        "--resume",
        "r.partial.h5",
        "--json",
        "-q",
        "--mode",
        "direct",
    ];
    let saved = chunk_rows(&dir.join("r.partial.h5"));
    let summary = mcpi_in(&dir, 2, &args, &[]).json();
    computed_only_the_missing_chunks(&saved, &dir.join("r.h5"));
    for field in [
        "stopped_by",
        "chunks_used",
        "samples_used",
        "inside",
        "pi",
        "precision",
    ] {
        assert_eq!(summary[field], want[field], "{field}");
    }
    assert_eq!(summary["sessions"], 2);
    assert_eq!(listing(&dir), ["r.h5"]);
}

#[test]
fn sigint_in_direct_mode_then_resume_without_mpirun() {
    let dir = scratch("int-int");
    let mut child = start(&dir, 3, &["-n", "3e8", "--mode", "direct"]);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGINT);
    let run = wait(child, "interrupted run");
    // Open MPI's mpirun turns a SIGINT into SIGTERM for the ranks.
    let caught = if is_open_mpi() { "SIGTERM" } else { "SIGINT" };
    interrupted(&dir, &run, caught, through_mpirun(130));
    resumed_to(INSIDE_3E8, &dir, 0, &[]);
}

#[test]
fn sigusr1_without_mpirun_then_resume_under_mpirun() {
    let dir = scratch("int-usr1");
    let mut child = start(&dir, 0, &[]);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGUSR1);
    let run = wait(child, "interrupted run");
    interrupted(&dir, &run, "SIGUSR1", [Some(138)]);
    resumed(&dir, 3, &[]);
}

#[test]
fn a_signal_to_rank_0_alone_stops_every_rank() {
    let dir = scratch("int-rank0");
    let mut child = start(&dir, 3, &[]);
    checkpointed(&dir, 3, &mut child);
    let (_, controller) = pids(&dir.join("r.partial.h5"));
    kill(controller, libc::SIGTERM);
    let run = wait(child, "interrupted run");
    interrupted(&dir, &run, "SIGTERM", [Some(143)]);
    resumed(&dir, 3, &[]);
}

#[test]
fn a_signal_to_one_engine_alone_stops_every_rank() {
    let dir = scratch("int-engine");
    let mut child = start(&dir, 3, &["--mode", "direct"]);
    checkpointed(&dir, 3, &mut child);
    let (engines, _) = pids(&dir.join("r.partial.h5"));
    kill(engines[1], libc::SIGTERM);
    let run = wait(child, "interrupted run");
    interrupted(&dir, &run, "SIGTERM", [Some(143)]);
    resumed(&dir, 3, &[]);
}

/// A rank killed outright: mpirun kills the others, the checkpoint keeps
/// what was saved, and `--resume` takes over the crashed run's claim.
fn killed(name: &str, victim: impl Fn(&Path) -> u32) {
    let dir = scratch(name);
    let mut child = start(&dir, 3, &[]);
    checkpointed(&dir, 3, &mut child);
    kill(victim(&dir.join("r.partial.h5")), libc::SIGKILL);
    let run = wait(child, "killed run");
    assert_ne!(run.status, Some(0));
    let saved = saved(&dir.join("r.partial.h5")).len();
    assert!(saved >= 3, "{saved} chunks in the checkpoint");
    // The temporary file, the claim (its lock died with rank 0), the
    // checkpoint and its journal, and the next base if it was being written:
    // the resume takes the crashed run's files over.
    let mut left = listing(&dir);
    left.retain(|name| name != ".r.partial.h5.tmp");
    assert_eq!(
        left,
        [
            ".r.h5.tmp",
            ".r.partial.h5.lock",
            "r.partial.h5",
            "r.partial.h5.journal"
        ]
    );
    resumed(&dir, 3, &[]);
}

#[test]
fn an_engine_killed_with_sigkill_keeps_the_last_checkpoint() {
    killed("int-kill-engine", |partial| pids(partial).0[0]);
}

#[test]
fn the_controller_killed_with_sigkill_keeps_the_last_checkpoint() {
    killed("int-kill-controller", |partial| pids(partial).1);
}

/// The largest `--samples`: one chunk of it takes centuries.
const HUGE: &str = "18446744073709551615";

/// Waits until the process `pid` has taken the `signal` sent to it (it is
/// no longer pending): a second one sent before would merge with it.
fn delivered(pid: u32, signal: i32) {
    let bit = 1u64 << (signal - 1);
    let started = Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let pending = status
            .lines()
            .filter_map(|l| l.strip_prefix("SigPnd:").or(l.strip_prefix("ShdPnd:")))
            .any(|mask| u64::from_str_radix(mask.trim(), 16).unwrap() & bit != 0);
        if !pending {
            return;
        }
        assert!(started.elapsed() < common::TIMEOUT, "signal never taken");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until each engine has used 10 clock ticks (0.1 s) of CPU since
/// `dir`'s first checkpoint: they are past the start barrier (where they
/// wait at little cost) and computing. Returns the engines' and the
/// controller's process ids.
fn computing(dir: &Path, child: &mut Child) -> (Vec<u32>, u32) {
    checkpointed(dir, 0, child);
    let (engines, controller) = pids(&dir.join("r.partial.h5"));
    let before: Vec<u64> = engines.iter().map(|&pid| cpu_ticks(pid)).collect();
    while !engines
        .iter()
        .zip(&before)
        .all(|(&pid, &at)| cpu_ticks(pid) >= at + 10)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    (engines, controller)
}

#[test]
fn engines_still_computing_after_the_grace_time_are_given_up() {
    // Chunks of 2⁶³ points never end: once the engines compute, only rank 0
    // gets the signal, and the grace time runs out whatever the machine's
    // load. With one engine, the message speaks of one.
    for (ranks, chunks, who) in [(3, "2", "engines 0,1 were"), (2, "1", "engine 0 was")] {
        let dir = scratch(&format!("int-grace-{ranks}"));
        let args = ["-n", HUGE, "-k", chunks, "--grace", "0.05"];
        let mut child = start(&dir, ranks, &args);
        let (_, controller) = computing(&dir, &mut child);
        kill(controller, libc::SIGTERM);
        let run = wait(child, "run past its grace time");
        assert_ne!(run.status, Some(0));
        let line = format!("{who} still computing after the 0.05 s grace time");
        assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
        assert!(
            run.stderr
                .contains("longer than the 0.05 s grace time: the chunks being computed"),
            "warned up front:\n{}",
            run.stderr
        );
        assert_eq!(attr(&dir.join("r.partial.h5"), "chunks_done"), 0);
        assert_eq!(listing(&dir), ["r.partial.h5"]);
    }
}

#[test]
fn a_second_signal_stops_a_chunk_of_centuries_at_once() {
    // Alone, rank 0 waits for its chunk after the first signal; the second
    // gives the chunk up and saves the checkpoint without it.
    let dir = scratch("int-second-alone");
    let mut child = start(&dir, 0, &["-n", HUGE, "-k", "1"]);
    checkpointed(&dir, 0, &mut child);
    kill(child.id(), libc::SIGTERM);
    delivered(child.id(), libc::SIGTERM);
    kill(child.id(), libc::SIGTERM);
    let run = wait(child, "run of one huge chunk");
    assert!(
        run.stderr.contains(
            "longer than the 30 s grace time: a signal waits for the chunk being computed \
             (a second one stops at once, without it)"
        ),
        "warned up front:\n{}",
        run.stderr
    );
    let line = "mcpi: interrupted by SIGTERM: 0/1 chunks saved in r.partial.h5; \
                resume with mcpi --resume r.partial.h5";
    assert!(run.stderr.contains(line), "{}", run.stderr);
    assert_eq!(run.status, Some(143), "{}", run.stderr);
    assert_eq!(attr(&dir.join("r.partial.h5"), "chunks_done"), 0);
    assert_eq!(listing(&dir), ["r.partial.h5"]);

    // Under mpirun, a second signal to rank 0 gives the engines up at once,
    // long before the 30 s grace time.
    let dir = scratch("int-second-mpirun");
    let mut child = start(&dir, 3, &["-n", HUGE, "-k", "2"]);
    let (_, controller) = computing(&dir, &mut child);
    kill(controller, libc::SIGTERM);
    delivered(controller, libc::SIGTERM);
    kill(controller, libc::SIGTERM);
    let run = wait(child, "run of two huge chunks");
    assert_ne!(run.status, Some(0));
    let line = "mcpi: error: engines 0,1 were still running when a second SIGTERM came; \
                their chunks are lost, and MPI is aborted";
    assert!(run.stderr.contains(line), "{}", run.stderr);
    assert_eq!(attr(&dir.join("r.partial.h5"), "chunks_done"), 0);
    assert_eq!(listing(&dir), ["r.partial.h5"]);
}

#[test]
fn sighup_stops_mcpi_alone_and_every_rank_under_mpirun() {
    // The terminal closed: SIGHUP reaches bare mcpi, or (a whole process
    // group's hangup) every rank; each saves and exits 129 like SIGTERM.
    let dir = scratch("int-hup-alone");
    let mut child = start(&dir, 0, &[]);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGHUP);
    let run = wait(child, "hung-up run");
    interrupted(&dir, &run, "SIGHUP", [Some(129)]);
    resumed(&dir, 0, &[]);

    let dir = scratch("int-hup-ranks");
    let mut child = start(&dir, 3, &[]);
    checkpointed(&dir, 3, &mut child);
    let (engines, controller) = pids(&dir.join("r.partial.h5"));
    for pid in engines.into_iter().chain([controller]) {
        kill(pid, libc::SIGHUP);
    }
    let run = wait(child, "hung-up ranks");
    interrupted(&dir, &run, "SIGHUP", [Some(129)]);
    resumed(&dir, 3, &[]);
}

#[test]
fn under_nohup_sighup_is_ignored() {
    // `nohup mcpi`: SIGHUP ignored from the start stays ignored.
    use std::os::unix::process::CommandExt;
    let dir = scratch("int-nohup");
    let args: Vec<&str> = RUN.iter().chain(&["-n", "1e8"]).copied().collect();
    let mut cmd = command(&dir, 0, &args, &SCALAR);
    // SAFETY: signal() is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect(SPAWN);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGHUP);
    wait(child, "run under nohup").ok();
    assert_eq!(attr(&dir.join("r.h5"), "inside"), INSIDE_1E8);
    assert_eq!(listing(&dir), ["r.h5"]);
}

#[test]
fn a_closed_output_pipe_loses_nothing() {
    // `mcpi 2>&1 | head -1`: the reader leaves after one line; later lines
    // fail with EPIPE (SIGPIPE is ignored), the results are written in full,
    // and the status is 0: the reader stopped reading on purpose.
    use std::io::{BufRead, BufReader};
    use std::os::fd::{FromRawFd, OwnedFd};
    let dir = scratch("int-pipe");
    let mut fds = [0; 2];
    // SAFETY: pipe() fills two new descriptors, each owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let args = ["-o", "r.h5", "-n", "1e8"];
    let mut cmd = command(&dir, 0, &args, &SCALAR);
    cmd.stdout(write.try_clone().unwrap()).stderr(write);
    let child = cmd.spawn().expect(SPAWN);
    // Only mcpi holds the pipe's writing end now.
    drop(cmd);
    let mut first = String::new();
    BufReader::new(std::fs::File::from(read))
        .read_line(&mut first)
        .unwrap();
    // The reader is gone: every later line fails.
    let run = wait(child, "run with a closed pipe");
    assert_eq!(run.status, Some(0), "first line: {first}");
    assert_eq!(attr(&dir.join("r.h5"), "inside"), INSIDE_1E8);
    assert_eq!(listing(&dir), ["r.h5"]);
}

#[test]
fn a_signal_to_an_idle_engine_stops_every_rank() {
    // Engine 2 computes nothing: not targeted (balanced), or an empty share
    // (direct). It still relays the signal it catches.
    for mode in ["balanced", "direct"] {
        let dir = scratch(&format!("int-idle-{mode}"));
        let mut child = start(&dir, 4, &["--targets", "0", "--mode", mode]);
        checkpointed(&dir, 3, &mut child);
        let (engines, _) = pids(&dir.join("r.partial.h5"));
        kill(engines[2], libc::SIGTERM);
        let run = wait(child, "interrupted run");
        interrupted(&dir, &run, "SIGTERM", [Some(143)]);
        resumed(&dir, 3, &[]);
    }
}

#[test]
fn a_panic_on_any_rank_ends_the_job_and_keeps_the_checkpoint() {
    // A planted panic (debug builds only) on rank 0 as it records its 3rd
    // chunk, on engine rank 2 as it computes its 2nd, and alone: one line,
    // MPI_Abort, the last checkpoint kept and resumable.
    for (ranks, rank) in [(3, 0), (3, 2), (0, 0)] {
        let what = format!("panic on rank {rank} of {ranks}");
        let dir = scratch(&format!("int-panic-{ranks}-{rank}"));
        let nth = if rank == 0 { "3" } else { "2" };
        let plant = format!("{rank}:{nth}");
        let args: Vec<&str> = RUN.iter().chain(&["-n", "1e8"]).copied().collect();
        let env = [
            ("MCPI_KERNEL", "scalar"),
            ("MCPI_TEST_PANIC", plant.as_str()),
        ];
        let run = wait(
            command(&dir, ranks, &args, &env).spawn().expect(SPAWN),
            &what,
        );
        assert_ne!(run.status, Some(0), "{what}");
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("mcpi"))
            .collect();
        assert_eq!(lines.len(), 1, "{what}:\n{}", run.stderr);
        let start = format!("mcpi: error: internal error on rank {rank}: planted panic");
        assert!(
            lines[0].starts_with(&start) && lines[0].ends_with("; please report it"),
            "{what}: {}",
            lines[0]
        );
        assert!(
            !run.stderr.contains("panicked at"),
            "{what}:\n{}",
            run.stderr
        );
        if rank == 0 {
            // At most its first two chunks were saved (--checkpoint-every 0:
            // the writer thread may not have committed them when the abort
            // came).
            let kept = saved(&dir.join("r.partial.h5")).len();
            assert!(kept <= 2, "{what}: {kept} chunks saved");
        }
        // The temporary file, the claim (the lock died with the process),
        // the checkpoint and its journal if a save came before the abort.
        let mut left = listing(&dir);
        left.retain(|name| name != ".r.partial.h5.tmp" && name != "r.partial.h5.journal");
        assert_eq!(
            left,
            [".r.h5.tmp", ".r.partial.h5.lock", "r.partial.h5"],
            "{what}"
        );
        resumed(&dir, ranks, &[]);
    }
}

#[test]
fn a_signal_during_start_up_saves_an_empty_checkpoint_or_nothing() {
    // Before mcpi's first instruction the signal kills it; from then on it is
    // held until MPI is up and handled like any other.
    let dir = scratch("int-startup");
    let child = start(&dir, 0, &[]);
    std::thread::sleep(Duration::from_millis(20));
    kill(child.id(), libc::SIGTERM);
    let run = wait(child, "run stopped at start-up");
    if run.status.is_none() {
        assert_eq!(listing(&dir), Vec::<String>::new(), "killed before main");
    } else {
        interrupted(&dir, &run, "SIGTERM", [Some(143)]);
        resumed(&dir, 0, &[]);
    }
}

#[test]
fn a_signal_during_the_final_write_leaves_complete_results() {
    // 10⁶ chunks of one point: the final write of 10⁶ rows takes a while.
    // The signal goes in as soon as the last chunk is reported.
    use std::io::{BufRead, BufReader};
    let dir = scratch("int-final");
    let args = ["-n", "1e6", "-k", "1e6", "-o", "r.h5"];
    let mut child = command(&dir, 0, &args, &[]).spawn().expect(SPAWN);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("progress 1000000/1000000 ") {
            break;
        }
    }
    kill(child.id(), libc::SIGTERM);
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let run = wait(child, "run stopped while writing");
    assert_eq!(run.status, Some(143), "{seen}");
    assert!(
        seen.contains("SIGTERM arrived after the last chunk; the results are complete in r.h5"),
        "{seen}"
    );
    assert_eq!(attr(&dir.join("r.h5"), "chunks_done"), 1_000_000);
    assert_eq!(listing(&dir), ["r.h5"]);
}

/// An interrupted run's checkpoint in a fresh directory named `name`.
fn checkpoint(name: &str) -> PathBuf {
    let dir = scratch(name);
    let mut child = start(&dir, 0, &[]);
    checkpointed(&dir, 3, &mut child);
    kill(child.id(), libc::SIGTERM);
    interrupted(
        &dir,
        &wait(child, "interrupted run"),
        "SIGTERM",
        [Some(143)],
    );
    dir
}

fn refused(dir: &Path, args: &[&str], reason: &str) {
    let before: Vec<(String, Vec<u8>)> = listing(dir)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect();
    for ranks in [3, 0] {
        let run = mcpi_in(dir, ranks, args, &[]);
        assert_eq!(run.status, Some(2), "{args:?}: {}", run.stderr);
        // Open MPI's mpirun adds its own banner about the exit status.
        let errors: Vec<&str> = match (ranks, is_open_mpi()) {
            (3, true) => run
                .stderr
                .lines()
                .filter(|l| l.starts_with("mcpi"))
                .collect(),
            _ => run.stderr.lines().collect(),
        };
        assert_eq!(errors.len(), 1, "{args:?}: {}", run.stderr);
        assert!(
            errors[0].starts_with("mcpi: error: ") && errors[0].contains(reason),
            "{args:?}: {}",
            run.stderr
        );
        let after: Vec<(String, Vec<u8>)> = listing(dir)
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect();
        assert!(after == before, "{args:?}: files changed");
    }
}

#[test]
fn resume_refuses_options_that_contradict_the_file() {
    let dir = checkpoint("int-mismatch");
    for (option, value, stored) in [
        ("--seed", "7", "20260101"),
        ("--samples", "1e9", "100000000"),
        ("--chunks", "10", "100"),
    ] {
        let args = ["--resume", "r.partial.h5", option, value];
        let reason = format!(
            "{option} {} does not match r.partial.h5, which has {stored}",
            {
                // As mcpi shows the value it parsed.
                match value {
                    "1e9" => "1000000000",
                    v => v,
                }
            }
        );
        refused(&dir, &args, &reason);
    }
    refused(
        &dir,
        &["--resume", "r.partial.h5", "--precision", "1e-3"],
        "--precision 0.001 does not match r.partial.h5, which has none",
    );
    refused(
        &dir,
        &["--resume", "r.partial.h5", "-o", "x.h5"],
        "cannot be used with",
    );
}

#[test]
fn resume_refuses_truncated_foreign_and_older_files() {
    let dir = checkpoint("int-bad-files");
    let good = std::fs::read(dir.join("r.partial.h5")).unwrap();
    std::fs::write(dir.join("cut.partial.h5"), &good[..good.len() / 2]).unwrap();
    refused(
        &dir,
        &["--resume", "cut.partial.h5"],
        "is not a readable HDF5 file",
    );
    hdf5::File::create(dir.join("foreign.h5"))
        .unwrap()
        .new_attr::<u64>()
        .create("answer")
        .unwrap()
        .write_scalar(&42)
        .unwrap();
    refused(
        &dir,
        &["--resume", "foreign.h5"],
        "foreign.h5 is not an mcpi results file: no attribute mcpi_version",
    );
    std::fs::write(dir.join("old.partial.h5"), &good).unwrap();
    hdf5::File::open_rw(dir.join("old.partial.h5"))
        .unwrap()
        .delete_attr("schema_version")
        .unwrap();
    refused(
        &dir,
        &["--resume", "old.partial.h5"],
        "has results schema 1, which has no checkpoints",
    );
}

#[test]
fn resuming_a_complete_file_does_nothing() {
    let dir = scratch("int-complete");
    mcpi_in(&dir, 0, &["-q", "-n", "1e5", "-o", "r.h5"], &[]).ok();
    let before = std::fs::read(dir.join("r.h5")).unwrap();
    for ranks in [3, 0] {
        let run = mcpi_in(&dir, ranks, &["--resume", "r.h5"], &[])
            .ok()
            .stdout
            .clone();
        assert!(
            run.contains("r.h5 is complete (100 of 100 chunks): nothing to resume"),
            "{run}"
        );
    }
    assert_eq!(std::fs::read(dir.join("r.h5")).unwrap(), before);
    assert_eq!(listing(&dir), ["r.h5"]);
}

#[test]
fn a_fresh_run_refuses_to_overwrite_an_interrupted_one() {
    let dir = checkpoint("int-fresh");
    refused(
        &dir,
        &["-q", "-n", "1e5", "-o", "r.h5"],
        "r.partial.h5 holds an interrupted run: finish it with `mcpi --resume r.partial.h5` or remove it",
    );
}

#[test]
fn a_complete_checkpoint_is_published_by_resume() {
    // A crash after the last chunk's checkpoint, before the results were
    // published: the checkpoint holds every chunk.
    let dir = scratch("int-complete-partial");
    mcpi_in(&dir, 0, &["-q", "-n", "1e5", "-o", "r.h5"], &[]).ok();
    std::fs::rename(dir.join("r.h5"), dir.join("r.partial.h5")).unwrap();
    let saved = chunk_rows(&dir.join("r.partial.h5"));
    let summary = mcpi_in(&dir, 3, &["--resume", "r.partial.h5", "--json", "-q"], &[]).json();
    computed_only_the_missing_chunks(&saved, &dir.join("r.h5"));
    assert_eq!(
        (summary["inside"].as_u64(), summary["sessions"].as_u64()),
        (Some(78_416), Some(2))
    );
    assert_eq!(listing(&dir), ["r.h5"]);
}

#[test]
fn resume_refuses_a_missing_file_and_a_completed_run() {
    let dir = checkpoint("int-resume-refusals");
    refused(
        &dir,
        &["--resume", "gone.partial.h5"],
        "gone.partial.h5 does not exist",
    );
    std::fs::write(dir.join("r.h5"), "the completed run").unwrap();
    refused(
        &dir,
        &["--resume", "r.partial.h5"],
        "r.h5 already exists: that run was completed; remove r.partial.h5 or pass --force",
    );
}

#[test]
fn a_second_resume_of_a_running_resume_is_refused() {
    let dir = checkpoint("int-double");
    let args = ["-q", "--resume", "r.partial.h5", "--checkpoint-every", "0"];
    let mut first = command(&dir, 3, &args, &SCALAR).spawn().expect(SPAWN);
    // Its first checkpoint names its controller.
    let partial = dir.join("r.partial.h5");
    while attr(&partial, "sessions") < 2 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the resume ended early"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = mcpi_in(&dir, 0, &["--resume", "r.partial.h5"], &SCALAR);
    assert_eq!(second.status, Some(2), "{}", second.stderr);
    assert!(
        second.stderr.contains("another mcpi run is writing r.h5"),
        "{}",
        second.stderr
    );
    wait(first, "the first resume").ok();
    assert_eq!(attr(&dir.join("r.h5"), "inside"), INSIDE_1E8);
}

#[test]
fn simultaneous_resumes_of_one_checkpoint_run_once() {
    // A checkpoint holding every chunk: each resume only has to claim the
    // results and publish them, so the resumes race for the claim as
    // closely as they can.
    let template = scratch("int-race-template");
    mcpi_in(&template, 0, &["-q", "-n", "1e5", "-o", "r.h5"], &[]).ok();
    let checkpoint = std::fs::read(template.join("r.h5")).unwrap();
    for attempt in 0..20 {
        let dir = scratch(&format!("int-race-{attempt}"));
        std::fs::write(dir.join("r.partial.h5"), &checkpoint).unwrap();
        let runs: Vec<Child> = (0..3)
            .map(|_| {
                let args = ["-q", "--resume", "r.partial.h5"];
                command(&dir, 2, &args, &[]).spawn().expect(SPAWN)
            })
            .collect();
        let runs: Vec<Run> = runs.into_iter().map(|c| wait(c, "a resume")).collect();
        let won: Vec<&Run> = runs.iter().filter(|r| r.status == Some(0)).collect();
        let said: Vec<&str> = runs.iter().map(|r| r.stderr.as_str()).collect();
        assert_eq!(won.len(), 1, "attempt {attempt}: {said:#?}");
        for lost in runs.iter().filter(|r| r.status != Some(0)) {
            assert_eq!(lost.status, Some(2), "attempt {attempt}: {}", lost.stderr);
            let why = [
                "another mcpi run is writing r.h5",
                "r.partial.h5 does not exist",
                "r.h5 already exists: that run was completed",
            ];
            let errors = lost
                .stderr
                .lines()
                .filter(|l| l.starts_with("mcpi: error: "));
            let errors: Vec<&str> = errors.collect();
            assert_eq!(errors.len(), 1, "attempt {attempt}: {}", lost.stderr);
            assert!(
                why.iter().any(|w| errors[0].contains(w)),
                "attempt {attempt}: {}",
                lost.stderr
            );
        }
        assert_eq!(attr(&dir.join("r.h5"), "inside"), 78_416);
        assert_eq!(attr(&dir.join("r.h5"), "sessions"), 2);
        assert_eq!(listing(&dir), ["r.h5"], "attempt {attempt}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Starts a run of 1e8 points into `dir/out/r.h5` and returns once its
/// checkpoint holds a few chunks.
fn running_in_out(dir: &Path) -> Child {
    let args = [
        "-q",
        "-n",
        "1e8",
        "-o",
        "out/r.h5",
        "--checkpoint-every",
        "0",
    ];
    let mut child = command(dir, 3, &args, &SCALAR).spawn().expect(SPAWN);
    checkpointed(&dir.join("out"), 3, &mut child);
    child
}

#[test]
fn the_results_directory_renamed_mid_run_still_gets_them() {
    let dir = scratch("int-renamed");
    let child = running_in_out(&dir);
    std::fs::rename(dir.join("out"), dir.join("out2")).unwrap();
    wait(child, "a run whose directory moved").ok();
    assert_eq!(attr(&dir.join("out2/r.h5"), "inside"), INSIDE_1E8);
    assert_eq!(listing(&dir), ["out2"]);
    assert_eq!(listing(&dir.join("out2")), ["r.h5"]);

    // Interrupted after the move: the message names where the checkpoint is.
    let child = running_in_out(&dir);
    std::fs::rename(dir.join("out"), dir.join("out3")).unwrap();
    let rank0 = pids(&dir.join("out3/r.partial.h5")).1;
    kill(rank0, libc::SIGTERM);
    let run = wait(child, "an interrupted run whose directory moved");
    let moved = dir
        .join("out3")
        .canonicalize()
        .unwrap()
        .join("r.partial.h5");
    let line = format!("chunks saved in {}; resume with", moved.display());
    assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
    assert_eq!(run.status, Some(143), "{}", run.stderr);
    let args = ["-q", "--resume", "out3/r.partial.h5"];
    mcpi_in(&dir, 3, &args, &SCALAR).ok();
    assert_eq!(attr(&dir.join("out3/r.h5"), "inside"), INSIDE_1E8);
}

#[test]
fn the_results_directory_removed_mid_run_is_reported() {
    let dir = scratch("int-removed");
    let child = running_in_out(&dir);
    // As `rm -r` would, until no checkpoint written meanwhile is in the way.
    while dir.join("out").exists() {
        let _ = std::fs::remove_dir_all(dir.join("out"));
    }
    let run = wait(child, "a run whose directory was removed");
    assert_eq!(run.status, Some(1), "{}", run.stderr);
    let errors = run.error_lines();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("the output directory out was removed while mcpi ran")
            && errors[0].contains("no checkpoint is left"),
        "{}",
        run.stderr
    );
    assert_eq!(listing(&dir), Vec::<String>::new());
}

/// A copy of `dir/r.partial.h5` as `dir/<name>.partial.h5`, changed by `edit`
/// as a hand or a tool would change it.
fn tampered(dir: &Path, name: &str, edit: impl FnOnce(&hdf5::File)) -> String {
    copy_edited(dir, "r.partial.h5", format!("{name}.partial.h5"), edit)
}

#[test]
fn resume_refuses_a_checkpoint_changed_after_it_was_written() {
    let dir = checkpoint("int-tampered");
    let integrity = "fails its integrity check: its contents hash to fnv1a64:";
    let seed = tampered(&dir, "seed", |f| set_attr(f, "seed", 7u64));
    refused(&dir, &["--resume", &seed], &format!("{seed} {integrity}"));
    let signed = tampered(&dir, "signed", |f| set_attr(f, "seed", -1i64));
    refused(
        &dir,
        &["--resume", &signed],
        &format!(
            "{signed} fails its integrity check: attribute seed is an int64 (-1), where mcpi \
             writes a uint64; it was changed or corrupted after mcpi wrote it"
        ),
    );
    let inside = tampered(&dir, "inside", |f| {
        let mut rows = chunks_of(f);
        rows[1].inside += 1000;
        set_chunks(f, &rows);
    });
    refused(
        &dir,
        &["--resume", &inside],
        &format!("{inside} {integrity}"),
    );
    let nan = tampered(&dir, "nan", |f| {
        let mut rows = chunks_of(f);
        rows[0].compute_s = f64::NAN;
        set_chunks(f, &rows);
    });
    refused(&dir, &["--resume", &nan], &format!("{nan} {integrity}"));
    let lacking = tampered(&dir, "lacking", |f| {
        #[derive(hdf5::H5Type, Clone, Copy)]
        #[repr(C)]
        struct Lacking {
            chunk_id: u64,
            session: u32,
            engine_id: u32,
            samples: u64,
            inside: u64,
            dispatch_s: f64,
            done_s: f64,
            compute_s: f64,
        }
        let rows: Vec<Lacking> = chunks_of(f)
            .iter()
            .map(|r| Lacking {
                chunk_id: r.chunk_id,
                session: r.session,
                engine_id: r.engine_id,
                samples: r.samples,
                inside: r.inside,
                dispatch_s: r.dispatch_s,
                done_s: r.done_s,
                compute_s: r.compute_s,
            })
            .collect();
        set_chunks(f, &rows);
    });
    refused(
        &dir,
        &["--resume", &lacking],
        &format!("{lacking} is not an mcpi results file: /chunks has no field compute_cpu_s"),
    );
    let unsigned = tampered(&dir, "unsigned", |f| f.delete_attr("digest").unwrap());
    refused(
        &dir,
        &["--resume", &unsigned],
        &format!("{unsigned} is not an mcpi results file: no attribute digest"),
    );
    // The checkpoint itself is still resumable.
    for copy in [seed, signed, inside, nan, lacking, unsigned] {
        std::fs::remove_file(dir.join(copy)).unwrap();
    }
    resumed(&dir, 3, &[]);
}

#[test]
fn the_controller_killed_during_a_save_after_every_chunk_keeps_every_saved_chunk() {
    // 10⁵ chunks of 100 points, saved as often as the disk allows; the
    // controller is killed at a different point of its first 3000 chunks
    // each time, often in the middle of an append (the 97 000 others keep it
    // running well past the kill, however loaded the machine). Every chunk
    // seen saved before the kill is still there, and --resume computes
    // exactly the others.
    let args = [
        "-q",
        "-o",
        "r.h5",
        "--checkpoint-every",
        "0",
        "-n",
        "1e7",
        "-k",
        "1e5",
    ];
    let whole = scratch("int-journal-whole");
    let json: Vec<&str> = args.iter().chain(&["--json"]).copied().collect();
    let want = mcpi_in(&whole, 3, &json, &SCALAR).json()["inside"].clone();
    for attempt in 0..20u64 {
        let dir = scratch(&format!("int-journal-{attempt}"));
        let partial = dir.join("r.partial.h5");
        let mut child = command(&dir, 3, &args, &SCALAR).spawn().expect(SPAWN);
        // The controller's pid, from the first base, before the run is busy.
        checkpointed(&dir, 0, &mut child);
        let controller = pids(&partial).1;
        let seen = 1 + 150 * attempt;
        checkpointed(&dir, seen, &mut child);
        kill(controller, libc::SIGKILL);
        let run = wait(child, "killed run");
        assert_ne!(run.status, Some(0), "attempt {attempt}");
        let mut kept = saved(&partial);
        assert!(
            kept.len() as u64 >= seen,
            "attempt {attempt}: {} < {seen}",
            kept.len()
        );
        kept.sort_unstable();
        let before = kept.len();
        kept.dedup();
        assert_eq!(kept.len(), before, "attempt {attempt}: a chunk saved twice");

        let resume = ["--resume", "r.partial.h5", "--json", "-q"];
        let summary = mcpi_in(&dir, 3, &resume, &SCALAR).json();
        assert_eq!(summary["inside"], want, "attempt {attempt}");
        #[derive(hdf5::H5Type, Clone, Copy)]
        #[repr(C)]
        struct Chunk {
            chunk_id: u64,
            session: u32,
        }
        let file = hdf5::File::open(dir.join("r.h5")).unwrap();
        let rows = file.dataset("chunks").unwrap().read_raw::<Chunk>().unwrap();
        let resumed: Vec<u64> = rows
            .iter()
            .filter(|c| c.session == 1)
            .map(|c| c.chunk_id)
            .collect();
        let missing: Vec<u64> = (0..100_000)
            .filter(|c| kept.binary_search(c).is_err())
            .collect();
        assert!(
            resumed == missing,
            "attempt {attempt}: the resume computed {} chunks, {} were missing",
            resumed.len(),
            missing.len()
        );
        assert_eq!(listing(&dir), ["r.h5"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
