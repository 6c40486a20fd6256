//! The result schema: what a run records, as plain Rust values.
//!
//! [`Summary`] is both the `--json` object and the HDF5 file's root
//! attributes; [`EngineRow`], [`ChunkRow`] and [`SessionRow`] are the rows of
//! the `/engines`, `/chunks` and `/sessions` datasets, which
//! [`crate::store::h5`] maps to HDF5 types. All times are in seconds.
//!
//! A run may span several sessions: one that was interrupted (and left a
//! `.partial.h5` file) and the `mcpi --resume` runs that completed it.

pub mod stats;

use crate::sys::slurm::SlurmJob;
use serde::Serialize;

/// Version of the file layout, stored as the `schema_version` attribute.
/// Version 1 (mcpi 0.1 before checkpoints) had no such attribute, no
/// `/sessions` and no `session` fields; version 2 had no schedules,
/// stragglers, imbalance or `--precision` (the `schedule`, `precision`,
/// `stopped_by`, `chunks_used`, `samples_used`, `imbalance` and
/// `balance_loss_s` attributes, `/engines`' `slow` and `idle_s`, and
/// `/sessions`' `schedule`); version 3 had no `digest` attribute
/// ([`crate::store::h5`]).
pub(crate) const SCHEMA_VERSION: u32 = 4;

/// Everything a run reports, in the order `--json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct Summary {
    pub(crate) schema_version: u32,
    /// Mode of the latest session.
    pub(crate) mode: String,
    pub(crate) ranks: u32,
    /// Engine ranks available (`len(rc.ids)`); one rank alone counts as one.
    pub(crate) engines: u32,
    /// Engine ids that took part.
    pub(crate) targets: Vec<u32>,
    pub(crate) samples: u64,
    pub(crate) chunks: u64,
    /// Chunks computed so far (`chunks` once the run is complete).
    pub(crate) chunks_done: u64,
    /// Points in the computed chunks.
    pub(crate) samples_done: u64,
    /// The chunks `0..chunks_used` and their points, which `inside`, `pi`
    /// and its error come from: every computed chunk, but with
    /// `--precision`, the shortest prefix that met it (the chunks computed
    /// beyond it are discarded).
    pub(crate) chunks_used: u64,
    pub(crate) samples_used: u64,
    /// Sessions the run took: 1, plus one per `--resume`.
    pub(crate) sessions: u32,
    pub(crate) seed: u64,
    pub(crate) rng: String,
    pub(crate) kernel: String,
    pub(crate) inside: u64,
    pub(crate) pi: f64,
    pub(crate) stderr: f64,
    pub(crate) ci95_low: f64,
    pub(crate) ci95_high: f64,
    pub(crate) abs_error: f64,
    /// Parallel-section wall time, summed over sessions.
    pub(crate) elapsed_s: f64,
    pub(crate) serial_s: f64,
    /// Sum of the per-chunk CPU times: below `serial_s` when engines share cores.
    pub(crate) serial_cpu_s: f64,
    pub(crate) startup_s: f64,
    pub(crate) speedup: f64,
    pub(crate) efficiency: f64,
    pub(crate) controller_cpu_s: f64,
    /// `controller_cpu_s / elapsed_s`.
    pub(crate) controller_cpu_share: f64,
    /// Balanced mode's chunks in flight per engine (0 in direct mode).
    pub(crate) window: u32,
    /// How the latest session handed out chunks: balanced mode's schedule
    /// (`dynamic`, `guided`, `static`) or direct mode's split (`blocks`, or
    /// `cyclic` with `--precision`).
    pub(crate) schedule: String,
    /// `--precision`: the half-width of the 95% interval to stop at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) precision: Option<f64>,
    /// Why the run is complete: `all chunks`, `precision` or `samples cap`
    /// (`--precision` not met); none while it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stopped_by: Option<String>,
    /// Load imbalance: the busiest engine's busy time over the mean busy
    /// time of the engines that worked, minus 1 (0 is a perfect balance).
    pub(crate) imbalance: f64,
    /// What the imbalance and the overheads cost: the elapsed time minus
    /// the busy time per engine, summed over sessions (`elapsed_s` is the
    /// makespan).
    pub(crate) balance_loss_s: f64,
    pub(crate) output: String,
    pub(crate) mcpi_version: String,
    pub(crate) created_utc: String,
    pub(crate) command: String,
    pub(crate) mpi_library: String,
    /// The Slurm job, as the `slurm_*` attributes; none outside Slurm, and
    /// each one only when Slurm set it.
    #[serde(flatten)]
    pub(crate) slurm: Option<SlurmJob>,
}

/// One engine's share of the work (`/engines`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EngineRow {
    pub(crate) session: u32,
    pub(crate) engine_id: u32,
    pub(crate) rank: u32,
    pub(crate) pid: u32,
    pub(crate) host: String,
    /// Sampling kernel the engine ran.
    pub(crate) kernel: String,
    pub(crate) chunks: u64,
    pub(crate) samples: u64,
    pub(crate) inside: u64,
    /// Sum of this engine's chunk compute times.
    pub(crate) busy_s: f64,
    /// Its session's elapsed time not spent computing.
    pub(crate) idle_s: f64,
    /// `--slow`: how many times as long its chunks took (1: not slowed).
    pub(crate) slow: f64,
}

/// One chunk (`/chunks`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ChunkRow {
    pub(crate) chunk_id: u64,
    /// The session that computed it.
    pub(crate) session: u32,
    pub(crate) engine_id: u32,
    pub(crate) samples: u64,
    pub(crate) inside: u64,
    /// When the chunk was handed out, from the start of its session's
    /// parallel section.
    pub(crate) dispatch_s: f64,
    /// When its result was in, from the start of the parallel section.
    pub(crate) done_s: f64,
    /// Time the engine spent computing it, measured on the engine.
    pub(crate) compute_s: f64,
    /// CPU time the engine got during `compute_s` (less when cores are shared).
    pub(crate) compute_cpu_s: f64,
}

/// One session of a run (`/sessions`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SessionRow {
    pub(crate) session: u32,
    pub(crate) started_utc: String,
    pub(crate) mode: String,
    /// See [`Summary::schedule`].
    pub(crate) schedule: String,
    pub(crate) ranks: u32,
    pub(crate) engines: u32,
    /// Engines that computed (the session's `--targets`).
    pub(crate) engines_used: u32,
    pub(crate) elapsed_s: f64,
    pub(crate) startup_s: f64,
    pub(crate) controller_cpu_s: f64,
    /// Chunks this session computed.
    pub(crate) chunks_done: u64,
    /// The signal that interrupted the session, 0 if it ran to its end.
    pub(crate) signal: u32,
    /// Rank 0's process id and host.
    pub(crate) controller_pid: u32,
    pub(crate) controller_host: String,
}

/// A whole run: what `--json` prints and what the HDF5 file holds.
#[derive(Clone, Debug)]
pub(crate) struct RunRecord {
    pub(crate) summary: Summary,
    /// Every session's engines.
    pub(crate) engines: Vec<EngineRow>,
    /// The computed chunks, in chunk order.
    pub(crate) chunks: Vec<ChunkRow>,
    pub(crate) sessions: Vec<SessionRow>,
}

impl RunRecord {
    /// The `--json` object, on one line.
    ///
    /// The summary's fields, then `per_engine`: the latest session's
    /// targeted engines with their chunks, busy and idle time and slow-down.
    pub(crate) fn to_json(&self) -> String {
        let mut object = serde_json::to_value(&self.summary).expect("a summary always serialises");
        let last = self.summary.sessions.saturating_sub(1);
        let per_engine: Vec<serde_json::Value> = self
            .engines
            .iter()
            .filter(|e| e.session == last && self.summary.targets.contains(&e.engine_id))
            .map(|e| {
                serde_json::json!({
                    "engine_id": e.engine_id,
                    "chunks": e.chunks,
                    "busy_s": e.busy_s,
                    "idle_s": e.idle_s,
                    "slow": e.slow,
                })
            })
            .collect();
        object["per_engine"] = per_engine.into();
        object.to_string()
    }
}

/// Folds one session's chunk rows into its engines' totals, keeping the
/// engines' identities. `engines` is in engine-id order
/// (`engines[i].engine_id == i`); chunks of other sessions are skipped.
pub(crate) fn tally_engines(
    engines: &mut [EngineRow],
    session: u32,
    elapsed_s: f64,
    chunks: &[ChunkRow],
) {
    for e in engines.iter_mut() {
        e.chunks = 0;
        e.samples = 0;
        e.inside = 0;
        e.busy_s = 0.0;
    }
    for c in chunks.iter().filter(|c| c.session == session) {
        let e = engines
            .get_mut(c.engine_id as usize)
            .filter(|e| e.engine_id == c.engine_id)
            .expect("every chunk row names a known engine");
        e.chunks += 1;
        e.samples += c.samples;
        e.inside += c.inside;
        e.busy_s += c.compute_s;
    }
    for e in engines.iter_mut() {
        e.idle_s = (elapsed_s - e.busy_s).max(0.0);
    }
}

/// A run's load balance from its sessions and chunk rows. Per session, its
/// busiest engine's busy time and the mean busy time per engine used
/// (targeted engines that got no chunk count, through `engines_used`); the
/// imbalance is the sum of the former over the sum of the latter, minus 1
/// (for one session: max / mean - 1), so sessions weigh by their length. The
/// balance loss is, per session, its elapsed time minus its busy time per
/// engine used, summed.
pub(crate) fn balance(sessions: &[SessionRow], chunks: &[ChunkRow]) -> (f64, f64) {
    let (mut busiest, mut mean, mut loss) = (0.0, 0.0, 0.0);
    for s in sessions {
        let mut busy: std::collections::BTreeMap<u32, f64> = Default::default();
        for c in chunks.iter().filter(|c| c.session == s.session) {
            *busy.entry(c.engine_id).or_default() += c.compute_s;
        }
        let per_engine = busy.values().sum::<f64>() / f64::from(s.engines_used.max(1));
        busiest += busy.values().copied().fold(0.0, f64::max);
        mean += per_engine;
        loss += s.elapsed_s - per_engine;
    }
    let imbalance = if mean > 0.0 {
        busiest / mean - 1.0
    } else {
        0.0
    };
    (imbalance, loss)
}

/// An engine row for tests: engine `id` on rank `id + 1`, with stale totals.
#[cfg(test)]
pub(crate) fn example_engine(id: u32, pid: u32) -> EngineRow {
    EngineRow {
        session: 0,
        engine_id: id,
        rank: id + 1,
        pid,
        host: "node".into(),
        kernel: "scalar".into(),
        chunks: 9,
        samples: 9,
        inside: 9,
        busy_s: 9.0,
        idle_s: 9.0,
        slow: 1.0,
    }
}

/// The session of [`example_record`], with no chunk done.
#[cfg(test)]
pub(crate) fn example_session() -> SessionRow {
    SessionRow {
        session: 0,
        started_utc: "2026-11-29T00:00:00Z".into(),
        mode: "balanced".into(),
        schedule: "dynamic".into(),
        ranks: 3,
        engines: 2,
        engines_used: 2,
        elapsed_s: 1.0,
        startup_s: 0.1,
        controller_cpu_s: 0.01,
        chunks_done: 0,
        signal: 0,
        controller_pid: 1,
        controller_host: "node".into(),
    }
}

/// A run of `chunks` chunks for tests: one session of two engines on
/// ranks 1 and 2, with `rows` (of that session) done.
#[cfg(test)]
pub(crate) fn example_record(chunks: u64, rows: Vec<ChunkRow>) -> RunRecord {
    let engines: Vec<EngineRow> = (0..2).map(|id| example_engine(id, 100 + id)).collect();
    let samples: u64 = rows.iter().map(|r| r.samples).sum();
    let inside: u64 = rows.iter().map(|r| r.inside).sum();
    let session = SessionRow {
        chunks_done: rows.len() as u64,
        ..example_session()
    };
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        mode: "balanced".into(),
        ranks: 3,
        engines: 2,
        targets: vec![0, 1],
        samples: 1000 * chunks,
        chunks,
        chunks_done: rows.len() as u64,
        samples_done: samples,
        chunks_used: rows.len() as u64,
        samples_used: samples,
        sessions: 1,
        seed: 7,
        rng: crate::kernel::rng::RNG_NAME.into(),
        kernel: "scalar".into(),
        inside,
        pi: 3.0,
        stderr: 0.1,
        ci95_low: 2.8,
        ci95_high: 3.2,
        abs_error: 0.14,
        elapsed_s: 1.0,
        serial_s: 1.0,
        serial_cpu_s: 1.0,
        startup_s: 0.1,
        speedup: 1.0,
        efficiency: 0.5,
        controller_cpu_s: 0.01,
        controller_cpu_share: 0.01,
        window: 2,
        schedule: "dynamic".into(),
        precision: None,
        stopped_by: None,
        imbalance: 0.0,
        balance_loss_s: 0.0,
        output: "r.h5".into(),
        mcpi_version: env!("CARGO_PKG_VERSION").into(),
        created_utc: "2026-11-29T00:00:01Z".into(),
        command: "mcpi".into(),
        mpi_library: "test".into(),
        slurm: None,
    };
    RunRecord {
        summary,
        engines,
        chunks: rows,
        sessions: vec![session],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(id: u32) -> EngineRow {
        example_engine(id, 100 + id)
    }

    fn chunk(chunk_id: u64, engine_id: u32, inside: u64) -> ChunkRow {
        ChunkRow {
            chunk_id,
            session: 0,
            engine_id,
            samples: 10,
            inside,
            dispatch_s: 0.0,
            done_s: 0.5,
            compute_s: 0.25,
            compute_cpu_s: 0.25,
        }
    }

    #[test]
    fn tally_sums_each_engines_chunks() {
        let mut engines = vec![engine(0), engine(1), engine(2)];
        let earlier = ChunkRow {
            session: 1,
            ..chunk(3, 2, 5)
        };
        tally_engines(
            &mut engines,
            0,
            2.0,
            &[chunk(0, 1, 7), chunk(1, 0, 8), chunk(2, 1, 6), earlier],
        );
        let totals: Vec<_> = engines
            .iter()
            .map(|e| (e.chunks, e.samples, e.inside))
            .collect();
        assert_eq!(totals, [(1, 10, 8), (2, 20, 13), (0, 0, 0)]);
        assert_eq!(engines[1].busy_s, 0.5);
        assert_eq!(engines[1].idle_s, 1.5);
        assert_eq!(engines[2].idle_s, 2.0);
        assert_eq!(engines[1].pid, 101);
    }

    fn session(session: u32, engines_used: u32, elapsed_s: f64) -> SessionRow {
        SessionRow {
            session,
            started_utc: String::new(),
            mode: "balanced".into(),
            schedule: "dynamic".into(),
            ranks: engines_used + 1,
            engines: engines_used,
            engines_used,
            elapsed_s,
            startup_s: 0.0,
            controller_cpu_s: 0.0,
            chunks_done: 0,
            signal: 0,
            controller_pid: 0,
            controller_host: String::new(),
        }
    }

    #[test]
    fn balance_is_the_busiest_over_the_mean_and_the_time_lost() {
        let timed = |id, engine, session, compute_s| ChunkRow {
            session,
            compute_s,
            ..chunk(id, engine, 1)
        };
        // Engine 0 busy 3 s, engine 1 busy 1 s, in 3.5 s: mean 2 s.
        let chunks = [timed(0, 0, 0, 3.0), timed(1, 1, 0, 1.0)];
        let (imbalance, loss) = balance(&[session(0, 2, 3.5)], &chunks);
        assert_eq!(imbalance, 0.5);
        assert_eq!(loss, 1.5);
        // A targeted engine without chunks still counts in the mean.
        let (imbalance, _) = balance(&[session(0, 4, 3.5)], &chunks);
        assert_eq!(imbalance, 2.0);
        // Two sessions, each weighing by its length: (3 + 1) / (2 + 1) - 1.
        let more = [
            chunks[0],
            chunks[1],
            timed(2, 0, 1, 1.0),
            timed(3, 1, 1, 1.0),
        ];
        let sessions = [session(0, 2, 3.5), session(1, 2, 1.0)];
        let (imbalance, loss) = balance(&sessions, &more);
        assert!((imbalance - 1.0 / 3.0).abs() < 1e-12, "{imbalance}");
        assert_eq!(loss, 1.5);
        // A long balanced session and a short one stay balanced.
        let even = [
            timed(0, 0, 0, 10.0),
            timed(1, 1, 0, 10.0),
            timed(2, 0, 1, 0.1),
            timed(3, 1, 1, 0.1),
        ];
        let sessions = [session(0, 2, 10.0), session(1, 2, 0.1)];
        assert_eq!(balance(&sessions, &even).0, 0.0);
        assert_eq!(balance(&[], &[]), (0.0, 0.0));
    }
}
