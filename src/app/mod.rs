//! The program: rank 0 decides, every rank runs the job, rank 0 reports.
//!
//! 1. **Parse and decide** ([`decide`]): rank 0 alone parses the command
//!    line, checks everything and claims the output before any work; bad
//!    input is one message, printed once.
//! 2. **Agree**: rank 0 broadcasts its verdict: run this [`Job`], or exit
//!    with this status. Every rank learns it, so none hangs or prints twice.
//! 3. **Run**: every rank takes part in the session ([`run`]): rank 0 as
//!    controller, the others as engines, or rank 0 alone.
//! 4. **Finish** ([`session`]): rank 0 writes the results (or the checkpoint
//!    of an interrupted run), reports, and broadcasts the exit status that
//!    every rank returns.

mod audit;
mod decide;
mod planted;
mod session;
#[cfg(test)]
mod tests;
mod verify;

use crate::config::Dispatch;
use crate::config::Job;
use crate::kernel::Kernel;
use crate::mpi::Links;
use crate::mpi::World;
use crate::run::{self, alone, controller, engine, pace, relay, News};
use crate::sys::clock::WallClock;
use crate::sys::signals::{self, ProcessAlarm};
use crate::ui::report;
use decide::Verdict;
use planted::PlantedPanic;
use serde::{Deserialize, Serialize};
use session::{Controller, Session};
use std::time::{Duration, Instant};
use verify::Checker;

/// What rank 0 does once every rank has the verdict.
enum Rank0 {
    /// A run's session: record the chunks, checkpoint, publish.
    Run(Box<Controller>),
    /// `mcpi verify`: compare the recomputed chunks with a file's.
    Verify(Checker),
}

/// Rank 0 during the parallel section.
enum Role {
    Session(Box<Session>),
    Verify(Checker),
}

/// Exit status for bad input (as clap uses).
const EXIT_USAGE: i32 = 2;
/// Exit status when the results cannot be written.
const EXIT_FAILURE: i32 = 1;
/// Exit status of a job ended by a panic: an internal error (sysexits.h's
/// `EX_SOFTWARE`).
const EXIT_INTERNAL: i32 = 70;

/// Who a rank is and what it runs on (gathered on rank 0 at the start).
#[derive(Serialize, Deserialize)]
struct Identity {
    pid: u32,
    host: String,
    kernel: String,
}

/// Runs mcpi on this rank and returns the process exit status.
pub fn main() -> i32 {
    let launched = Instant::now();
    signals::hold();
    pace::precise_sleeps();
    let Some(world) = World::init() else {
        report::error("MPI was already initialised");
        return EXIT_FAILURE;
    };
    signals::install();
    abort_on_panic(world.rank());

    let decided = world.is_root().then(|| decide::decide(world.size()));
    let (verdict, controller) = match decided {
        Some((verdict, controller)) => (Some(verdict), controller),
        None => (None, None),
    };
    let bytes = world.agree(verdict.map(|v| serde_json::to_vec(&v).expect("serialisable")));
    let job: Job = match serde_json::from_slice(&bytes).expect("rank 0 sent a verdict") {
        Verdict::Run(job) => job,
        Verdict::Exit(code) => return world.finish(code),
    };

    // Each engine takes its own CPU's best kernel unless MCPI_KERNEL (checked
    // on rank 0) names one; all give identical counts.
    let kernel = job
        .kernel
        .as_deref()
        .and_then(|name| Kernel::select(Some(name)).ok())
        .unwrap_or_else(Kernel::best);
    let me = Identity {
        pid: std::process::id(),
        host: World::processor_name(),
        kernel: kernel.name().to_string(),
    };
    let identities = world.gather_bytes(&serde_json::to_vec(&me).expect("serialisable"));
    let role = controller.zip(identities).map(|(rank0, ids)| match rank0 {
        Rank0::Run(c) => {
            let ids = parse_identities(&ids);
            let session = Session::new(*c, &job, &ids, World::library_version());
            warn_of_long_chunks(&job, &ids, session.grace());
            Role::Session(Box::new(session))
        }
        Rank0::Verify(checker) => Role::Verify(checker),
    });
    // Every rank learns who shares its node, and so whom it talks to.
    let nodes = (world.size() > 1).then(|| world.nodes());
    let node = nodes
        .as_ref()
        .is_some_and(|n| job.dispatch.resolve(n.count()) == Dispatch::Node);
    let links = nodes.as_ref().map(|n| world.links(n, node));
    world.start_line();
    // The parallel section starts: rank 0's times count from here.
    let clock = WallClock::new();
    let startup_s = launched.elapsed().as_secs_f64();

    let code = match role {
        Some(Role::Session(mut session)) => {
            session.begin(startup_s);
            let grace = session.grace();
            let mut planted = PlantedPanic::for_rank(0);
            let on_news = &mut |news| {
                if let News::Chunk(row) = news {
                    planted.chunk(row.chunk_id);
                }
                session.hear(news)
            };
            let outcome = run_controller(links, &job, kernel, clock, grace, on_news);
            let ending = session.finish(outcome, &ProcessAlarm);
            if ending.abort {
                world.abort(ending.code);
            }
            ending.code
        }
        Some(Role::Verify(mut checker)) => {
            let grace = checker.grace();
            let on_news = &mut |news| checker.hear(news);
            let outcome = run_controller(links, &job, kernel, clock, grace, on_news);
            let (code, abort) = checker.finish(outcome);
            if abort {
                world.abort(code);
            }
            code
        }
        None => {
            run_engine(&world, links.expect("an engine has links"), &job, kernel);
            0
        }
    };
    let agreed = world.agree(world.is_root().then(|| code.to_le_bytes().to_vec()));
    // The node communicator is freed while MPI still runs: after
    // MPI_Finalize, freeing it is an error that MPICH reports (status 1).
    drop(nodes);
    world.finish(i32::from_le_bytes(
        agreed.try_into().expect("rank 0 sent an exit status"),
    ))
}

/// From now on a panic on any thread of this rank ends the whole job at
/// once: one line on stderr, then `MPI_Abort`, which kills every rank and
/// leaves the files as a crash does (the last checkpoint kept). Unwinding
/// instead would reach `MPI_Finalize` while the other ranks wait for this
/// one in a collective: the job would hang.
fn abort_on_panic(rank: usize) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic");
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        // assert_eq!'s message spans lines: the error is one.
        let message: Vec<&str> = message.lines().map(str::trim).collect();
        report::error(&format!(
            "internal error on rank {rank}: {}{at}; please report it",
            message.join(" ")
        ));
        World::abort_from_anywhere(EXIT_INTERNAL)
    }));
}

/// Rank 0: warns when one chunk is likely to outlast `--grace` on the
/// slowest kernel of the targeted engines, measured here: a signal would
/// then wait for it (rank 0 alone) or give it up (an engine).
fn warn_of_long_chunks(job: &Job, identities: &[Identity], grace: Duration) {
    let ranks = identities.len();
    let kernel = identities
        .iter()
        .enumerate()
        .filter(|&(rank, _)| {
            run::engine_of_rank(ranks, rank).is_some_and(|e| job.targets.contains(&e))
        })
        .filter_map(|(_, id)| Kernel::select(Some(&id.kernel)).ok())
        .max_by_key(|k| Kernel::ALL.iter().position(|a| a == k))
        .unwrap_or_else(Kernel::best);
    let chunk = run::longest_chunk(job, kernel);
    if chunk <= grace {
        return;
    }
    let then = match ranks {
        1 => "a signal waits for the chunk being computed (a second one stops at once, without it)",
        _ => "the chunks being computed when a signal comes are lost",
    };
    report::warning(&format!(
        "one chunk takes about {} here, longer than the {} s grace time: {then}; \
         more --chunks make shorter chunks",
        about(chunk),
        grace.as_secs_f64()
    ));
}

/// A duration for a person: `2.5 s`, `3600 s`, `1.2e9 s`.
fn about(d: Duration) -> String {
    match d.as_secs_f64() {
        s if s < 100.0 => format!("{s:.1} s"),
        s if s < 1e6 => format!("{s:.0} s"),
        s => format!("{s:.1e} s"),
    }
}

fn parse_identities(raw: &[Vec<u8>]) -> Vec<Identity> {
    raw.iter()
        .map(|bytes| serde_json::from_slice(bytes).expect("every rank sent its identity"))
        .collect()
}

/// Rank 0's part of the session, timed on `clock`: the controller over MPI,
/// or every chunk itself when it is alone. `on_news` hears each chunk;
/// `grace` is how long a signal waits for the chunks being computed.
fn run_controller(
    links: Option<Links>,
    job: &Job,
    kernel: Kernel,
    mut clock: WallClock,
    grace: Duration,
    on_news: &mut dyn FnMut(run::News) -> run::Flow,
) -> run::Outcome {
    let todo = job.todo();
    match links {
        None => {
            let work = &mut |chunk| run::compute_abandonable(job, kernel, chunk, &ProcessAlarm);
            alone::run_alone(&mut clock, &ProcessAlarm, job, &todo, work, on_news)
        }
        Some(Links::Controller(mut link)) => {
            let link = &mut link;
            controller::control(link, &mut clock, &ProcessAlarm, job, &todo, grace, on_news)
        }
        Some(_) => unreachable!("rank 0 controls"),
    }
}

/// An engine rank's part of the session, or a node dispatcher's.
fn run_engine(world: &World, links: Links, job: &Job, kernel: Kernel) {
    let me = run::engine_of_rank(world.size(), world.rank()).expect("an engine rank");
    let mut planted = PlantedPanic::for_rank(world.rank());
    let mut meter = run::CpuMeter::default();
    let work = &mut |chunk| {
        planted.chunk(chunk);
        meter.compute(job, kernel, chunk)
    };
    let todo = job.todo();
    let clock = &mut WallClock::new();
    match links {
        Links::Engine(mut link) => {
            engine::serve(&mut link, clock, &ProcessAlarm, job, me, &todo, work)
        }
        Links::Relay(mut up, mut down) => {
            let (up, down) = (&mut up, &mut down);
            relay::relay(up, down, clock, &ProcessAlarm, job, me, &todo, work)
        }
        Links::Controller(_) => unreachable!("only rank 0 controls"),
    }
}
