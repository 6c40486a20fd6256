//! Recomputing stored chunks: each chunk's count depends only on (seed,
//! chunk), so a file's row can be checked by computing its chunk again.
//! `--resume` recomputes a few before it trusts a checkpoint; `mcpi verify`
//! compares every chunk it recomputes through [`Mismatch::of`].

use crate::config::Job;
use crate::kernel::Kernel;
use crate::record::ChunkRow;
use crate::run;
use crate::store::h5::Stored;
use std::path::Path;

/// Stored chunks that `--resume` recomputes before continuing a checkpoint:
/// the first and the last (a changed seed changes nearly every chunk's
/// count; a row changed alone is the digest's to catch).
const RESUME_CHECKS: usize = 2;

/// A stored chunk whose count is not what its chunk computes to.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{path}: chunk {chunk} recomputes to {computed} inside, the file says {stored}")]
pub(super) struct Mismatch {
    path: String,
    chunk: u64,
    computed: u64,
    stored: u64,
}

impl Mismatch {
    /// `None` if `computed` points inside match the stored `row`.
    pub(super) fn of(path: &Path, row: &ChunkRow, computed: u64) -> Option<Mismatch> {
        (computed != row.inside).then(|| Mismatch {
            path: path.display().to_string(),
            chunk: row.chunk_id,
            computed,
            stored: row.inside,
        })
    }
}

/// `k` of `rows`, spread evenly from the first to the last, in order.
pub(super) fn spread(rows: &[ChunkRow], k: usize) -> Vec<&ChunkRow> {
    let n = rows.len();
    let mut picked: Vec<usize> = match (n, k) {
        (0, _) | (_, 0) => Vec::new(),
        _ if k >= n => (0..n).collect(),
        (_, 1) => vec![0],
        _ => (0..k).map(|i| i * (n - 1) / (k - 1)).collect(),
    };
    picked.dedup();
    picked.into_iter().map(|i| &rows[i]).collect()
}

/// Recomputes a few of `stored`'s chunks on this rank, with the kernel `job`
/// names (or this CPU's best), for `--resume` of the file at `path`.
pub(super) fn recheck(path: &Path, stored: &Stored, job: &Job) -> Result<(), Mismatch> {
    let kernel = Kernel::select(job.kernel.as_deref()).unwrap_or_else(|_| Kernel::best());
    for row in spread(&stored.rows, RESUME_CHECKS) {
        let computed = run::compute(job, kernel, row.chunk_id).inside;
        if let Some(mismatch) = Mismatch::of(path, row, computed) {
            return Err(mismatch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> Vec<ChunkRow> {
        (0..n)
            .map(|chunk_id| ChunkRow {
                chunk_id,
                session: 0,
                engine_id: 0,
                samples: 1,
                inside: 1,
                dispatch_s: 0.0,
                done_s: 0.0,
                compute_s: 0.0,
                compute_cpu_s: 0.0,
            })
            .collect()
    }

    #[test]
    fn checks_are_spread_from_the_first_to_the_last_row() {
        let ids = |n, k| -> Vec<u64> { spread(&rows(n), k).iter().map(|r| r.chunk_id).collect() };
        assert_eq!(ids(100, 2), [0, 99]);
        assert_eq!(ids(100, 5), [0, 24, 49, 74, 99]);
        assert_eq!(ids(3, 5), [0, 1, 2]);
        assert_eq!(ids(1, 2), [0]);
        assert_eq!(ids(7, 1), [0]);
        assert!(ids(0, 2).is_empty() && ids(5, 0).is_empty());
    }

    #[test]
    fn a_resume_recomputes_the_first_and_last_rows() {
        use crate::config::cli::tests::parse;
        let cli = parse(&["-n", "1000", "-k", "10", "--seed", "7"]).unwrap();
        let job = Job::from_cli(&cli, 1, Some("scalar".into())).unwrap();
        let mut rows = rows(10);
        for row in &mut rows {
            row.samples = 100;
            row.inside = run::compute(&job, Kernel::Scalar, row.chunk_id).inside;
        }
        let stored = |rows: Vec<ChunkRow>| Stored {
            schema_version: Some(4),
            mcpi_version: String::new(),
            rng: String::new(),
            output: String::new(),
            samples: 1000,
            chunks: 10,
            seed: 7,
            precision: None,
            inside: 0,
            chunks_used: None,
            rows,
            engines: Vec::new(),
            sessions: Vec::new(),
        };
        let path = Path::new("r.partial.h5");
        assert_eq!(recheck(path, &stored(rows.clone()), &job), Ok(()));
        let mut last = rows.clone();
        last[9].inside += 1000;
        let err = recheck(path, &stored(last), &job).unwrap_err();
        assert_eq!(err.chunk, 9);
        // A middle row is the digest's to catch, not this spot check's.
        let mut middle = rows.clone();
        middle[4].inside += 1;
        assert_eq!(recheck(path, &stored(middle), &job), Ok(()));
        let other_seed = Job {
            seed: 8,
            ..job.clone()
        };
        assert_eq!(
            recheck(path, &stored(rows), &other_seed).unwrap_err().chunk,
            0
        );
    }

    #[test]
    fn a_mismatch_names_the_chunk_and_both_counts() {
        let row = ChunkRow {
            inside: 786_398,
            ..rows(8)[7]
        };
        let path = Path::new("r.partial.h5");
        assert_eq!(Mismatch::of(path, &row, 786_398), None);
        assert_eq!(
            Mismatch::of(path, &row, 785_398).unwrap().to_string(),
            "r.partial.h5: chunk 7 recomputes to 785398 inside, the file says 786398"
        );
    }
}
