//! Checkpoints and resuming: which chunks are done, over all sessions of a
//! run, when to save them, and whether a file may be resumed.
//!
//! A checkpoint is a base, `<name>.partial.h5`, with the layout of a results
//! file and written whole (a temporary file, flushed, renamed over the old
//! one), and its [journal](super::journal) of the chunks saved since, which
//! rank 0's [writer](super::writer) appends to while the run goes. A crash at
//! any moment leaves the last complete state: a whole base, and the whole
//! records of its journal. At the end rank 0 publishes `<name>.h5` and
//! removes both (or, when a signal stopped the run, writes everything as a
//! new base). `mcpi --resume` reads a checkpoint back ([`load`]) and computes
//! only the missing chunks; each chunk's count depends only on (seed, chunk),
//! so the final count is bit-identical to an uninterrupted run.

use super::h5::{self, Stored};
use super::journal;
use super::output::{OutputError, Target};
use super::StoreError;
use crate::kernel::rng::RNG_NAME;
use crate::record::stats::meets;
use crate::record::{tally_engines, ChunkRow, EngineRow, RunRecord, SessionRow, SCHEMA_VERSION};
use crate::run::plan::{ChunkPlan, PlanError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The chunks of a run computed so far, with the earlier sessions' records.
#[derive(Debug)]
pub(crate) struct Ledger {
    rows: Vec<Option<ChunkRow>>,
    done: u64,
    /// `--precision`: the run is complete once the chunks `0..k` give a 95%
    /// interval of at most +-this, for the smallest such `k`.
    precision: Option<f64>,
    /// The chunks `0..prefix` are all done; their inside and sample totals.
    prefix: u64,
    prefix_inside: u64,
    prefix_samples: u64,
    /// The `k` at which the precision was met.
    met: Option<u64>,
    /// Engines of the earlier sessions.
    pub(crate) engines: Vec<EngineRow>,
    /// The earlier sessions.
    pub(crate) sessions: Vec<SessionRow>,
}

/// Why a run is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Every chunk was computed (no `--precision`).
    AllChunks,
    /// The chunks `0..k` met `--precision`.
    Precision(u64),
    /// `--precision` was not met by all the chunks `--samples` allowed.
    Cap,
}

impl Stop {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stop::AllChunks => "all chunks",
            Stop::Precision(_) => "precision",
            Stop::Cap => "samples cap",
        }
    }
}

impl Ledger {
    /// A run of `chunks` chunks with nothing computed yet.
    pub(crate) fn new(chunks: u64, precision: Option<f64>) -> Ledger {
        Ledger {
            rows: vec![None; chunks as usize],
            done: 0,
            precision,
            prefix: 0,
            prefix_inside: 0,
            prefix_samples: 0,
            met: None,
            engines: Vec::new(),
            sessions: Vec::new(),
        }
    }

    /// The run stored in a file that [`check_resumable`] accepted.
    pub(crate) fn resume(stored: Stored) -> Ledger {
        let mut ledger = Ledger::new(stored.chunks, stored.precision);
        for row in stored.rows {
            ledger.add(row);
        }
        ledger.engines = stored.engines;
        ledger.sessions = stored.sessions;
        ledger
    }

    /// The index of the session now running.
    pub(crate) fn session(&self) -> u32 {
        self.sessions.len() as u32
    }

    pub(crate) fn done(&self) -> u64 {
        self.done
    }

    /// Why the run is complete, or `None` while it is not.
    pub(crate) fn stop(&self) -> Option<Stop> {
        match (self.met, self.precision) {
            (Some(k), _) => Some(Stop::Precision(k)),
            _ if self.done < self.rows.len() as u64 => None,
            (None, None) => Some(Stop::AllChunks),
            (None, Some(_)) => Some(Stop::Cap),
        }
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.stop().is_some()
    }

    /// The chunks still to compute, ascending (all that the cap allows: a
    /// `--precision` run may stop before them).
    pub(crate) fn missing(&self) -> Vec<u64> {
        (0..self.rows.len() as u64)
            .filter(|&c| self.rows[c as usize].is_none())
            .collect()
    }

    /// Records a computed chunk.
    ///
    /// # Panics
    /// If the chunk is unknown or already recorded: the scheduler hands each
    /// chunk out once.
    pub(crate) fn add(&mut self, row: ChunkRow) {
        let slot = &mut self.rows[row.chunk_id as usize];
        assert!(slot.is_none(), "chunk {} computed twice", row.chunk_id);
        *slot = Some(row);
        self.done += 1;
        // Every prefix is looked at in turn, so the smallest one that meets
        // the precision is found whatever order the chunks come in.
        while let Some(Some(next)) = self.rows.get(self.prefix as usize) {
            self.prefix += 1;
            self.prefix_inside += next.inside;
            self.prefix_samples += next.samples;
            if self.met.is_none()
                && self
                    .precision
                    .is_some_and(|p| meets(self.prefix_inside, self.prefix_samples, p))
            {
                self.met = Some(self.prefix);
            }
        }
    }

    /// The computed chunks, in chunk order.
    pub(crate) fn rows(&self) -> Vec<ChunkRow> {
        self.rows.iter().flatten().copied().collect()
    }
}

/// The options given with `--resume` that must agree with the file.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Requested {
    pub(crate) samples: Option<u64>,
    pub(crate) chunks: Option<u64>,
    pub(crate) seed: Option<u64>,
    pub(crate) precision: Option<f64>,
}

/// Why a file cannot be resumed exactly.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum ResumeError {
    #[error("{path} has results schema 1, which has no checkpoints: it cannot be resumed")]
    SchemaOne { path: String },
    #[error("{path} has results schema {found}; this mcpi reads schema {SCHEMA_VERSION}")]
    Schema { path: String, found: u64 },
    #[error(
        "{path} was written by mcpi {}; this is mcpi {}: resume it with the same version",
        .found.escape_debug(), env!("CARGO_PKG_VERSION")
    )]
    McpiVersion { path: String, found: String },
    #[error("{path} uses the {} generator; this mcpi has {RNG_NAME}", .found.escape_debug())]
    Generator { path: String, found: String },
    #[error("{option} {given} does not match {path}, which has {stored}; leave {option} out to resume it")]
    Contradicts {
        path: String,
        option: &'static str,
        given: u64,
        stored: u64,
    },
    #[error(
        "--precision {given} does not match {path}, which has {}; leave --precision out to resume it",
        .stored.map_or("none".to_string(), |p| p.to_string())
    )]
    Precision {
        path: String,
        given: f64,
        stored: Option<f64>,
    },
    #[error("{path} holds an impossible run: {plan}")]
    Impossible { path: String, plan: PlanError },
    #[error("{path} is inconsistent: its row for chunk {chunk} does not fit the run")]
    Inconsistent { path: String, chunk: u64 },
    #[error("{path} holds {what} = {value}, which is not a time (a finite number of seconds, 0 or more)")]
    NotATime {
        path: String,
        what: String,
        value: f64,
    },
    #[error("{path} holds precision = {value}, which is not a positive number")]
    BadPrecision { path: String, value: f64 },
    #[error("cannot read {path}: {detail}")]
    Journal { path: String, detail: String },
}

/// The first time in `stored`'s rows that is not a finite number of
/// seconds, 0 or more, named (`chunk 7's compute_s`), with its value.
fn bad_time(stored: &Stored) -> Option<(String, f64)> {
    let chunks = stored.rows.iter().flat_map(|c| {
        let id = c.chunk_id;
        [
            ("dispatch_s", c.dispatch_s),
            ("done_s", c.done_s),
            ("compute_s", c.compute_s),
            ("compute_cpu_s", c.compute_cpu_s),
        ]
        .map(|(field, v)| (format!("chunk {id}'s {field}"), v))
    });
    let engines = stored.engines.iter().flat_map(|e| {
        let who = format!("session {}'s engine {}", e.session, e.engine_id);
        [("busy_s", e.busy_s), ("idle_s", e.idle_s)]
            .map(|(field, v)| (format!("{who}'s {field}"), v))
    });
    let sessions = stored.sessions.iter().flat_map(|s| {
        let id = s.session;
        [
            ("elapsed_s", s.elapsed_s),
            ("startup_s", s.startup_s),
            ("controller_cpu_s", s.controller_cpu_s),
        ]
        .map(|(field, v)| (format!("session {id}'s {field}"), v))
    });
    chunks
        .chain(engines)
        .chain(sessions)
        .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
}

/// Refuses a file that this mcpi cannot resume exactly: another schema, mcpi
/// version or generator, options that contradict it, or rows that don't fit.
pub(crate) fn check_resumable(
    path: &Path,
    stored: &Stored,
    requested: &Requested,
) -> Result<(), ResumeError> {
    let path = path.display().to_string();
    match stored.schema_version {
        None => return Err(ResumeError::SchemaOne { path }),
        Some(found) if found != u64::from(SCHEMA_VERSION) => {
            return Err(ResumeError::Schema { path, found })
        }
        Some(_) => {}
    }
    if stored.mcpi_version != env!("CARGO_PKG_VERSION") {
        let found = stored.mcpi_version.clone();
        return Err(ResumeError::McpiVersion { path, found });
    }
    if stored.rng != RNG_NAME {
        let found = stored.rng.clone();
        return Err(ResumeError::Generator { path, found });
    }
    for (option, given, stored) in [
        ("--samples", requested.samples, stored.samples),
        ("--chunks", requested.chunks, stored.chunks),
        ("--seed", requested.seed, stored.seed),
    ] {
        if let Some(given) = given.filter(|&g| g != stored) {
            return Err(ResumeError::Contradicts {
                path,
                option,
                given,
                stored,
            });
        }
    }
    if let Some(given) = requested.precision.filter(|&p| Some(p) != stored.precision) {
        return Err(ResumeError::Precision {
            path,
            given,
            stored: stored.precision,
        });
    }
    if let Some(value) = stored.precision.filter(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(ResumeError::BadPrecision { path, value });
    }
    if let Some((what, value)) = bad_time(stored) {
        return Err(ResumeError::NotATime { path, what, value });
    }
    let plan = match ChunkPlan::new(stored.samples, stored.chunks) {
        Ok(plan) => plan,
        Err(plan) => return Err(ResumeError::Impossible { path, plan }),
    };
    let mut seen = vec![false; stored.chunks as usize];
    let sessions = stored.sessions.len() as u32;
    for row in &stored.rows {
        let fits = row.chunk_id < stored.chunks
            && !std::mem::replace(&mut seen[row.chunk_id as usize], true)
            && row.samples == plan.chunk_len(row.chunk_id)
            && row.inside <= row.samples
            && row.session < sessions;
        if !fits {
            let chunk = row.chunk_id;
            return Err(ResumeError::Inconsistent { path, chunk });
        }
    }
    Ok(())
}

/// The checkpoint kept beside the results file `path`: `x.h5` gives
/// `x.partial.h5`, any other name gets `.partial.h5` appended.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.strip_suffix(".h5").unwrap_or(&name);
    path.with_file_name(format!("{stem}.partial.h5"))
}

/// The results file that the checkpoint `partial` completes into: the name
/// the interrupted run was writing (`output` in the file), in the directory
/// the checkpoint is in now. `None` unless `partial` is that name's
/// checkpoint.
pub(crate) fn final_path(partial: &Path, output: &str) -> Option<PathBuf> {
    let result = partial.with_file_name(Path::new(output).file_name()?);
    (partial_path(&result) == partial).then_some(result)
}

/// A base just written: the digest its journal is bound to, and its rows.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Base {
    pub(crate) digest: u64,
    pub(crate) rows: u64,
}

/// Writes `record` as `target`'s base: into its temporary file, then in
/// place of the previous one. The previous base's journal, if any, is no
/// longer read: this base holds its rows.
pub(crate) fn write_base(target: &Target, record: &RunRecord) -> Result<Base, StoreError> {
    target.write_h5(record, &target.partial_temp, &target.partial)?;
    let digest = journal::digest(&target.partial_temp).map_err(|source| OutputError::Write {
        path: target.shown(&target.partial_temp),
        source,
    })?;
    target.checkpoint()?;
    Ok(Base {
        digest,
        rows: record.chunks.len() as u64,
    })
}

/// Reads the checkpoint at `path` with its journal: the base's rows, then
/// the rows of the journal's whole records, but for those the base holds
/// already (a row that is there with other values is kept, for
/// [`check_resumable`] to refuse). The last session's figures are those of
/// its last record: its times, its chunks, its engines' totals.
pub(crate) fn load(path: &Path) -> Result<Stored, StoreError> {
    let mut stored = h5::read(path)?;
    let journal_path = journal::path_of(path);
    let shown = || journal_path.display().to_string();
    let unreadable = |e: std::io::Error| ResumeError::Journal {
        path: shown(),
        detail: e.to_string(),
    };
    let digest = journal::digest(path).map_err(unreadable)?;
    let records = journal::read(&journal_path, digest).map_err(unreadable)?;
    let (Some(last), Some(session)) = (records.last(), stored.sessions.last()) else {
        return Ok(stored);
    };
    let (elapsed_s, controller_cpu_s) = (last.elapsed_s, last.controller_cpu_s);
    let session = session.session;
    let mut seen: HashMap<u64, ChunkRow> = stored.rows.iter().map(|r| (r.chunk_id, *r)).collect();
    let first_engine = stored
        .engines
        .iter()
        .position(|e| e.session == session)
        .unwrap_or(stored.engines.len());
    let engines = &mut stored.engines[first_engine..];
    let inconsistent = |row: &ChunkRow| ResumeError::Inconsistent {
        path: shown(),
        chunk: row.chunk_id,
    };
    for row in records.into_iter().flat_map(|r| r.rows) {
        // The journal holds the chunks of the session that wrote it.
        if row.session != session {
            return Err(inconsistent(&row).into());
        }
        if seen.insert(row.chunk_id, row) != Some(row) {
            stored.rows.push(row);
        }
    }
    let known = |row: &&ChunkRow| {
        row.session != session
            || engines
                .get(row.engine_id as usize)
                .is_some_and(|e| e.engine_id == row.engine_id)
    };
    if let Some(row) = stored.rows.iter().find(|row| !known(row)) {
        return Err(inconsistent(row).into());
    }
    tally_engines(engines, session, elapsed_s, &stored.rows);
    let last = stored.sessions.last_mut().expect("a last session");
    last.elapsed_s = elapsed_s;
    last.controller_cpu_s = controller_cpu_s;
    last.chunks_done = stored.rows.iter().filter(|r| r.session == session).count() as u64;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::example_session;

    fn row(chunk_id: u64, samples: u64) -> ChunkRow {
        ChunkRow {
            chunk_id,
            session: 0,
            engine_id: 0,
            samples,
            inside: samples / 2,
            dispatch_s: 0.0,
            done_s: 0.0,
            compute_s: 0.0,
            compute_cpu_s: 0.0,
        }
    }

    fn session() -> SessionRow {
        SessionRow {
            controller_cpu_s: 0.0,
            chunks_done: 2,
            signal: 15,
            ..example_session()
        }
    }

    /// 10 points in 4 chunks (3, 3, 2, 2), chunks 1 and 3 done.
    fn stored() -> Stored {
        Stored {
            schema_version: Some(u64::from(SCHEMA_VERSION)),
            mcpi_version: env!("CARGO_PKG_VERSION").into(),
            rng: RNG_NAME.into(),
            output: "r.h5".into(),
            samples: 10,
            chunks: 4,
            seed: 7,
            precision: None,
            inside: 2,
            chunks_used: Some(2),
            rows: vec![row(1, 3), row(3, 2)],
            engines: Vec::new(),
            sessions: vec![session()],
        }
    }

    #[test]
    fn the_ledger_knows_what_is_missing() {
        let mut ledger = Ledger::resume(stored());
        assert_eq!((ledger.session(), ledger.done()), (1, 2));
        assert_eq!(ledger.missing(), [0, 2]);
        ledger.add(row(0, 3));
        ledger.add(row(2, 2));
        assert!(ledger.is_complete());
        let ids: Vec<u64> = ledger.rows().iter().map(|r| r.chunk_id).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
    }

    #[test]
    #[should_panic(expected = "computed twice")]
    fn a_chunk_is_recorded_once() {
        let mut ledger = Ledger::resume(stored());
        ledger.add(row(1, 3));
    }

    #[test]
    fn resumable_files_are_checked() {
        let path = Path::new("r.partial.h5");
        let ok = Requested::default();
        assert_eq!(check_resumable(path, &stored(), &ok), Ok(()));
        let same = Requested {
            samples: Some(10),
            chunks: Some(4),
            seed: Some(7),
            precision: None,
        };
        assert_eq!(check_resumable(path, &stored(), &same), Ok(()));
        let precise = Requested {
            precision: Some(1e-3),
            ..Requested::default()
        };
        let err = check_resumable(path, &stored(), &precise).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--precision 0.001 does not match r.partial.h5, which has none; \
             leave --precision out to resume it"
        );

        let refused = |stored: Stored, requested: &Requested| {
            check_resumable(path, &stored, requested).unwrap_err()
        };
        let path = || "r.partial.h5".to_string();
        let seed = Requested {
            seed: Some(8),
            ..Requested::default()
        };
        let err = refused(stored(), &seed);
        assert_eq!(
            err.to_string(),
            "--seed 8 does not match r.partial.h5, which has 7; leave --seed out to resume it"
        );
        let v1 = Stored {
            schema_version: None,
            ..stored()
        };
        assert_eq!(refused(v1, &ok), ResumeError::SchemaOne { path: path() });
        for found in [3, 5] {
            let other = Stored {
                schema_version: Some(found),
                ..stored()
            };
            let err = ResumeError::Schema {
                path: path(),
                found,
            };
            assert_eq!(refused(other, &ok), err);
        }
        let old = Stored {
            mcpi_version: "0.0.1".into(),
            ..stored()
        };
        let found = "0.0.1".to_string();
        assert_eq!(
            refused(old, &ok),
            ResumeError::McpiVersion {
                path: path(),
                found
            }
        );
        let rng = Stored {
            rng: "xorshift".into(),
            ..stored()
        };
        let found = "xorshift".to_string();
        assert_eq!(
            refused(rng, &ok),
            ResumeError::Generator {
                path: path(),
                found
            }
        );
        let mut nan = stored();
        nan.rows[1].compute_s = f64::NAN;
        assert_eq!(
            refused(nan, &ok).to_string(),
            "r.partial.h5 holds chunk 3's compute_s = NaN, which is not a time \
             (a finite number of seconds, 0 or more)"
        );
        let mut inf = stored();
        inf.sessions[0].elapsed_s = f64::INFINITY;
        assert!(refused(inf, &ok)
            .to_string()
            .contains("session 0's elapsed_s = inf"));
        let odd = Stored {
            mcpi_version: "0.1\n\u{fffd}".into(),
            ..stored()
        };
        assert!(refused(odd, &ok)
            .to_string()
            .starts_with("r.partial.h5 was written by mcpi 0.1\\n\u{fffd}; this is"));
        for (bad, chunk) in [(row(1, 2), 1), (row(4, 2), 4), (row(3, 2), 3)] {
            let mut s = stored();
            s.rows.push(bad);
            assert_eq!(
                refused(s, &ok),
                ResumeError::Inconsistent {
                    path: path(),
                    chunk
                }
            );
        }
    }

    #[test]
    fn a_checkpoint_is_its_base_and_its_journal() {
        use crate::record::example_record;
        use journal::{Journal, Record};
        let dir = std::env::temp_dir().join(format!("mcpi-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let target = super::super::output::reserve(&dir.join("r.h5"), false).unwrap();
        let chunk = |id| ChunkRow {
            engine_id: (id % 2) as u32,
            compute_s: 0.25,
            ..row(id, 1000)
        };
        let base = write_base(&target, &example_record(10, vec![chunk(0), chunk(1)])).unwrap();
        let record = |ids: &[u64]| Record {
            elapsed_s: 5.0,
            controller_cpu_s: 0.5,
            rows: ids.iter().map(|&id| chunk(id)).collect(),
        };
        // A row the base holds already, identical, is read once.
        Journal::start(&target.journal, base.digest, &record(&[1, 2, 3])).unwrap();
        let stored = load(&target.partial).unwrap();
        let ids: Vec<u64> = stored.rows.iter().map(|r| r.chunk_id).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        // The session as of its last record: its times, chunks and engines.
        let s = &stored.sessions[0];
        assert_eq!(
            (s.elapsed_s, s.controller_cpu_s, s.chunks_done),
            (5.0, 0.5, 4)
        );
        let engines: Vec<(u64, f64)> = stored
            .engines
            .iter()
            .map(|e| (e.chunks, e.busy_s))
            .collect();
        assert_eq!(engines, [(2, 0.5), (2, 0.5)]);
        assert_eq!(
            check_resumable(&target.partial, &stored, &Requested::default()),
            Ok(())
        );

        // The same chunk with another count: refused on resume.
        let mut other = record(&[2]);
        other.rows[0].inside += 1;
        let mut j = Journal::start(&target.journal, base.digest, &record(&[2])).unwrap();
        j.append(&other).unwrap();
        let stored = load(&target.partial).unwrap();
        let err = check_resumable(&target.partial, &stored, &Requested::default());
        assert!(
            matches!(err, Err(ResumeError::Inconsistent { chunk: 2, .. })),
            "{err:?}"
        );
        // Rows of another session, or of an engine the session did not have.
        for bad in [
            ChunkRow {
                session: 1,
                ..chunk(4)
            },
            ChunkRow {
                engine_id: 2,
                ..chunk(4)
            },
        ] {
            let mut wrong = record(&[]);
            wrong.rows.push(bad);
            Journal::start(&target.journal, base.digest, &wrong).unwrap();
            let err = load(&target.partial).unwrap_err().to_string();
            assert!(
                err.contains("r.partial.h5.journal is inconsistent: its row for chunk 4"),
                "{err}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn checkpoints_sit_beside_their_results() {
        for (result, partial) in [
            ("results/a.h5", "results/a.partial.h5"),
            ("b", "b.partial.h5"),
            ("c.hdf5", "c.hdf5.partial.h5"),
        ] {
            assert_eq!(partial_path(Path::new(result)), Path::new(partial));
        }
        let moved = Path::new("elsewhere/a.partial.h5");
        assert_eq!(
            final_path(moved, "results/a.h5"),
            Some(PathBuf::from("elsewhere/a.h5"))
        );
        assert_eq!(
            final_path(Path::new("b.partial.h5"), "b"),
            Some(PathBuf::from("b"))
        );
        assert_eq!(final_path(Path::new("a.h5"), "a.h5"), None);
        assert_eq!(final_path(Path::new("x.partial.h5"), "a.h5"), None);
    }
}
