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

mod decide;
mod session;
#[cfg(test)]
mod tests;

use crate::config::Job;
use crate::kernel::Kernel;
use crate::mpi::World;
use crate::run::{self, alone, controller, engine, pace};
use crate::sys::clock::WallClock;
use crate::sys::signals::{self, ProcessAlarm};
use crate::ui::report;
use decide::Verdict;
use serde::{Deserialize, Serialize};
use session::Session;
use std::time::Instant;

/// Exit status for bad input (as clap uses).
const EXIT_USAGE: i32 = 2;
/// Exit status when the results cannot be written.
const EXIT_FAILURE: i32 = 1;

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
    let session = controller
        .zip(identities)
        .map(|(c, ids)| Session::new(c, &job, &parse_identities(&ids), World::library_version()));
    world.barrier();
    // The parallel section starts: rank 0's times count from here.
    let clock = WallClock::new();
    let startup_s = launched.elapsed().as_secs_f64();

    let code = match session {
        Some(mut session) => {
            session.begin(startup_s);
            let outcome = run_controller(&world, &job, kernel, clock, &mut session);
            let ending = session.finish(outcome, &ProcessAlarm);
            if ending.abort {
                world.abort(ending.code);
            }
            ending.code
        }
        None => {
            run_engine(&world, &job, kernel);
            0
        }
    };
    let agreed = world.agree(world.is_root().then(|| code.to_le_bytes().to_vec()));
    world.finish(i32::from_le_bytes(
        agreed.try_into().expect("rank 0 sent an exit status"),
    ))
}

fn parse_identities(raw: &[Vec<u8>]) -> Vec<Identity> {
    raw.iter()
        .map(|bytes| serde_json::from_slice(bytes).expect("every rank sent its identity"))
        .collect()
}

/// Rank 0's part of the session, timed on `clock`: the controller over MPI,
/// or every chunk itself when it is alone.
fn run_controller(
    world: &World,
    job: &Job,
    kernel: Kernel,
    mut clock: WallClock,
    s: &mut Session,
) -> run::Outcome {
    let todo = job.todo();
    let grace = s.grace();
    let on_news = &mut |news| s.hear(news);
    if world.size() == 1 {
        let work = &mut |chunk| run::compute(job, kernel, chunk);
        return alone::run_alone(&mut clock, &ProcessAlarm, job, &todo, work, on_news);
    }
    let link = &mut world.controller_link();
    controller::control(link, &mut clock, &ProcessAlarm, job, &todo, grace, on_news)
}

/// An engine rank's part of the session.
fn run_engine(world: &World, job: &Job, kernel: Kernel) {
    let me = run::engine_of_rank(world.size(), world.rank()).expect("an engine rank");
    let work = &mut |chunk| run::compute(job, kernel, chunk);
    let link = &mut world.engine_link();
    let todo = job.todo();
    engine::serve(
        link,
        &mut WallClock::new(),
        &ProcessAlarm,
        job,
        me,
        &todo,
        work,
    );
}
