//! Rank 0 during a session: records chunks as they arrive, hands them to the
//! checkpoint writer thread, and writes the results (or the checkpoint of an
//! interrupted run) at the end.

use super::{Identity, EXIT_FAILURE};
use crate::config::{Job, Mode, Settings};
use crate::kernel::rng;
use crate::record::stats::{Estimate, Timings};
use crate::record::{
    balance, tally_engines, ChunkRow, EngineRow, RunRecord, SessionRow, Summary, SCHEMA_VERSION,
};
use crate::run::transport::Alarm;
use crate::run::{self, Flow, News, Outcome};
use crate::store::checkpoint::{self, Base, Ledger, Stop};
use crate::store::output::Target;
use crate::store::writer::{Policy, Writer};
use crate::store::StoreError;
use crate::sys::clock::{process_cpu_time, UtcTime};
use crate::sys::signals;
use crate::sys::slurm::SlurmJob;
use crate::ui::progress::Progress;
use crate::ui::report;
use std::time::{Duration, Instant};

/// What only rank 0 holds from its decision to the end of the run.
pub(super) struct Controller {
    pub(super) settings: Settings,
    pub(super) output: Target,
    /// The chunks done so far, with the earlier sessions.
    pub(super) ledger: Ledger,
    pub(super) started_utc: UtcTime,
    /// The Slurm job the run is part of, as its environment says.
    pub(super) slurm: Option<SlurmJob>,
}

impl Controller {
    /// Writes `record` as the whole checkpoint (a new base).
    fn save(&self, record: &RunRecord) -> Result<Base, StoreError> {
        checkpoint::write_base(&self.output, record)
    }
}

/// How the session ends on rank 0: the exit status for every rank, and
/// whether MPI must be aborted (engines still computing after the grace time).
pub(super) struct Ending {
    pub(super) code: i32,
    pub(super) abort: bool,
}

impl Ending {
    fn exit(code: i32) -> Ending {
        Ending { code, abort: false }
    }
}

/// Rank 0 during one session.
pub(super) struct Session {
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
    /// Saves the chunks from the start of the parallel section to the end.
    writer: Option<Writer>,
    /// Drawn once the parallel section starts.
    progress: Option<Progress>,
    /// Set once a checkpoint failed (warned about once).
    checkpoint_failed: bool,
}

impl Session {
    /// Rank 0 in a world of `ranks`, once every rank's identity is in: the
    /// session's engine rows and the first checkpoint of a fresh run.
    /// `identities` are in rank order; `mpi_library` names the MPI library.
    pub(super) fn new(
        c: Controller,
        job: &Job,
        identities: &[Identity],
        mpi_library: String,
    ) -> Session {
        let ranks = identities.len();
        let session = c.ledger.session();
        let engines = (0..ranks)
            .filter_map(|rank| Some((rank, run::engine_of_rank(ranks, rank)?)))
            .map(|(rank, engine_id)| {
                let id = &identities[rank];
                EngineRow {
                    session,
                    engine_id,
                    rank: rank as u32,
                    pid: id.pid,
                    host: id.host.clone(),
                    kernel: id.kernel.clone(),
                    chunks: 0,
                    samples: 0,
                    inside: 0,
                    busy_s: 0.0,
                    idle_s: 0.0,
                    slow: job.slow(engine_id),
                }
            })
            .collect();
        let now = Instant::now();
        let mut s = Session {
            c,
            job: job.clone(),
            ranks: ranks as u32,
            engines_available: run::engines(ranks) as u32,
            mpi_library,
            host: identities[0].host.clone(),
            engines,
            startup_s: 0.0,
            start: now,
            start_cpu: process_cpu_time(),
            writer: None,
            progress: None,
            checkpoint_failed: false,
        };
        // From here on a resumable file exists, naming this session's
        // controller (so that no other --resume takes this one's claim).
        let record = s.record(0.0, 0.0, None);
        let base = s.c.save(&record).map_err(|e| s.warn(e)).ok();
        // Started now, so that starting a thread is not part of the
        // parallel section.
        s.writer = Some(Writer::start(
            s.c.output.clone(),
            base,
            Policy::every(s.c.settings.checkpoint_every),
        ));
        s
    }

    /// The parallel section starts: the `ready:` line, then the progress.
    pub(super) fn begin(&mut self, startup_s: f64) {
        self.startup_s = startup_s;
        self.start = Instant::now();
        self.start_cpu = process_cpu_time();
        let settings = &self.c.settings;
        if self.job.mode == Mode::Balanced {
            let line = report::ready_line(self.engines.len(), &self.job.targets);
            settings.console.info(&line);
        }
        self.progress = Some(Progress::new(
            settings.progress,
            settings.console.quiet,
            self.job.chunks,
            self.c.ledger.done(),
        ));
        if let Some(writer) = &mut self.writer {
            writer.origin(self.start, self.start_cpu);
        }
    }

    /// How long to wait for the chunks being computed after a signal.
    pub(super) fn grace(&self) -> Duration {
        self.c.settings.grace
    }

    /// Records a chunk's result and hands it to the checkpoint writer, which
    /// saves it without holding the controller up. Returns [`Flow::Enough`]
    /// once `--precision` is met.
    pub(super) fn hear(&mut self, news: News) -> Flow {
        if let News::Chunk(mut row) = news {
            row.session = self.c.ledger.session();
            self.c.ledger.add(row);
            if let Some(progress) = &mut self.progress {
                progress.update(self.c.ledger.done());
            }
            if let Some(writer) = &mut self.writer {
                writer.add(row);
            }
        }
        if let (News::Waiting, Some(writer)) = (news, &mut self.writer) {
            writer.send();
        }
        if self.writer.as_ref().is_some_and(Writer::wants_base) {
            let elapsed = self.start.elapsed().as_secs_f64();
            let cpu = process_cpu_time().saturating_sub(self.start_cpu);
            let record = self.record(elapsed, cpu.as_secs_f64(), None);
            if let Some(writer) = &mut self.writer {
                writer.base(record);
            }
        }
        if let Some(e) = self.writer.as_ref().and_then(Writer::failure) {
            self.warn(e);
        }
        match self.c.ledger.stop() {
            Some(Stop::Precision(_)) => Flow::Enough,
            _ => Flow::Continue,
        }
    }

    /// A checkpoint could not be saved: said once, and the run goes on (the
    /// next save or the final write may still succeed).
    fn warn(&mut self, e: StoreError) {
        if !std::mem::replace(&mut self.checkpoint_failed, true) {
            report::warning(&format!("checkpoint not saved: {e}"));
        }
    }

    /// The session is over: saves every chunk the writer has not saved yet,
    /// then writes the results, or the whole checkpoint if the run was
    /// stopped, and returns the exit status for every rank.
    /// `alarm` tells whether a signal came after the last chunk.
    pub(super) fn finish(mut self, outcome: Outcome, alarm: &impl Alarm) -> Ending {
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        // Without a new base, the base and the journal hold every chunk.
        let flushed = self.writer.take().map_or(Ok(()), Writer::finish);
        let record = self.record(
            outcome.elapsed.as_secs_f64(),
            outcome.controller_cpu.as_secs_f64(),
            outcome.signal,
        );
        let c = &self.c;
        let done = c.ledger.done();
        let partial = c.output.shown(&c.output.partial).display().to_string();
        if !c.ledger.is_complete() {
            let signal = outcome
                .signal
                .or_else(|| alarm.caught())
                .expect("stopped by a signal");
            let code = signals::exit_status(signal);
            // Everything in one base, readable alone; if that fails, the
            // flushed journal still holds every chunk.
            let saved = match c.save(&record) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&c.output.journal);
                    Ok(())
                }
                Err(e) => flushed.map_err(|_| e),
            };
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
                return self.strand(&outcome, signal, "their chunks are lost", code);
            }
            return Ending::exit(code);
        }
        if let Err(e) = publish(c, &record) {
            let kept = match c.output.checkpoint_kept() {
                true => format!("the last checkpoint is {partial}"),
                false => "no checkpoint is left".into(),
            };
            report::error(&format!(
                "{e} (inside {} of {} points; {kept})",
                record.summary.inside, record.summary.samples
            ));
            return Ending::exit(EXIT_FAILURE);
        }
        if let Some(e) = report::stdout_failure() {
            let saved = c.output.shown(&c.output.path).display().to_string();
            report::error(&format!(
                "cannot write to stdout: {e} (the results are in {saved})"
            ));
            return Ending::exit(EXIT_FAILURE);
        }
        if let Some(signal) = alarm.caught() {
            let results = c.output.shown(&c.output.path).display().to_string();
            let code = signals::exit_status(signal);
            if !outcome.stranded.is_empty() {
                // --precision was met, then a signal came while the engines
                // were finishing chunks the results no longer need.
                let why = format!("the results, complete without them, are in {results}");
                return self.strand(&outcome, signal, &why, code);
            }
            report::notice(&format!(
                "{} arrived after the last chunk; the results are complete in {results}",
                signals::name(signal),
            ));
            return Ending::exit(code);
        }
        Ending::exit(0)
    }

    /// Engines still computing when the grace time ran out, or when a
    /// second `signal` came: says so (with what became of their chunks) and
    /// ends with an MPI abort.
    fn strand(&self, outcome: &Outcome, signal: i32, chunks: &str, code: i32) -> Ending {
        let stranded = &outcome.stranded;
        let who = match stranded.len() {
            1 => "engine {} was",
            _ => "engines {} were",
        }
        .replace("{}", &report::id_list(stranded));
        let when = match outcome.hurried {
            true => format!("still running when a second {} came", signals::name(signal)),
            false => format!(
                "still computing after the {} s grace time",
                self.c.settings.grace.as_secs_f64()
            ),
        };
        report::error(&format!("{who} {when}; {chunks}, and MPI is aborted"));
        Ending { code, abort: true }
    }

    /// The run's record: every session's chunks and engines, with this
    /// session's timings so far.
    fn record(&self, elapsed_s: f64, controller_cpu_s: f64, signal: Option<i32>) -> RunRecord {
        let (job, ledger) = (&self.job, &self.c.ledger);
        let session = ledger.session();
        let chunks = ledger.rows();
        let mut engines_now = self.engines.clone();
        tally_engines(&mut engines_now, session, elapsed_s, &chunks);
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
            started_utc: self.c.started_utc.iso8601(),
            mode: job.mode.name().into(),
            schedule: job.schedule_name().into(),
            ranks: self.ranks,
            engines: self.engines_available,
            engines_used: job.targets.len() as u32,
            elapsed_s,
            startup_s: self.startup_s,
            controller_cpu_s,
            chunks_done: chunks.iter().filter(|c| c.session == session).count() as u64,
            signal: signal.unwrap_or(0) as u32,
            controller_pid: std::process::id(),
            controller_host: self.host.clone(),
        });
        let stop = ledger.stop();
        // The chunks behind pi: with --precision met, the prefix that met
        // it; the ones computed beyond it are discarded.
        let used: Vec<&ChunkRow> = match stop {
            Some(Stop::Precision(k)) => chunks.iter().filter(|c| c.chunk_id < k).collect(),
            _ => chunks.iter().collect(),
        };
        let inside = used.iter().map(|c| c.inside).sum();
        let samples_used = used.iter().map(|c| c.samples).sum();
        let samples_done = chunks.iter().map(|c| c.samples).sum();
        let estimate = match samples_used {
            0 => Estimate::default(),
            n => Estimate::new(inside, n),
        };
        let (imbalance, balance_loss_s) = balance(&sessions, &chunks);
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
            schema_version: SCHEMA_VERSION,
            mode: job.mode.name().into(),
            ranks: self.ranks,
            engines: self.engines_available,
            targets: job.targets.clone(),
            samples: job.samples,
            chunks: job.chunks,
            chunks_done: chunks.len() as u64,
            samples_done,
            chunks_used: used.len() as u64,
            samples_used,
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
            schedule: job.schedule_name().into(),
            precision: job.precision,
            stopped_by: stop.map(|s| s.name().into()),
            imbalance,
            balance_loss_s,
            output: self
                .c
                .output
                .shown(&self.c.output.path)
                .display()
                .to_string(),
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
fn publish(c: &Controller, record: &RunRecord) -> Result<(), StoreError> {
    c.output
        .write_h5(record, &c.output.temp, &c.output.path)
        .inspect_err(|_| c.output.abandon())?;
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
        let lines = report::stdout_lines(&engines, &summary.targets);
        c.settings.console.info(&lines);
    }
    if c.settings.console.json {
        c.settings.console.json(&record.to_json());
    } else {
        c.settings.console.info(&report::summary(record));
    }
    Ok(())
}
