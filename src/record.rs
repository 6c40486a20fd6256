//! The result schema: one run's summary, per-engine rows and per-chunk rows.
//!
//! [`Summary`] is both the `--json` object and the HDF5 file's root
//! attributes; [`EngineRow`] and [`ChunkRow`] are the compound rows of the
//! `/engines` and `/chunks` datasets. All times are in seconds.

use crate::slurm::SlurmJob;
use hdf5::types::VarLenUnicode;
use hdf5::H5Type;
use serde::Serialize;

/// Everything a run reports, in the order `--json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub mode: String,
    pub ranks: u32,
    /// Engine ranks available (`len(rc.ids)`); one rank alone counts as one.
    pub engines: u32,
    /// Engine ids that took part.
    pub targets: Vec<u32>,
    pub samples: u64,
    pub chunks: u64,
    pub seed: u64,
    pub rng: String,
    pub kernel: String,
    pub inside: u64,
    pub pi: f64,
    pub stderr: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub abs_error: f64,
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
    pub engine_id: u32,
    pub samples: u64,
    pub inside: u64,
    /// When the chunk was handed out, from the start of the parallel section.
    pub dispatch_s: f64,
    /// When its result was in, from the start of the parallel section.
    pub done_s: f64,
    /// Time the engine spent computing it, measured on the engine.
    pub compute_s: f64,
    /// CPU time the engine got during `compute_s` (less when cores are shared).
    pub compute_cpu_s: f64,
}

/// A whole run: what `--json` prints and what the HDF5 file holds.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub summary: Summary,
    pub engines: Vec<EngineRow>,
    pub chunks: Vec<ChunkRow>,
}

impl RunRecord {
    /// The `--json` object, on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.summary).expect("a summary always serialises")
    }
}

/// Folds chunk rows into per-engine totals, keeping the engines' identities.
/// `engines` is in engine-id order (`engines[i].engine_id == i`).
pub fn tally_engines(engines: &mut [EngineRow], chunks: &[ChunkRow]) {
    for e in engines.iter_mut() {
        e.chunks = 0;
        e.samples = 0;
        e.inside = 0;
        e.busy_s = 0.0;
    }
    for c in chunks {
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
        tally_engines(
            &mut engines,
            &[chunk(0, 1, 7), chunk(1, 0, 8), chunk(2, 1, 6)],
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
