//! The chunk plan: how the samples are cut into chunks, and how chunks are
//! shared among engines in direct mode (like `DirectView.map`: contiguous
//! blocks, [`part_range`]).
//!
//! Splits are exact: `total` items into `parts` parts gives every part
//! `total / parts` items and the first `total % parts` parts one more, so no
//! sample is ever dropped (the tutorial's `[n//100]*100` drops up to 99).

use std::ops::Range;

/// The size of part `index` when `total` items are split into `parts` parts.
pub(crate) fn part_len(total: u64, parts: u64, index: u64) -> u64 {
    debug_assert!(index < parts);
    total / parts + u64::from(index < total % parts)
}

/// The half-open range of items that part `index` gets (parts are contiguous).
pub(crate) fn part_range(total: u64, parts: u64, index: u64) -> Range<u64> {
    let base = total / parts;
    let extra = total % parts;
    let start = index * base + index.min(extra);
    start..start + part_len(total, parts, index)
}

/// The samples of a run cut into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPlan {
    pub samples: u64,
    pub chunks: u64,
}

/// Why samples cannot be cut into chunks.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("--chunks must be at least 1")]
    NoChunks,
    #[error(
        "--chunks {chunks} is more than --samples {samples}: every chunk needs at least one sample"
    )]
    MoreChunksThanSamples { chunks: u64, samples: u64 },
    #[error("--chunks {chunks} is more than the maximum of {MAX_CHUNKS}")]
    TooManyChunks { chunks: u64 },
}

/// Most chunks a run may have: each chunk costs a row of bookkeeping.
pub const MAX_CHUNKS: u64 = 1_000_000;

impl ChunkPlan {
    pub fn new(samples: u64, chunks: u64) -> Result<ChunkPlan, PlanError> {
        if chunks == 0 {
            return Err(PlanError::NoChunks);
        }
        if chunks > samples {
            return Err(PlanError::MoreChunksThanSamples { chunks, samples });
        }
        if chunks > MAX_CHUNKS {
            return Err(PlanError::TooManyChunks { chunks });
        }
        Ok(ChunkPlan { samples, chunks })
    }

    /// Number of samples in chunk `chunk`.
    pub fn chunk_len(&self, chunk: u64) -> u64 {
        part_len(self.samples, self.chunks, chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_exact_and_front_loaded() {
        let plan = ChunkPlan::new(1003, 10).unwrap();
        let lens: Vec<u64> = (0..10).map(|c| plan.chunk_len(c)).collect();
        assert_eq!(lens, [101, 101, 101, 100, 100, 100, 100, 100, 100, 100]);
        for (samples, chunks) in [
            (1, 1),
            (7, 7),
            (100_000_000, 100),
            (u64::MAX, 3),
            (99, 1000),
        ] {
            if let Ok(plan) = ChunkPlan::new(samples, chunks) {
                let sum: u128 = (0..chunks).map(|c| u128::from(plan.chunk_len(c))).sum();
                assert_eq!(sum, u128::from(samples));
            }
        }
    }

    #[test]
    fn shares_tile_the_chunks_in_order() {
        let shares: Vec<_> = (0..3).map(|i| part_range(10, 3, i)).collect();
        assert_eq!(shares, [0..4, 4..7, 7..10]);
        // More engines than chunks: the last ones get nothing.
        let shares: Vec<_> = (0..3).map(|i| part_range(2, 3, i)).collect();
        assert_eq!(shares, [0..1, 1..2, 2..2]);
    }

    #[test]
    fn rejects_impossible_plans() {
        assert_eq!(ChunkPlan::new(10, 0), Err(PlanError::NoChunks));
        assert_eq!(
            ChunkPlan::new(10, 11),
            Err(PlanError::MoreChunksThanSamples {
                chunks: 11,
                samples: 10
            })
        );
        let chunks = MAX_CHUNKS + 1;
        assert_eq!(
            ChunkPlan::new(u64::MAX, chunks),
            Err(PlanError::TooManyChunks { chunks })
        );
    }
}
