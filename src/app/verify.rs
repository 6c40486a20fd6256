//! `mcpi verify FILE`: recomputes the chunks of a results file or checkpoint
//! (all, or `--sample K` spread evenly) in balanced mode on every engine, and
//! compares each count with the file's row. Writes nothing.
//!
//! Exit status: 0 when every recomputed chunk is bit-identical; 1 when one
//! is not, or the file fails its integrity check or does not add up;
//! 2 when the file cannot be read as mcpi results.

use super::audit::{spread, Mismatch};
use super::decide::Verdict;
use super::{EXIT_FAILURE, EXIT_USAGE};
use crate::config::{Dispatch, Job, Mode, Schedule};
use crate::kernel::rng::RNG_NAME;
use crate::record::{ChunkRow, SCHEMA_VERSION};
use crate::run::dispatch::DEFAULT_WINDOW;
use crate::run::plan::ChunkPlan;
use crate::run::{Flow, News, Outcome};
use crate::store::h5::{self, H5Error};
use crate::sys::signals;
use crate::ui::report;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a stopped verification waits for the chunks being computed.
const GRACE: Duration = Duration::from_secs(30);

/// Rank 0 while the chunks are recomputed.
pub(super) struct Checker {
    path: PathBuf,
    /// The rows to check, by chunk id.
    rows: BTreeMap<u64, ChunkRow>,
    /// Chunks in the file.
    stored: usize,
    checked: usize,
    /// The lowest chunk found to differ.
    mismatch: Option<(u64, Mismatch)>,
}

/// Why a file is not verified before any chunk is recomputed, with the exit
/// status.
fn refuse(code: i32, message: &str) -> (Verdict, Option<Checker>) {
    report::error(message);
    (Verdict::Exit(code), None)
}

/// Rank 0, in a world whose engines are `engines`: reads and checks `path`
/// and decides which chunks to recompute. `kernel` is `MCPI_KERNEL`, as
/// validated.
pub(super) fn decide(
    path: &Path,
    sample: Option<u64>,
    engines: usize,
    kernel: Option<String>,
) -> (Verdict, Option<Checker>) {
    let name = path.display();
    if !path.exists() {
        return refuse(EXIT_USAGE, &format!("{name} does not exist"));
    }
    let stored = match h5::read(path) {
        Ok(stored) => stored,
        Err(e @ H5Error::Integrity { .. }) => return refuse(EXIT_FAILURE, &e.to_string()),
        Err(e) => return refuse(EXIT_USAGE, &e.to_string()),
    };
    match stored.schema_version {
        None => {
            return refuse(
                EXIT_USAGE,
                &format!("{name} has results schema 1, whose chunk rows have no session field: mcpi verify reads schema 2 on"),
            )
        }
        Some(v) if v > u64::from(SCHEMA_VERSION) => {
            return refuse(
                EXIT_USAGE,
                &format!("{name} has results schema {v}, from a newer mcpi; this one reads up to {SCHEMA_VERSION}"),
            )
        }
        Some(_) => {}
    }
    if stored.rng != RNG_NAME {
        let found = stored.rng.escape_debug();
        let why = format!("{name} uses the {found} generator; this mcpi has {RNG_NAME}");
        return refuse(EXIT_USAGE, &why);
    }
    let Ok(plan) = ChunkPlan::new(stored.samples, stored.chunks) else {
        let why = format!(
            "{name} holds an impossible run of {} points in {} chunks",
            stored.samples, stored.chunks
        );
        return refuse(EXIT_FAILURE, &why);
    };
    let mut seen = vec![false; stored.chunks as usize];
    for row in &stored.rows {
        let fits = row.chunk_id < stored.chunks
            && !std::mem::replace(&mut seen[row.chunk_id as usize], true)
            && row.samples == plan.chunk_len(row.chunk_id)
            && row.inside <= row.samples;
        if !fits {
            let why = format!(
                "{name} is inconsistent: its row for chunk {} does not fit the run",
                row.chunk_id
            );
            return refuse(EXIT_FAILURE, &why);
        }
    }
    let used = stored.chunks_used.unwrap_or(u64::MAX);
    let sum: u64 = stored
        .rows
        .iter()
        .filter(|r| r.chunk_id < used)
        .map(|r| r.inside)
        .sum();
    if sum != stored.inside {
        let why = format!(
            "{name} says inside = {}, but its chunks add up to {sum}",
            stored.inside
        );
        return refuse(EXIT_FAILURE, &why);
    }
    let k = sample.map_or(usize::MAX, |k| usize::try_from(k).unwrap_or(usize::MAX));
    let rows: BTreeMap<u64, ChunkRow> = spread(&stored.rows, k)
        .into_iter()
        .map(|r| (r.chunk_id, *r))
        .collect();
    let checker = Checker {
        path: path.to_path_buf(),
        rows,
        stored: stored.rows.len(),
        checked: 0,
        mismatch: None,
    };
    if checker.rows.is_empty() {
        checker.identical();
        return (Verdict::Exit(0), None);
    }
    let mut job = Job {
        mode: Mode::Balanced,
        samples: stored.samples,
        chunks: stored.chunks,
        seed: stored.seed,
        targets: (0..engines as u32).collect(),
        window: DEFAULT_WINDOW as u32,
        schedule: Schedule::Dynamic,
        dispatch: Dispatch::Auto,
        slow: vec![1.0; engines],
        precision: None,
        kernel,
        todo: Vec::new(),
    };
    job.set_todo(&checker.rows.keys().copied().collect::<Vec<_>>());
    (Verdict::Run(job), Some(checker))
}

impl Checker {
    pub(super) fn grace(&self) -> Duration {
        GRACE
    }

    /// Compares a recomputed chunk with its row; enough once one differs.
    pub(super) fn hear(&mut self, news: News) -> Flow {
        let News::Chunk(computed) = news else {
            return Flow::Continue;
        };
        let row = &self.rows[&computed.chunk_id];
        self.checked += 1;
        if let Some(mismatch) = Mismatch::of(&self.path, row, computed.inside) {
            if self
                .mismatch
                .as_ref()
                .is_none_or(|(c, _)| computed.chunk_id < *c)
            {
                self.mismatch = Some((computed.chunk_id, mismatch));
            }
            return Flow::Enough;
        }
        Flow::Continue
    }

    fn identical(&self) {
        let line = format!(
            "{}: bit-identical: {} of {} chunks recomputed",
            self.path.display(),
            self.checked,
            self.stored
        );
        let _ = report::print_to(&mut std::io::stdout(), &line);
    }

    /// The verdict: the exit status, and whether MPI must be aborted
    /// (engines still computing after the grace time).
    pub(super) fn finish(mut self, outcome: Outcome) -> (i32, bool) {
        if let Some((_, mismatch)) = self.mismatch.take() {
            report::error(&mismatch.to_string());
            return (EXIT_FAILURE, !outcome.stranded.is_empty());
        }
        if let Some(signal) = outcome.signal {
            report::notice(&format!(
                "interrupted by {}: {} of {} chunks recomputed, bit-identical so far",
                signals::name(signal),
                self.checked,
                self.rows.len()
            ));
            return (signals::exit_status(signal), !outcome.stranded.is_empty());
        }
        self.identical();
        (0, false)
    }
}
