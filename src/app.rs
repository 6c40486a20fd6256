//! The program: rank 0 decides, every rank runs the job, rank 0 reports.
//!
//! Bad input is caught on rank 0 before any work and the verdict is broadcast,
//! so every rank exits cleanly with one message printed once.

use crate::cli::{Cli, Job, Mode};
use crate::clock::UtcTime;
use crate::cluster::{Cluster, Outcome};
use crate::kernel::Kernel;
use crate::output::{Refusal, Target};
use crate::record::{tally_engines, EngineRow, RunRecord, Summary};
use crate::report::{self, Console, Progress};
use crate::slurm::SlurmJob;
use crate::stats::{Estimate, Timings};
use crate::{h5, output, rng, schedule};
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

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

/// What only rank 0 needs to finish the run.
struct Controller {
    cli: Cli,
    output: Target,
    console: Console,
}

/// Who this process is and what it runs on (gathered on rank 0 at the end).
#[derive(Serialize, Deserialize)]
struct Identity {
    pid: u32,
    host: String,
    kernel: String,
}

/// Runs mcpi on this rank and returns the process exit status.
pub fn main() -> i32 {
    let launched = Instant::now();
    schedule::precise_sleeps();
    output::survive_file_size_limit();
    let cluster = match Cluster::init() {
        Ok(cluster) => cluster,
        Err(e) => {
            report::error(&e);
            return EXIT_FAILURE;
        }
    };
    let (verdict, controller) = if cluster.is_root() {
        let (verdict, controller) = decide(&cluster);
        (Some(verdict), controller)
    } else {
        (None, None)
    };
    let bytes = cluster.agree(verdict.map(|v| serde_json::to_vec(&v).expect("serialisable")));
    let job = match serde_json::from_slice(&bytes).expect("rank 0 sent a verdict") {
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
    cluster.barrier();
    let startup_s = launched.elapsed().as_secs_f64();

    let outcome = match (job.mode, &controller) {
        (Mode::Direct, _) => cluster.run_direct(&job, kernel),
        (Mode::Balanced, Some(c)) => {
            c.console
                .info(&report::ready_line(cluster.engines(), &job.targets));
            let mut progress = Progress::new(c.cli.progress, c.cli.quiet, job.chunks);
            let outcome = cluster.run_balanced(&job, kernel, &mut |done| progress.update(done));
            progress.finish();
            outcome
        }
        (Mode::Balanced, None) => cluster.run_balanced(&job, kernel, &mut |_| {}),
    };
    let me = Identity {
        pid: std::process::id(),
        host: Cluster::processor_name(),
        kernel: kernel.name().to_string(),
    };
    let identities = cluster.gather_bytes(&serde_json::to_vec(&me).expect("serialisable"));
    match (controller, outcome, identities) {
        (Some(c), Some(outcome), Some(ids)) => {
            publish(&c, &assemble(&cluster, &c, &job, outcome, &ids, startup_s))
        }
        _ => 0,
    }
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
    let slurm = SlurmJob::from_env();
    if let Some(Err(e)) = slurm.as_ref().map(|job| job.check_launch(cluster.size())) {
        return refuse(e);
    }
    let kernel_override = std::env::var("MCPI_KERNEL").ok().filter(|k| !k.is_empty());
    if let Err(e) = Kernel::select(kernel_override.as_deref()) {
        return refuse(e);
    }
    let job = match cli.job(cluster.engines(), kernel_override) {
        Ok(job) => job,
        Err(e) => return refuse(e),
    };
    let claimed = match &cli.output {
        Some(path) => output::reserve(path, cli.force).map_err(Refusal::message),
        None => output::reserve_default(
            Path::new(output::RESULTS_DIR),
            job.mode.name(),
            cluster.size() as u32,
            UtcTime::now(),
            slurm.map(|job| job.tag()).as_deref(),
        ),
    };
    let output = match claimed {
        Ok(target) => target,
        Err(e) => return refuse(e),
    };
    if let Err(e) = h5::probe(&output.temp) {
        output.abandon();
        return refuse(e);
    }
    let console = Console {
        json: cli.json,
        quiet: cli.quiet,
    };
    (
        Verdict::Run(job),
        Some(Controller {
            cli,
            output,
            console,
        }),
    )
}

/// Rank 0: writes the results file and reports.
fn publish(c: &Controller, record: &RunRecord) -> i32 {
    let written = h5::write(record, &c.output.temp).inspect_err(|_| c.output.abandon());
    if let Err(e) = written.and_then(|()| c.output.publish()) {
        report::error(&e);
        return EXIT_FAILURE;
    }
    let summary = &record.summary;
    if summary.mode == Mode::Direct.name() {
        c.console
            .info(&report::stdout_lines(&record.engines, &summary.targets));
    }
    if c.cli.json {
        c.console.json(&record.to_json());
    } else {
        c.console.info(&report::summary(record));
    }
    if let Some(e) = report::stdout_failure() {
        let saved = c.output.path.display();
        report::error(&format!(
            "cannot write to stdout: {e} (the results are in {saved})"
        ));
        return EXIT_FAILURE;
    }
    0
}

/// Rank 0: the run's record, from the outcome and every rank's identity.
fn assemble(
    cluster: &Cluster,
    c: &Controller,
    job: &Job,
    outcome: Outcome,
    identities: &[Vec<u8>],
    startup_s: f64,
) -> RunRecord {
    let identity = |rank: usize| -> Identity {
        serde_json::from_slice(&identities[rank]).expect("every rank sent its identity")
    };
    let mut engines: Vec<EngineRow> = (0..cluster.size())
        .filter_map(|rank| Some((rank, cluster.engine_of_rank(rank)?)))
        .map(|(rank, engine_id)| {
            let id = identity(rank);
            EngineRow {
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
    tally_engines(&mut engines, &outcome.chunks);

    let inside = outcome.chunks.iter().map(|c| c.inside).sum();
    let estimate = Estimate::new(inside, job.samples);
    let timings = Timings {
        elapsed_s: outcome.elapsed.as_secs_f64(),
        serial_s: outcome.chunks.iter().map(|c| c.compute_s).sum(),
        engines: job.targets.len(),
    };
    let mut kernels: Vec<&str> = engines
        .iter()
        .filter(|e| job.targets.contains(&e.engine_id))
        .map(|e| e.kernel.as_str())
        .collect();
    kernels.sort_unstable();
    kernels.dedup();
    let controller_cpu_s = outcome.controller_cpu.as_secs_f64();
    let summary = Summary {
        mode: job.mode.name().into(),
        ranks: cluster.size() as u32,
        engines: cluster.engines() as u32,
        targets: job.targets.clone(),
        samples: job.samples,
        chunks: job.chunks,
        seed: job.seed,
        rng: rng::RNG_NAME.into(),
        kernel: kernels.join(","),
        inside,
        pi: estimate.pi,
        stderr: estimate.stderr,
        ci95_low: estimate.ci95_low,
        ci95_high: estimate.ci95_high,
        abs_error: estimate.abs_error,
        elapsed_s: timings.elapsed_s,
        serial_s: timings.serial_s,
        serial_cpu_s: outcome.chunks.iter().map(|c| c.compute_cpu_s).sum(),
        startup_s,
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
        output: c.output.path.display().to_string(),
        mcpi_version: env!("CARGO_PKG_VERSION").into(),
        created_utc: UtcTime::now().iso8601(),
        command: report::command_line(std::env::args_os()),
        mpi_library: Cluster::library_version(),
        slurm: SlurmJob::from_env(),
    };
    RunRecord {
        summary,
        engines,
        chunks: outcome.chunks,
    }
}
