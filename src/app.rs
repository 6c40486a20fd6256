//! The program: rank 0 decides, every rank runs the job, rank 0 reports.
//!
//! Bad input is caught on rank 0 before any work and the verdict is broadcast,
//! so every rank exits cleanly with one message printed once. Rank 0 also
//! decides the final exit status and broadcasts it, so every rank agrees.

use crate::checkpoint::{self, Cadence, Ledger, Requested};
use crate::cli::{Cli, Job, Mode};
use crate::clock::{process_cpu_time, UtcTime};
use crate::cluster::{Cluster, News, Outcome};
use crate::kernel::Kernel;
use crate::output::{Refusal, Target};
use crate::record::{tally_engines, EngineRow, RunRecord, SessionRow, Summary};
use crate::report::{self, Console, Progress};
use crate::slurm::SlurmJob;
use crate::stats::{Estimate, Timings};
use crate::{h5, output, rng, schedule, signals};
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// Exit status for bad input (as clap uses).
const EXIT_USAGE: i32 = 2;
/// Exit status when the results cannot be written.
const EXIT_FAILURE: i32 = 1;

/// What rank 0 tells everyone before any work.
#[derive(Serialize, Deserialize)]
enum Verdict {
    Run(Job),
    Exit(i32),
}

/// What only rank 0 needs to run the session and finish it.
struct Controller {
    cli: Cli,
    output: Target,
    console: Console,
    /// The chunks done so far, with the earlier sessions.
    ledger: Ledger,
    started_utc: UtcTime,
    /// The Slurm job the run is part of, as its environment says.
    slurm: Option<SlurmJob>,
}

impl Controller {
    /// Writes `record` as the checkpoint: into its temporary file, then in
    /// place of the previous one.
    fn save(&self, record: &RunRecord) -> Result<(), String> {
        h5::write(record, &self.output.partial_temp).and_then(|()| self.output.checkpoint())
    }
}

/// Who this process is and what it runs on (gathered on rank 0 at the start).
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
    schedule::precise_sleeps();
    let cluster = match Cluster::init() {
        Ok(cluster) => cluster,
        Err(e) => {
            report::error(&e);
            return EXIT_FAILURE;
        }
    };
    signals::install();
    let (verdict, controller) = if cluster.is_root() {
        let (verdict, controller) = decide(&cluster);
        (Some(verdict), controller)
    } else {
        (None, None)
    };
    let bytes = cluster.agree(verdict.map(|v| serde_json::to_vec(&v).expect("serialisable")));
    let job: Job = match serde_json::from_slice(&bytes).expect("rank 0 sent a verdict") {
        Verdict::Run(job) => job,
        Verdict::Exit(code) => return code,
    };

    // Each engine takes its own CPU's best kernel unless MCPI_KERNEL (checked on
    // rank 0) names one; all give identical counts.
    let kernel = job
        .kernel
        .as_deref()
        .and_then(|name| Kernel::select(Some(name)).ok())
        .unwrap_or_else(Kernel::best);
    let me = Identity {
        pid: std::process::id(),
        host: Cluster::processor_name(),
        kernel: kernel.name().to_string(),
    };
    let identities = cluster.gather_bytes(&serde_json::to_vec(&me).expect("serialisable"));
    let session = controller
        .zip(identities)
        .map(|(c, ids)| Session::new(c, &cluster, &job, &ids));
    cluster.barrier();
    let startup_s = launched.elapsed().as_secs_f64();

    let todo = job.todo();
    let code = match session {
        Some(mut s) => {
            s.begin(startup_s);
            let grace = s.c.cli.grace;
            let outcome = cluster.run(&job, kernel, &todo, grace, &mut |news| s.hear(news));
            s.finish(&cluster, outcome.expect("rank 0 holds the outcome"))
        }
        None => {
            cluster.run(&job, kernel, &todo, Duration::ZERO, &mut |_| {});
            0
        }
    };
    let agreed = cluster.agree(cluster.is_root().then(|| code.to_le_bytes().to_vec()));
    i32::from_le_bytes(agreed.try_into().expect("rank 0 sent an exit status"))
}

/// Rank 0: parses and checks everything before any work starts.
fn decide(cluster: &Cluster) -> (Verdict, Option<Controller>) {
    let refuse = |message: String| {
        report::error(&message);
        (Verdict::Exit(EXIT_USAGE), None)
    };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => return refuse(report::one_line(&e.render().to_string())),
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return (Verdict::Exit(0), None);
        }
    };
    let console = Console {
        json: cli.json,
        quiet: cli.quiet,
    };
    let slurm = SlurmJob::from_env();
    if let Some(Err(e)) = slurm.as_ref().map(|job| job.check_launch(cluster.size())) {
        return refuse(e);
    }
    let kernel_override = std::env::var("MCPI_KERNEL").ok().filter(|k| !k.is_empty());
    if let Err(e) = Kernel::select(kernel_override.as_deref()) {
        return refuse(e);
    }
    let mut job = match cli.job(cluster.engines(), kernel_override) {
        Ok(job) => job,
        Err(e) => return refuse(e),
    };
    let (claimed, ledger) = match &cli.resume {
        Some(path) => {
            let (final_path, ledger, gone) = match resumable(path, &cli, &mut job) {
                Ok(Some(resumed)) => resumed,
                Ok(None) => {
                    console.info(&format!(
                        "{} is complete ({} of {} chunks): nothing to resume",
                        path.display(),
                        job.chunks,
                        job.chunks
                    ));
                    return (Verdict::Exit(0), None);
                }
                Err(e) => return refuse(e),
            };
            if final_path.exists() && !cli.force {
                return refuse(format!(
                    "{} already exists: that run was completed; remove {} or pass --force \
                     to replace the results with this run's",
                    final_path.display(),
                    path.display()
                ));
            }
            let claimed = match output::reserve(&final_path, cli.force) {
                // A crashed session's claim: its controller is gone.
                Err(Refusal::Taken(_)) if gone => output::take_over(&final_path, cli.force),
                claimed => claimed,
            };
            (claimed.map_err(Refusal::message), ledger)
        }
        None => {
            let claimed = match &cli.output {
                Some(path) => output::reserve_new(path, cli.force),
                None => output::reserve_default(
                    Path::new(output::RESULTS_DIR),
                    job.mode.name(),
                    cluster.size() as u32,
                    UtcTime::now(),
                    slurm.as_ref().map(SlurmJob::tag).as_deref(),
                ),
            };
            (claimed, Ledger::new(job.chunks))
        }
    };
    let output = match claimed {
        Ok(target) => target,
        Err(e) => return refuse(e),
    };
    if let Err(e) = h5::probe(&output.temp) {
        output.abandon();
        return refuse(e);
    }
    (
        Verdict::Run(job),
        Some(Controller {
            cli,
            output,
            console,
            ledger,
            started_utc: UtcTime::now(),
            slurm,
        }),
    )
}

/// Rank 0, `--resume FILE`: reads and checks FILE, points `job` at its run
/// and missing chunks, and returns the results path it completes into, the
/// chunks done so far, and whether the session that wrote FILE is certainly
/// gone; `None` if FILE is already complete.
fn resumable(
    path: &Path,
    cli: &Cli,
    job: &mut Job,
) -> Result<Option<(std::path::PathBuf, Ledger, bool)>, String> {
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    let stored = h5::read(path)?;
    let requested = Requested {
        samples: cli.samples,
        chunks: cli.chunks,
        seed: cli.seed,
    };
    checkpoint::check_resumable(path, &stored, &requested)?;
    (job.samples, job.chunks, job.seed) = (stored.samples, stored.chunks, stored.seed);
    let final_path = checkpoint::final_path(path, &stored.output);
    let gone = checkpoint::last_session_is_gone(&stored.sessions, &Cluster::processor_name());
    let ledger = Ledger::resume(stored);
    if ledger.is_complete() && final_path.is_none() {
        return Ok(None);
    }
    // A complete checkpoint (a crash before its results were published)
    // is published by a session with nothing to compute.
    let final_path = final_path.ok_or_else(|| {
        format!(
            "{} is not named like a checkpoint (<results name>.partial.h5); \
             rename it back to resume it",
            path.display()
        )
    })?;
    job.set_todo(&ledger.missing());
    Ok(Some((final_path, ledger, gone)))
}

/// Rank 0 during one session: records chunks as they arrive, saves
/// checkpoints, and writes the results at the end.
struct Session {
    c: Controller,
    job: Job,
    ranks: u32,
    engines_available: u32,
    mpi_library: String,
    /// Rank 0's host.
    host: String,
    /// This session's engines, in engine-id order.
    engines: Vec<EngineRow>,
    startup_s: f64,
    /// Start of the parallel section.
    start: Instant,
    start_cpu: Duration,
    cadence: Cadence,
    progress: Progress,
    /// Set once a checkpoint failed (warned about once).
    checkpoint_failed: bool,
}

impl Session {
    /// Rank 0, after the identities are in: the session's engine rows and the
    /// first checkpoint of a fresh run.
    fn new(c: Controller, cluster: &Cluster, job: &Job, identities: &[Vec<u8>]) -> Session {
        let session = c.ledger.session();
        let identity = |rank: usize| -> Identity {
            serde_json::from_slice(&identities[rank]).expect("every rank sent its identity")
        };
        let engines = (0..cluster.size())
            .filter_map(|rank| Some((rank, cluster.engine_of_rank(rank)?)))
            .map(|(rank, engine_id)| {
                let id = identity(rank);
                EngineRow {
                    session,
                    engine_id,
                    rank: rank as u32,
                    pid: id.pid,
                    host: id.host.parse().unwrap_or_default(),
                    kernel: id.kernel.parse().unwrap_or_default(),
                    chunks: 0,
                    samples: 0,
                    inside: 0,
                    busy_s: 0.0,
                }
            })
            .collect();
        let progress = Progress::new(c.cli.progress, c.cli.quiet, job.chunks, c.ledger.done());
        let now = Instant::now();
        let mut s = Session {
            cadence: Cadence::new(c.cli.checkpoint_every, now),
            c,
            job: job.clone(),
            ranks: cluster.size() as u32,
            engines_available: cluster.engines() as u32,
            mpi_library: Cluster::library_version(),
            host: Cluster::processor_name(),
            engines,
            startup_s: 0.0,
            start: now,
            start_cpu: process_cpu_time(),
            progress,
            checkpoint_failed: false,
        };
        // From here on a resumable file exists, naming this session's
        // controller (so that no other --resume takes this one's claim).
        let record = s.record(0.0, 0.0, None);
        s.checkpoint(&record);
        s
    }

    /// The parallel section starts.
    fn begin(&mut self, startup_s: f64) {
        self.startup_s = startup_s;
        self.start = Instant::now();
        self.start_cpu = process_cpu_time();
        self.progress.start_clock();
        if self.job.mode == Mode::Balanced {
            let line = report::ready_line(self.engines.len(), &self.job.targets);
            self.c.console.info(&line);
        }
    }

    /// Records a chunk's result; saves a checkpoint when one is due.
    fn hear(&mut self, news: News) {
        if let News::Chunk(mut row) = news {
            row.session = self.c.ledger.session();
            self.c.ledger.add(row);
            self.progress.update(self.c.ledger.done());
            self.cadence.added();
        }
        if self.cadence.due(Instant::now()) {
            let elapsed = self.start.elapsed().as_secs_f64();
            let cpu = process_cpu_time().saturating_sub(self.start_cpu);
            let record = self.record(elapsed, cpu.as_secs_f64(), None);
            self.checkpoint(&record);
            self.cadence.saved(Instant::now());
        }
    }

    /// Saves `record` as the checkpoint; a failure is reported once and the
    /// run goes on (the final write may still succeed).
    fn checkpoint(&mut self, record: &RunRecord) {
        if let Err(e) = self.c.save(record) {
            if !std::mem::replace(&mut self.checkpoint_failed, true) {
                report::warning(&format!("checkpoint not saved: {e}"));
            }
        }
    }

    /// The session is over: writes the results, or the checkpoint if the run
    /// was stopped, and returns the exit status for every rank.
    fn finish(self, cluster: &Cluster, outcome: Outcome) -> i32 {
        self.progress.finish();
        let record = self.record(
            outcome.elapsed.as_secs_f64(),
            outcome.controller_cpu.as_secs_f64(),
            outcome.signal,
        );
        let c = &self.c;
        let done = c.ledger.done();
        let partial = c.output.partial.display().to_string();
        if !c.ledger.is_complete() {
            let signal = outcome
                .signal
                .or_else(signals::caught)
                .expect("stopped by a signal");
            let code = signals::exit_status(signal);
            let saved = c.save(&record);
            c.output.abandon();
            match saved {
                Ok(()) => report::notice(&format!(
                    "interrupted by {}: {done}/{} chunks saved in {partial}; \
                     resume with mcpi --resume {partial}",
                    signals::name(signal),
                    self.job.chunks
                )),
                Err(e) => report::error(&format!(
                    "interrupted by {}, and {e}: {done}/{} chunks are lost",
                    signals::name(signal),
                    self.job.chunks
                )),
            }
            if !outcome.stranded.is_empty() {
                report::error(&format!(
                    "engines {} were still computing after the {} s grace time; \
                     their chunks are lost, and MPI is aborted",
                    report::id_list(&outcome.stranded),
                    c.cli.grace.as_secs_f64()
                ));
                // The lines above reach the user through the launcher, which
                // stops forwarding output once the abort has killed the ranks.
                std::thread::sleep(Duration::from_millis(200));
                cluster.abort(code);
            }
            return code;
        }
        if let Err(e) = publish(c, &record) {
            report::error(&format!(
                "{e} (inside {} of {} points; the last checkpoint is {partial})",
                record.summary.inside, record.summary.samples
            ));
            return EXIT_FAILURE;
        }
        if let Some(e) = report::stdout_failure() {
            let saved = c.output.path.display();
            report::error(&format!(
                "cannot write to stdout: {e} (the results are in {saved})"
            ));
            return EXIT_FAILURE;
        }
        if let Some(signal) = signals::caught() {
            report::notice(&format!(
                "{} arrived after the last chunk; the results are complete in {}",
                signals::name(signal),
                c.output.path.display()
            ));
            return signals::exit_status(signal);
        }
        0
    }

    /// The run's record: every session's chunks and engines, with this
    /// session's timings so far.
    fn record(&self, elapsed_s: f64, controller_cpu_s: f64, signal: Option<i32>) -> RunRecord {
        let (job, ledger) = (&self.job, &self.c.ledger);
        let session = ledger.session();
        let chunks = ledger.rows();
        let mut engines_now = self.engines.clone();
        tally_engines(&mut engines_now, session, &chunks);
        let mut kernels: Vec<&str> = engines_now
            .iter()
            .filter(|e| job.targets.contains(&e.engine_id))
            .map(|e| e.kernel.as_str())
            .collect();
        kernels.sort_unstable();
        kernels.dedup();
        let kernel = kernels.join(",");

        let mut sessions = ledger.sessions.clone();
        sessions.push(SessionRow {
            session,
            started_utc: self.c.started_utc.iso8601().parse().expect("ASCII"),
            mode: job.mode.name().parse().expect("ASCII"),
            ranks: self.ranks,
            engines: self.engines_available,
            engines_used: job.targets.len() as u32,
            elapsed_s,
            startup_s: self.startup_s,
            controller_cpu_s,
            chunks_done: chunks.iter().filter(|c| c.session == session).count() as u64,
            signal: signal.unwrap_or(0) as u32,
            controller_pid: std::process::id(),
            controller_host: self.host.parse().unwrap_or_default(),
        });
        let inside = chunks.iter().map(|c| c.inside).sum();
        let samples_done = chunks.iter().map(|c| c.samples).sum();
        let estimate = match samples_done {
            0 => Estimate::default(),
            n => Estimate::new(inside, n),
        };
        let elapsed_s: f64 = sessions.iter().map(|s| s.elapsed_s).sum();
        let engine_seconds: f64 = sessions
            .iter()
            .map(|s| s.elapsed_s * f64::from(s.engines_used))
            .sum();
        let timings = Timings {
            elapsed_s,
            serial_s: chunks.iter().map(|c| c.compute_s).sum(),
            engines: if elapsed_s > 0.0 {
                engine_seconds / elapsed_s
            } else {
                job.targets.len() as f64
            },
        };
        let controller_cpu_s: f64 = sessions.iter().map(|s| s.controller_cpu_s).sum();
        let summary = Summary {
            schema_version: crate::record::SCHEMA_VERSION,
            mode: job.mode.name().into(),
            ranks: self.ranks,
            engines: self.engines_available,
            targets: job.targets.clone(),
            samples: job.samples,
            chunks: job.chunks,
            chunks_done: chunks.len() as u64,
            samples_done,
            sessions: sessions.len() as u32,
            seed: job.seed,
            rng: rng::RNG_NAME.into(),
            kernel,
            inside,
            pi: estimate.pi,
            stderr: estimate.stderr,
            ci95_low: estimate.ci95_low,
            ci95_high: estimate.ci95_high,
            abs_error: estimate.abs_error,
            elapsed_s: timings.elapsed_s,
            serial_s: timings.serial_s,
            serial_cpu_s: chunks.iter().map(|c| c.compute_cpu_s).sum(),
            startup_s: sessions.iter().map(|s| s.startup_s).sum(),
            speedup: timings.speedup(),
            efficiency: timings.efficiency(),
            controller_cpu_s,
            controller_cpu_share: if timings.elapsed_s > 0.0 {
                controller_cpu_s / timings.elapsed_s
            } else {
                0.0
            },
            window: if job.mode == Mode::Balanced {
                job.window
            } else {
                0
            },
            output: self.c.output.path.display().to_string(),
            mcpi_version: env!("CARGO_PKG_VERSION").into(),
            created_utc: UtcTime::now().iso8601(),
            command: report::command_line(std::env::args_os()),
            mpi_library: self.mpi_library.clone(),
            slurm: self.c.slurm.clone(),
        };
        let mut engines = ledger.engines.clone();
        engines.extend(engines_now);
        RunRecord {
            summary,
            engines,
            chunks,
            sessions,
        }
    }
}

/// Rank 0: writes the results file and reports.
fn publish(c: &Controller, record: &RunRecord) -> Result<(), String> {
    h5::write(record, &c.output.temp).inspect_err(|_| c.output.abandon())?;
    c.output.publish()?;
    let summary = &record.summary;
    if summary.mode == Mode::Direct.name() {
        let session = summary.sessions - 1;
        let engines: Vec<EngineRow> = record
            .engines
            .iter()
            .filter(|e| e.session == session)
            .cloned()
            .collect();
        c.console
            .info(&report::stdout_lines(&engines, &summary.targets));
    }
    if c.cli.json {
        c.console.json(&record.to_json());
    } else {
        c.console.info(&report::summary(record));
    }
    Ok(())
}
