//! The HDF5 results file: root attributes from [`Summary`], datasets
//! `/engines`, `/chunks` and `/sessions` of the compound types below; and
//! reading one back to resume it. Only this module knows HDF5's types.
//!
//! [`Summary`]: crate::record::Summary

use crate::record::{ChunkRow, EngineRow, RunRecord, SessionRow, SCHEMA_VERSION};
use hdf5::types::VarLenUnicode;
use hdf5::H5Type;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Checks, before any work, that HDF5 can create a file at `path` (it
/// truncates whatever is there). Shared file systems without locking fail here
/// rather than after the run.
pub(crate) fn probe(path: &Path) -> Result<(), H5Error> {
    hdf5::File::create(path)
        .and_then(|file| file.close())
        .map_err(|e| H5Error::Create {
            path: path.to_path_buf(),
            detail: one_line(&e),
        })
}

/// Why a results file cannot be written or read. HDF5's own reason is kept
/// as its text, on one line.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum H5Error {
    #[error("HDF5 cannot create {}: {detail}", .path.display())]
    Create { path: PathBuf, detail: String },
    #[error("cannot write {}: {detail}", .path.display())]
    Write { path: PathBuf, detail: String },
    #[error("{} is not a readable HDF5 file ({detail}); it may be truncated or corrupt", .path.display())]
    Unreadable { path: PathBuf, detail: String },
    #[error("{} is not an mcpi results file: {what} ({detail})", .path.display())]
    NotMcpi {
        path: PathBuf,
        what: String,
        detail: String,
    },
}

impl H5Error {
    /// The same error, naming the file as `shown` (where the user sees it)
    /// instead of the path it was written through.
    pub(crate) fn shown_as(mut self, shown: PathBuf) -> H5Error {
        match &mut self {
            H5Error::Create { path, .. }
            | H5Error::Write { path, .. }
            | H5Error::Unreadable { path, .. }
            | H5Error::NotMcpi { path, .. } => *path = shown,
        }
        self
    }
}

/// Writes `record` to `path`, replacing what is there, and flushes it to
/// stable storage.
pub(crate) fn write(record: &RunRecord, path: &Path) -> Result<(), H5Error> {
    write_file(record, path)
        .map_err(|e| one_line(&e))
        .and_then(|()| {
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| e.to_string())
        })
        .map_err(|detail| H5Error::Write {
            path: path.to_path_buf(),
            detail,
        })
}

/// What a results file holds, as far as resuming it needs.
#[derive(Debug)]
pub(crate) struct Stored {
    /// `None` for schema 1 files, which had no such attribute.
    pub(crate) schema_version: Option<u64>,
    pub(crate) mcpi_version: String,
    pub(crate) rng: String,
    /// The results file the run was writing, as given.
    pub(crate) output: String,
    pub(crate) samples: u64,
    pub(crate) chunks: u64,
    pub(crate) seed: u64,
    /// `--precision`, if the run has one.
    pub(crate) precision: Option<f64>,
    pub(crate) rows: Vec<ChunkRow>,
    pub(crate) engines: Vec<EngineRow>,
    pub(crate) sessions: Vec<SessionRow>,
}

/// Reads the results file at `path`.
pub(crate) fn read(path: &Path) -> Result<Stored, H5Error> {
    let file = hdf5::File::open(path).map_err(|e| H5Error::Unreadable {
        path: path.to_path_buf(),
        detail: one_line(&e),
    })?;
    let not_mcpi = |what: &str, e: hdf5::Error| H5Error::NotMcpi {
        path: path.to_path_buf(),
        what: what.into(),
        detail: one_line(&e),
    };
    let int = |name: &str| -> Result<u64, H5Error> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(|e| not_mcpi(&format!("no attribute {name}"), e))
    };
    let text = |name: &str| -> Result<String, H5Error> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|s| s.as_str().to_string())
            .map_err(|e| not_mcpi(&format!("no attribute {name}"), e))
    };
    let schema_version = file
        .attr_names()
        .map_err(|e| not_mcpi("no attributes", e))?
        .contains(&"schema_version".to_string())
        .then(|| int("schema_version"))
        .transpose()?;
    let mut stored = Stored {
        schema_version,
        mcpi_version: text("mcpi_version")?,
        rng: text("rng")?,
        output: text("output")?,
        samples: int("samples")?,
        chunks: int("chunks")?,
        seed: int("seed")?,
        precision: None,
        rows: Vec::new(),
        engines: Vec::new(),
        sessions: Vec::new(),
    };
    if schema_version == Some(u64::from(SCHEMA_VERSION)) {
        let names = file
            .attr_names()
            .map_err(|e| not_mcpi("no attributes", e))?;
        if names.iter().any(|n| n == "precision") {
            let precision = file
                .attr("precision")
                .and_then(|a| a.read_scalar::<f64>())
                .map_err(|e| not_mcpi("an unreadable precision", e))?;
            stored.precision = Some(precision);
        }
        let table = |name: &str| {
            file.dataset(name)
                .map_err(|e| not_mcpi(&format!("no /{name} dataset"), e))
        };
        let bad = |name: &'static str| move |e| not_mcpi(&format!("unexpected /{name} rows"), e);
        let rows: Vec<H5Chunk> = table("chunks")?.read_raw().map_err(bad("chunks"))?;
        let engines: Vec<H5Engine> = table("engines")?.read_raw().map_err(bad("engines"))?;
        let sessions: Vec<H5Session> = table("sessions")?.read_raw().map_err(bad("sessions"))?;
        stored.rows = rows.iter().map(ChunkRow::from).collect();
        stored.engines = engines.iter().map(EngineRow::from).collect();
        stored.sessions = sessions.iter().map(SessionRow::from).collect();
    }
    Ok(stored)
}

/// A row of `/engines`: [`EngineRow`] as HDF5 stores it.
#[derive(H5Type, Clone, Debug, PartialEq)]
#[repr(C)]
pub struct H5Engine {
    pub session: u32,
    pub engine_id: u32,
    pub rank: u32,
    pub pid: u32,
    pub host: VarLenUnicode,
    pub kernel: VarLenUnicode,
    pub chunks: u64,
    pub samples: u64,
    pub inside: u64,
    pub busy_s: f64,
    pub idle_s: f64,
    pub slow: f64,
}

/// A row of `/chunks`: [`ChunkRow`] as HDF5 stores it.
#[derive(H5Type, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct H5Chunk {
    pub chunk_id: u64,
    pub session: u32,
    pub engine_id: u32,
    pub samples: u64,
    pub inside: u64,
    pub dispatch_s: f64,
    pub done_s: f64,
    pub compute_s: f64,
    pub compute_cpu_s: f64,
}

/// A row of `/sessions`: [`SessionRow`] as HDF5 stores it.
#[derive(H5Type, Clone, Debug, PartialEq)]
#[repr(C)]
pub struct H5Session {
    pub session: u32,
    pub started_utc: VarLenUnicode,
    pub mode: VarLenUnicode,
    pub schedule: VarLenUnicode,
    pub ranks: u32,
    pub engines: u32,
    pub engines_used: u32,
    pub elapsed_s: f64,
    pub startup_s: f64,
    pub controller_cpu_s: f64,
    pub chunks_done: u64,
    pub signal: u32,
    pub controller_pid: u32,
    pub controller_host: VarLenUnicode,
}

/// `text` as an HDF5 string, which cannot hold NUL: those are dropped.
fn unicode(text: &str) -> VarLenUnicode {
    text.replace('\0', "")
        .parse()
        .expect("text without NUL is a valid HDF5 string")
}

impl From<&EngineRow> for H5Engine {
    fn from(e: &EngineRow) -> Self {
        H5Engine {
            session: e.session,
            engine_id: e.engine_id,
            rank: e.rank,
            pid: e.pid,
            host: unicode(&e.host),
            kernel: unicode(&e.kernel),
            chunks: e.chunks,
            samples: e.samples,
            inside: e.inside,
            busy_s: e.busy_s,
            idle_s: e.idle_s,
            slow: e.slow,
        }
    }
}

impl From<&H5Engine> for EngineRow {
    fn from(e: &H5Engine) -> Self {
        EngineRow {
            session: e.session,
            engine_id: e.engine_id,
            rank: e.rank,
            pid: e.pid,
            host: e.host.as_str().into(),
            kernel: e.kernel.as_str().into(),
            chunks: e.chunks,
            samples: e.samples,
            inside: e.inside,
            busy_s: e.busy_s,
            idle_s: e.idle_s,
            slow: e.slow,
        }
    }
}

impl From<&ChunkRow> for H5Chunk {
    fn from(c: &ChunkRow) -> Self {
        H5Chunk {
            chunk_id: c.chunk_id,
            session: c.session,
            engine_id: c.engine_id,
            samples: c.samples,
            inside: c.inside,
            dispatch_s: c.dispatch_s,
            done_s: c.done_s,
            compute_s: c.compute_s,
            compute_cpu_s: c.compute_cpu_s,
        }
    }
}

impl From<&H5Chunk> for ChunkRow {
    fn from(c: &H5Chunk) -> Self {
        ChunkRow {
            chunk_id: c.chunk_id,
            session: c.session,
            engine_id: c.engine_id,
            samples: c.samples,
            inside: c.inside,
            dispatch_s: c.dispatch_s,
            done_s: c.done_s,
            compute_s: c.compute_s,
            compute_cpu_s: c.compute_cpu_s,
        }
    }
}

impl From<&SessionRow> for H5Session {
    fn from(s: &SessionRow) -> Self {
        H5Session {
            session: s.session,
            started_utc: unicode(&s.started_utc),
            mode: unicode(&s.mode),
            schedule: unicode(&s.schedule),
            ranks: s.ranks,
            engines: s.engines,
            engines_used: s.engines_used,
            elapsed_s: s.elapsed_s,
            startup_s: s.startup_s,
            controller_cpu_s: s.controller_cpu_s,
            chunks_done: s.chunks_done,
            signal: s.signal,
            controller_pid: s.controller_pid,
            controller_host: unicode(&s.controller_host),
        }
    }
}

impl From<&H5Session> for SessionRow {
    fn from(s: &H5Session) -> Self {
        SessionRow {
            session: s.session,
            started_utc: s.started_utc.as_str().into(),
            mode: s.mode.as_str().into(),
            schedule: s.schedule.as_str().into(),
            ranks: s.ranks,
            engines: s.engines,
            engines_used: s.engines_used,
            elapsed_s: s.elapsed_s,
            startup_s: s.startup_s,
            controller_cpu_s: s.controller_cpu_s,
            chunks_done: s.chunks_done,
            signal: s.signal,
            controller_pid: s.controller_pid,
            controller_host: s.controller_host.as_str().into(),
        }
    }
}

/// An HDF5 error as one line: its chain of failures and, when a system call
/// failed, the system's reason. HDF5 appends the details of the call (time,
/// file descriptor, buffer address, byte counts) over two lines.
fn one_line(error: &hdf5::Error) -> String {
    one_line_text(&error.to_string())
}

fn one_line_text(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(details) = text.find(" = ") else {
        return text;
    };
    let chain = match text[..details].rfind(": ") {
        Some(end) => &text[..end],
        None => &text[..details],
    };
    let reason = text
        .split_once("error message = '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(reason, _)| reason);
    match reason {
        Some(reason) => format!("{chain}: {reason}"),
        None => chain.to_string(),
    }
}

fn write_file(record: &RunRecord, path: &Path) -> hdf5::Result<()> {
    let file = hdf5::File::create(path)?;
    let summary = serde_json::to_value(&record.summary).expect("a summary always serialises");
    let Value::Object(fields) = summary else {
        unreachable!("Summary is a struct")
    };
    for (name, value) in &fields {
        match value {
            Value::Null => {}
            Value::String(s) => {
                let s: VarLenUnicode = s
                    .parse()
                    .map_err(|e| hdf5::Error::from(format!("{name}: {e}")))?;
                file.new_attr::<VarLenUnicode>()
                    .create(name.as_str())?
                    .write_scalar(&s)?;
            }
            Value::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => file
                    .new_attr::<u64>()
                    .create(name.as_str())?
                    .write_scalar(&u)?,
                (None, Some(f)) => file
                    .new_attr::<f64>()
                    .create(name.as_str())?
                    .write_scalar(&f)?,
                (None, None) => unreachable!("serde_json numbers are u64, i64 or f64"),
            },
            Value::Array(items) => {
                let ints: Vec<u64> = items.iter().filter_map(Value::as_u64).collect();
                assert_eq!(
                    ints.len(),
                    items.len(),
                    "{name}: only arrays of ids are stored"
                );
                file.new_attr_builder()
                    .with_data(&ints)
                    .create(name.as_str())?;
            }
            Value::Bool(_) | Value::Object(_) => unreachable!("{name}: not part of the schema"),
        }
    }
    let engines: Vec<H5Engine> = record.engines.iter().map(H5Engine::from).collect();
    let chunks: Vec<H5Chunk> = record.chunks.iter().map(H5Chunk::from).collect();
    let sessions: Vec<H5Session> = record.sessions.iter().map(H5Session::from).collect();
    file.new_dataset_builder()
        .with_data(&engines)
        .create("engines")?;
    file.new_dataset_builder()
        .with_data(&chunks)
        .create("chunks")?;
    file.new_dataset_builder()
        .with_data(&sessions)
        .create("sessions")?;
    file.close()
}

#[cfg(test)]
mod tests {
    use super::one_line_text;

    #[test]
    fn hdf5_errors_become_one_line_with_the_system_reason() {
        // As HDF5 1.10 reports a full disk and a failed open.
        let full = "H5Dwrite(): can't write data: file write failed: time = Sun Nov 29 02:42:09 2026\n\
                    , filename = 'full/.x.h5.tmp', file descriptor = 27, errno = 28, error message = \
                    'No space left on device', buf = 0x7f233bfbb770, total write size = 5357728, \
                    bytes this sub-write = 5357728, bytes actually written = 18446744073709551615, offset = 0";
        assert_eq!(
            one_line_text(full),
            "H5Dwrite(): can't write data: file write failed: No space left on device"
        );
        let open = "H5Fcreate(): unable to create file: unable to open file: name = 'ro/x.h5', \
                    errno = 30, error message = 'Read-only file system', flags = 13, o_flags = 242";
        assert_eq!(
            one_line_text(open),
            "H5Fcreate(): unable to create file: unable to open file: Read-only file system"
        );
        assert_eq!(
            one_line_text("H5Fcreate(): unable to\n truncate a file"),
            "H5Fcreate(): unable to truncate a file"
        );
    }
}
