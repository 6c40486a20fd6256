//! Rank 0 before any work: parse, check, claim the output, and decide.

use super::session::Controller;
use super::{audit, verify, Rank0};
use super::{EXIT_FAILURE, EXIT_USAGE};
use crate::config::cli::{Cli, Command};
use crate::config::{Destination, Job, Settings};
use crate::kernel::Kernel;
use crate::mpi::World;
use crate::run;
use crate::store::checkpoint::{self, Ledger, Requested, Stop};
use crate::store::output::{self, OutputError, Target};
use crate::store::{h5, StoreError};
use crate::sys::clock::UtcTime;
use crate::sys::launch::{self, Library};
use crate::sys::slurm::SlurmJob;
use crate::ui::report;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What rank 0 tells everyone before any work.
#[derive(Serialize, Deserialize)]
pub(super) enum Verdict {
    Run(Job),
    Exit(i32),
}

/// Rank 0, in a world of `ranks`: parses and checks everything before any
/// work starts. A refusal is printed here, once.
pub(super) fn decide(ranks: usize) -> (Verdict, Option<Rank0>) {
    let refuse = |message: &dyn std::fmt::Display| {
        report::error(&message.to_string());
        (Verdict::Exit(EXIT_USAGE), None)
    };
    // First: under the wrong launcher every process is a rank 0 of its own,
    // and anything said below would be said once per process.
    let library = Library::from_version(&World::library_version());
    if let Err(e) = launch::check(|name| std::env::var(name).ok(), ranks, library) {
        if e.speaks() {
            report::error(&e.to_string());
        }
        return (Verdict::Exit(EXIT_USAGE), None);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => return refuse(&report::one_line(&e.render().to_string())),
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return (Verdict::Exit(0), None);
        }
    };
    if let Some(what) = cli.generate {
        return match what.write(&mut std::io::stdout().lock()) {
            // A reader that stopped reading (`| head`) is no failure.
            Ok(()) => (Verdict::Exit(0), None),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => (Verdict::Exit(0), None),
            Err(e) => {
                report::error(&format!("cannot write to stdout: {e}"));
                (Verdict::Exit(EXIT_FAILURE), None)
            }
        };
    }
    let settings = Settings::from_cli(&cli);
    let slurm = SlurmJob::from_env();
    let kernel_override = match Kernel::from_env() {
        Ok(name) => name,
        Err(e) => return refuse(&e),
    };
    if let Err(e) = Kernel::select(kernel_override.as_deref()) {
        return refuse(&e);
    }
    if let Some(Command::Verify { file, sample }) = &cli.command {
        let engines = run::engines(ranks);
        let (verdict, checker) = verify::decide(file, *sample, engines, kernel_override);
        return (verdict, checker.map(Rank0::Verify));
    }
    let mut job = match Job::from_cli(&cli, run::engines(ranks), kernel_override) {
        Ok(job) => job,
        Err(e) => return refuse(&e),
    };
    let force = settings.force;
    let (claimed, ledger) = match &settings.destination {
        Destination::Resume {
            checkpoint,
            requested,
        } => match claim_resumed(checkpoint, requested, force, &mut job) {
            Ok(Found::Resume((target, ledger))) => (Ok(target), ledger),
            Ok(Found::Complete(stop)) => {
                let why = match stop {
                    Stop::Precision(k) => format!("--precision met with chunks 0..{k}"),
                    Stop::Cap => format!("all {} chunks; --precision not met", job.chunks),
                    Stop::AllChunks => format!("{0} of {0} chunks", job.chunks),
                };
                let path = checkpoint.display();
                settings
                    .console
                    .info(&format!("{path} is complete ({why}): nothing to resume"));
                return (Verdict::Exit(0), None);
            }
            Err(e) => return refuse(&e),
        },
        Destination::File(path) => (
            output::reserve_new(path, force),
            Ledger::new(job.chunks, job.precision),
        ),
        Destination::Default => (
            output::reserve_default(
                Path::new(output::RESULTS_DIR),
                job.mode.name(),
                ranks as u32,
                UtcTime::now(),
                slurm.as_ref().map(SlurmJob::tag).as_deref(),
            ),
            Ledger::new(job.chunks, job.precision),
        ),
    };
    let output: Target = match claimed {
        Ok(target) => target,
        Err(e) => return refuse(&e),
    };
    if let Err(e) = output.probe() {
        output.abandon();
        return refuse(&e);
    }
    let controller = Controller {
        settings,
        output,
        ledger,
        started_utc: UtcTime::now(),
        slurm,
    };
    (Verdict::Run(job), Some(Rank0::Run(Box::new(controller))))
}

/// Why `--resume FILE` is refused, beyond what the store layer says.
#[derive(Debug, thiserror::Error)]
enum DecideError {
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error(
        "{} is not named like a checkpoint (<results name>.partial.h5); rename it back to resume it",
        .0.display()
    )]
    NotACheckpoint(PathBuf),
    #[error(
        "{} already exists: that run was completed; remove {} or pass --force to replace the results with this run's",
        .results.display(), .checkpoint.display()
    )]
    Completed {
        results: PathBuf,
        checkpoint: PathBuf,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Recomputed(#[from] audit::Mismatch),
}

impl From<h5::H5Error> for DecideError {
    fn from(e: h5::H5Error) -> Self {
        DecideError::Store(e.into())
    }
}

impl From<checkpoint::ResumeError> for DecideError {
    fn from(e: checkpoint::ResumeError) -> Self {
        DecideError::Store(e.into())
    }
}

/// What `--resume FILE` finds: a run to continue, or results complete
/// already (and why).
enum Found<T> {
    Resume(T),
    Complete(Stop),
}

/// `--resume FILE`: checks FILE, points `job` at its run and missing chunks,
/// and claims the results file it completes into.
///
/// FILE is read again once the claim is held: a resume that finished in
/// between has published the results and removed FILE, and only what FILE
/// holds under the claim may be resumed.
fn claim_resumed(
    checkpoint: &Path,
    requested: &Requested,
    force: bool,
    job: &mut Job,
) -> Result<Found<(Target, Ledger)>, DecideError> {
    let final_path = match resumable(checkpoint, requested, job, Recheck::No)? {
        Found::Resume((final_path, _)) => final_path,
        Found::Complete(stop) => return Ok(Found::Complete(stop)),
    };
    let completed = || DecideError::Completed {
        results: final_path.clone(),
        checkpoint: checkpoint.to_path_buf(),
    };
    if final_path.exists() && !force {
        return Err(completed());
    }
    let target = match output::reserve(&final_path, force) {
        Ok(target) => target,
        Err(OutputError::Exists { .. }) => return Err(completed()),
        Err(e) => return Err(DecideError::Store(e.into())),
    };
    match resumable(checkpoint, requested, job, Recheck::Yes)? {
        Found::Resume((_, ledger)) => Ok(Found::Resume((target, ledger))),
        Found::Complete(stop) => Ok(Found::Complete(stop)),
    }
}

/// Whether [`resumable`] recomputes stored chunks (see [`audit::recheck`]):
/// once, on the file read under the claim.
#[derive(PartialEq)]
enum Recheck {
    No,
    Yes,
}

/// Reads and checks `path`, points `job` at its run and missing chunks, and
/// returns the results path it completes into and the chunks done so far.
fn resumable(
    path: &Path,
    requested: &Requested,
    job: &mut Job,
    recheck: Recheck,
) -> Result<Found<(PathBuf, Ledger)>, DecideError> {
    if !path.exists() {
        return Err(DecideError::Missing(path.to_path_buf()));
    }
    let stored = match checkpoint::load(path) {
        Ok(stored) => stored,
        // A resume that finished meanwhile removed it.
        Err(_) if !path.exists() => return Err(DecideError::Missing(path.to_path_buf())),
        Err(e) => return Err(e.into()),
    };
    checkpoint::check_resumable(path, &stored, requested)?;
    (job.samples, job.chunks, job.seed) = (stored.samples, stored.chunks, stored.seed);
    job.precision = stored.precision;
    if recheck == Recheck::Yes {
        audit::recheck(path, &stored, job)?;
    }
    let final_path = checkpoint::final_path(path, &stored.output);
    let ledger = Ledger::resume(stored);
    if let (Some(stop), None) = (ledger.stop(), &final_path) {
        return Ok(Found::Complete(stop));
    }
    // A complete checkpoint (a crash before its results were published)
    // is published by a session with nothing to compute.
    let final_path = final_path.ok_or_else(|| DecideError::NotACheckpoint(path.to_path_buf()))?;
    let todo = match ledger.is_complete() {
        true => Vec::new(),
        false => ledger.missing(),
    };
    job.set_todo(&todo);
    Ok(Found::Resume((final_path, ledger)))
}
