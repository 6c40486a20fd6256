//! The result schema: one run's summary, per-engine rows and per-chunk rows.
//!
//! [`Summary`] is both the `--json` object and the HDF5 file's root
//! attributes; [`EngineRow`] and [`ChunkRow`] are the compound rows of the
//! `/engines`, `/chunks` and `/sessions` datasets. All times are in seconds.
//!
//! A run may span several sessions: one that was interrupted (and left a
//! `.partial.h5` file) and the `mcpi --resume` runs that completed it.

use crate::slurm::SlurmJob;
use hdf5::types::VarLenUnicode;
use hdf5::H5Type;
use serde::Serialize;

/// Version of the file layout, stored as the `schema_version` attribute.
/// Version 1 (mcpi 0.1 before checkpoints) had no such attribute, no
/// `/sessions` and no `session` fields.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a run reports, in the order `--json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub schema_version: u32,
    /// Mode of the latest session.
    pub mode: String,
    pub ranks: u32,
    /// Engine ranks available (`len(rc.ids)`); one rank alone counts as one.
    pub engines: u32,
    /// Engine ids that took part.
    pub targets: Vec<u32>,
    pub samples: u64,
    pub chunks: u64,
    /// Chunks computed so far (`chunks` once the run is complete).
    pub chunks_done: u64,
    /// Points in the computed chunks; `pi` and its error are estimated from
    /// these.
    pub samples_done: u64,
    /// Sessions the run took: 1, plus one per `--resume`.
    pub sessions: u32,
    pub seed: u64,
    pub rng: String,
    pub kernel: String,
    pub inside: u64,
    pub pi: f64,
    pub stderr: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub abs_error: f64,
    /// Parallel-section wall time, summed over sessions.
    pub elapsed_s: f64,
    pub serial_s: f64,
    /// Sum of the per-chunk CPU times: below `serial_s` when engines share cores.
    pub serial_cpu_s: f64,
    pub startup_s: f64,
    pub speedup: f64,
    pub efficiency: f64,
    pub controller_cpu_s: f64,
    /// `controller_cpu_s / elapsed_s`.
    pub controller_cpu_share: f64,
    /// Balanced mode's chunks in flight per engine (0 in direct mode).
    pub window: u32,
    pub output: String,
    pub mcpi_version: String,
    pub created_utc: String,
    pub command: String,
    pub mpi_library: String,
    /// The Slurm job, as the `slurm_*` attributes; none outside Slurm, and
    /// each one only when Slurm set it.
    #[serde(flatten)]
    pub slurm: Option<SlurmJob>,
}

/// One engine's share of the work (`/engines`).
#[derive(H5Type, Clone, Debug, PartialEq)]
#[repr(C)]
pub struct EngineRow {
    pub session: u32,
    pub engine_id: u32,
    pub rank: u32,
    pub pid: u32,
    pub host: VarLenUnicode,
    /// Sampling kernel the engine ran.
    pub kernel: VarLenUnicode,
    pub chunks: u64,
    pub samples: u64,
    pub inside: u64,
    /// Sum of this engine's chunk compute times.
    pub busy_s: f64,
}

/// One chunk (`/chunks`).
#[derive(H5Type, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct ChunkRow {
    pub chunk_id: u64,
    /// The session that computed it.
    pub session: u32,
    pub engine_id: u32,
    pub samples: u64,
    pub inside: u64,
    /// When the chunk was handed out, from the start of its session's
    /// parallel section.
    pub dispatch_s: f64,
    /// When its result was in, from the start of the parallel section.
    pub done_s: f64,
    /// Time the engine spent computing it, measured on the engine.
    pub compute_s: f64,
    /// CPU time the engine got during `compute_s` (less when cores are shared).
    pub compute_cpu_s: f64,
}

/// One session of a run (`/sessions`).
#[derive(H5Type, Clone, Debug, PartialEq)]
#[repr(C)]
pub struct SessionRow {
    pub session: u32,
    pub started_utc: VarLenUnicode,
    pub mode: VarLenUnicode,
    pub ranks: u32,
    pub engines: u32,
    /// Engines that computed (the session's `--targets`).
    pub engines_used: u32,
    pub elapsed_s: f64,
    pub startup_s: f64,
    pub controller_cpu_s: f64,
    /// Chunks this session computed.
    pub chunks_done: u64,
    /// The signal that interrupted the session, 0 if it ran to its end.
    pub signal: u32,
    /// Rank 0's process id and host: a `--resume` may take over the
    /// temporary file that a crashed session left, once that process is gone.
    pub controller_pid: u32,
    pub controller_host: VarLenUnicode,
}

/// A whole run: what `--json` prints and what the HDF5 file holds.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub summary: Summary,
    /// Every session's engines.
    pub engines: Vec<EngineRow>,
    /// The computed chunks, in chunk order.
    pub chunks: Vec<ChunkRow>,
    pub sessions: Vec<SessionRow>,
}

impl RunRecord {
    /// The `--json` object, on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.summary).expect("a summary always serialises")
    }
}

/// Folds one session's chunk rows into its engines' totals, keeping the
/// engines' identities. `engines` is in engine-id order
/// (`engines[i].engine_id == i`); chunks of other sessions are skipped.
pub fn tally_engines(engines: &mut [EngineRow], session: u32, chunks: &[ChunkRow]) {
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
}

/// An engine row for tests: engine `id` on rank `id + 1`, with stale totals.
#[cfg(test)]
pub(crate) fn example_engine(id: u32, pid: u32) -> EngineRow {
    EngineRow {
        session: 0,
        engine_id: id,
        rank: id + 1,
        pid,
        host: "node".parse().unwrap(),
        kernel: "scalar".parse().unwrap(),
        chunks: 9,
        samples: 9,
        inside: 9,
        busy_s: 9.0,
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
            &[chunk(0, 1, 7), chunk(1, 0, 8), chunk(2, 1, 6), earlier],
        );
        let totals: Vec<_> = engines
            .iter()
            .map(|e| (e.chunks, e.samples, e.inside))
            .collect();
        assert_eq!(totals, [(1, 10, 8), (2, 20, 13), (0, 0, 0)]);
        assert_eq!(engines[1].busy_s, 0.5);
        assert_eq!(engines[1].pid, 101);
    }
}
