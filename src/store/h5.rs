//! The HDF5 results file: root attributes from [`Summary`], datasets
//! `/engines`, `/chunks` and `/sessions` of the compound types below, and the
//! `digest` attribute over all of them ([`super::digest`]); and reading one
//! back, with every value of the type mcpi writes and the digest checked.
//! Only this module knows HDF5's types.
//!
//! [`Summary`]: crate::record::Summary

use super::digest::Digest;
use crate::record::{ChunkRow, EngineRow, RunRecord, SessionRow};
use hdf5::types::{FloatSize, IntSize, TypeDescriptor, VarLenUnicode};
use hdf5::H5Type;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The first schema whose files carry a `digest`.
const DIGEST_SINCE: u64 = 4;
/// The digest's attribute.
const DIGEST: &str = "digest";

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
    #[error("{} is not an mcpi results file: {what}", .path.display())]
    NotMcpi { path: PathBuf, what: String },
    #[error(
        "{} fails its integrity check: {what}; it was changed or corrupted after mcpi wrote it",
        .path.display()
    )]
    Integrity { path: PathBuf, what: String },
}

impl H5Error {
    /// The same error, naming the file as `shown` (where the user sees it)
    /// instead of the path it was written through.
    pub(crate) fn shown_as(mut self, shown: PathBuf) -> H5Error {
        match &mut self {
            H5Error::Create { path, .. }
            | H5Error::Write { path, .. }
            | H5Error::Unreadable { path, .. }
            | H5Error::NotMcpi { path, .. }
            | H5Error::Integrity { path, .. } => *path = shown,
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

/// What a results file holds, as far as resuming or verifying it needs.
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
    /// The root `inside`: points inside among the chunks behind the estimate.
    pub(crate) inside: u64,
    /// Those chunks, `0..chunks_used` (schema 3 on; before, every chunk).
    pub(crate) chunks_used: Option<u64>,
    /// `/chunks`: empty in schema 1 files, whose rows lack `session`.
    pub(crate) rows: Vec<ChunkRow>,
    /// `/engines` and `/sessions`: schema 3 on.
    pub(crate) engines: Vec<EngineRow>,
    pub(crate) sessions: Vec<SessionRow>,
}

/// A root attribute as HDF5 holds it.
#[derive(Clone, Debug, PartialEq)]
enum Attr {
    U64(u64),
    F64(f64),
    /// A string, as its bytes (mcpi writes UTF-8; a changed file may not).
    Text(Vec<u8>),
    /// An array of u64: `targets`.
    Ids(Vec<u64>),
    /// A type mcpi never writes, described.
    Other(String),
}

/// The root attributes by name, in byte order (the digest's order).
type Attrs = BTreeMap<String, Attr>;

/// The digest of a file's attributes (but `digest`) and rows.
fn digest(
    attrs: &Attrs,
    engines: &[H5Engine],
    chunks: &[H5Chunk],
    sessions: &[H5Session],
) -> String {
    let mut d = Digest::new();
    for (name, value) in attrs.iter().filter(|(name, _)| *name != DIGEST) {
        d.text(name.as_bytes());
        match value {
            Attr::U64(v) => {
                d.tag(b'u');
                d.u64(*v);
            }
            Attr::F64(v) => {
                d.tag(b'f');
                d.f64(*v);
            }
            Attr::Text(t) => {
                d.tag(b's');
                d.text(t);
            }
            Attr::Ids(ids) => {
                d.tag(b'a');
                d.u64(ids.len() as u64);
                ids.iter().for_each(|&id| d.u64(id));
            }
            Attr::Other(what) => {
                d.tag(b'?');
                d.text(what.as_bytes());
            }
        }
    }
    d.text(b"engines");
    d.u64(engines.len() as u64);
    for e in engines {
        for v in [e.session, e.engine_id, e.rank, e.pid] {
            d.u64(v.into());
        }
        d.text(e.host.as_bytes());
        d.text(e.kernel.as_bytes());
        [e.chunks, e.samples, e.inside]
            .into_iter()
            .for_each(|v| d.u64(v));
        [e.busy_s, e.idle_s, e.slow]
            .into_iter()
            .for_each(|v| d.f64(v));
    }
    d.text(b"chunks");
    d.u64(chunks.len() as u64);
    for c in chunks {
        d.u64(c.chunk_id);
        d.u64(c.session.into());
        d.u64(c.engine_id.into());
        [c.samples, c.inside].into_iter().for_each(|v| d.u64(v));
        [c.dispatch_s, c.done_s, c.compute_s, c.compute_cpu_s]
            .into_iter()
            .for_each(|v| d.f64(v));
    }
    d.text(b"sessions");
    d.u64(sessions.len() as u64);
    for s in sessions {
        d.u64(s.session.into());
        for t in [&s.started_utc, &s.mode, &s.schedule] {
            d.text(t.as_bytes());
        }
        [s.ranks, s.engines, s.engines_used]
            .into_iter()
            .for_each(|v| d.u64(v.into()));
        [s.elapsed_s, s.startup_s, s.controller_cpu_s]
            .into_iter()
            .for_each(|v| d.f64(v));
        d.u64(s.chunks_done);
        [s.signal, s.controller_pid]
            .into_iter()
            .for_each(|v| d.u64(v.into()));
        d.text(s.controller_host.as_bytes());
    }
    d.finish()
}

/// Every root attribute of `file`, each as the type HDF5 says it has.
fn read_attrs(file: &hdf5::File) -> hdf5::Result<Attrs> {
    let mut attrs = Attrs::new();
    for name in file.attr_names()? {
        let attr = file.attr(&name)?;
        let described = attr.dtype().and_then(|t| t.to_descriptor());
        let value = match (described, attr.ndim()) {
            (Ok(TypeDescriptor::Unsigned(IntSize::U8)), 0) => Attr::U64(attr.read_scalar()?),
            (Ok(TypeDescriptor::Unsigned(IntSize::U8)), 1) => Attr::Ids(attr.read_raw()?),
            (Ok(TypeDescriptor::Float(FloatSize::U8)), 0) => Attr::F64(attr.read_scalar()?),
            (Ok(TypeDescriptor::VarLenUnicode), 0) => {
                Attr::Text(attr.read_scalar::<VarLenUnicode>()?.as_bytes().to_vec())
            }
            (Ok(TypeDescriptor::Integer(IntSize::U8)), 0) => {
                Attr::Other(format!("an int64 ({})", attr.read_scalar::<i64>()?))
            }
            (Ok(other), 0) => Attr::Other(format!("a {other}")),
            (Ok(other), n) => Attr::Other(format!("a {n}-dimensional array of {other}")),
            (Err(_), _) => Attr::Other("of a type mcpi does not know".into()),
        };
        attrs.insert(name, value);
    }
    Ok(attrs)
}

/// A string read from a file: mcpi writes UTF-8, and a changed file's
/// invalid bytes become U+FFFD.
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads the results file at `path`, refusing attributes or fields that are
/// missing or not of the type mcpi writes, and (schema 4 on) a file whose
/// contents do not match its digest.
pub(crate) fn read(path: &Path) -> Result<Stored, H5Error> {
    let file = hdf5::File::open(path).map_err(|e| H5Error::Unreadable {
        path: path.to_path_buf(),
        detail: one_line(&e),
    })?;
    let not_mcpi = |what: String| H5Error::NotMcpi {
        path: path.to_path_buf(),
        what,
    };
    let attrs = read_attrs(&file)
        .map_err(|e| not_mcpi(format!("unreadable attributes ({})", one_line(&e))))?;
    let typed = |name: &str, want: &str| match attrs.get(name) {
        None => not_mcpi(format!("no attribute {name}")),
        Some(found) => H5Error::Integrity {
            path: path.to_path_buf(),
            what: format!(
                "attribute {name} is {}, where mcpi writes {want}",
                describe(found)
            ),
        },
    };
    let int = |name: &str| match attrs.get(name) {
        Some(Attr::U64(v)) => Ok(*v),
        _ => Err(typed(name, "a uint64")),
    };
    let text = |name: &str| match attrs.get(name) {
        Some(Attr::Text(t)) => Ok(lossy(t)),
        _ => Err(typed(name, "a string")),
    };
    let schema_version = match attrs.contains_key("schema_version") {
        true => Some(int("schema_version")?),
        false => None,
    };
    let mut stored = Stored {
        schema_version,
        mcpi_version: text("mcpi_version")?,
        rng: text("rng")?,
        output: text("output")?,
        samples: int("samples")?,
        chunks: int("chunks")?,
        seed: int("seed")?,
        precision: match attrs.get("precision") {
            None => None,
            Some(Attr::F64(p)) => Some(*p),
            Some(_) => return Err(typed("precision", "a float64")),
        },
        inside: int("inside")?,
        chunks_used: match attrs.contains_key("chunks_used") {
            true => Some(int("chunks_used")?),
            false => None,
        },
        rows: Vec::new(),
        engines: Vec::new(),
        sessions: Vec::new(),
    };
    let Some(schema) = schema_version else {
        return Ok(stored);
    };
    let rows: Vec<H5Chunk> = table(&file, path, "chunks")?;
    let (engines, sessions): (Vec<H5Engine>, Vec<H5Session>) = match schema >= 3 {
        true => (
            table(&file, path, "engines")?,
            table(&file, path, "sessions")?,
        ),
        false => (Vec::new(), Vec::new()),
    };
    if schema >= DIGEST_SINCE {
        let stored_digest = text(DIGEST)?;
        let computed = digest(&attrs, &engines, &rows, &sessions);
        if stored_digest != computed {
            return Err(H5Error::Integrity {
                path: path.to_path_buf(),
                what: format!("its contents hash to {computed}, not to its digest {stored_digest}"),
            });
        }
    }
    stored.rows = rows.iter().map(ChunkRow::from).collect();
    stored.engines = engines.iter().map(EngineRow::from).collect();
    stored.sessions = sessions.iter().map(SessionRow::from).collect();
    Ok(stored)
}

/// How a wrongly typed attribute reads.
fn describe(attr: &Attr) -> String {
    match attr {
        Attr::U64(v) => format!("a uint64 ({v})"),
        Attr::F64(v) => format!("a float64 ({v})"),
        Attr::Text(t) => format!("a string ({:?})", lossy(t)),
        Attr::Ids(_) => "an array of uint64".into(),
        Attr::Other(what) => what.clone(),
    }
}

/// The rows of dataset `/name`, whose compound type must have every field
/// of `T` with `T`'s type (HDF5 would otherwise convert a missing field to
/// 0, or a signed -1 to 0, without a word).
fn table<T: H5Type>(file: &hdf5::File, path: &Path, name: &str) -> Result<Vec<T>, H5Error> {
    let not_mcpi = |what: String| H5Error::NotMcpi {
        path: path.to_path_buf(),
        what,
    };
    let dataset = file
        .dataset(name)
        .map_err(|e| not_mcpi(format!("no /{name} dataset ({})", one_line(&e))))?;
    let found = dataset.dtype().and_then(|t| t.to_descriptor());
    let (TypeDescriptor::Compound(want), Ok(TypeDescriptor::Compound(found))) =
        (T::type_descriptor(), found)
    else {
        return Err(not_mcpi(format!("/{name} is not a table of rows")));
    };
    for field in &want.fields {
        match found.fields.iter().find(|f| f.name == field.name) {
            None => return Err(not_mcpi(format!("/{name} has no field {}", field.name))),
            Some(f) if f.ty != field.ty => {
                return Err(H5Error::Integrity {
                    path: path.to_path_buf(),
                    what: format!(
                        "/{name}'s field {} is a {}, where mcpi writes a {}",
                        field.name, f.ty, field.ty
                    ),
                })
            }
            Some(_) => {}
        }
    }
    dataset
        .read_raw()
        .map_err(|e| not_mcpi(format!("unexpected /{name} rows ({})", one_line(&e))))
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
            host: lossy(e.host.as_bytes()),
            kernel: lossy(e.kernel.as_bytes()),
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
            started_utc: lossy(s.started_utc.as_bytes()),
            mode: lossy(s.mode.as_bytes()),
            schedule: lossy(s.schedule.as_bytes()),
            ranks: s.ranks,
            engines: s.engines,
            engines_used: s.engines_used,
            elapsed_s: s.elapsed_s,
            startup_s: s.startup_s,
            controller_cpu_s: s.controller_cpu_s,
            chunks_done: s.chunks_done,
            signal: s.signal,
            controller_pid: s.controller_pid,
            controller_host: lossy(s.controller_host.as_bytes()),
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
    let mut attrs = Attrs::new();
    for (name, value) in fields {
        let attr = match value {
            Value::Null => continue,
            Value::String(s) => Attr::Text(s.into_bytes()),
            Value::Number(n) => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Attr::U64(u),
                (None, Some(f)) => Attr::F64(f),
                (None, None) => unreachable!("serde_json numbers are u64, i64 or f64"),
            },
            Value::Array(items) => {
                let ints: Vec<u64> = items.iter().filter_map(Value::as_u64).collect();
                assert_eq!(
                    ints.len(),
                    items.len(),
                    "{name}: only arrays of ids are stored"
                );
                Attr::Ids(ints)
            }
            Value::Bool(_) | Value::Object(_) => unreachable!("{name}: not part of the schema"),
        };
        attrs.insert(name, attr);
    }
    let engines: Vec<H5Engine> = record.engines.iter().map(H5Engine::from).collect();
    let chunks: Vec<H5Chunk> = record.chunks.iter().map(H5Chunk::from).collect();
    let sessions: Vec<H5Session> = record.sessions.iter().map(H5Session::from).collect();
    let digest = digest(&attrs, &engines, &chunks, &sessions);
    attrs.insert(DIGEST.into(), Attr::Text(digest.into_bytes()));
    for (name, attr) in &attrs {
        match attr {
            Attr::Text(bytes) => {
                let s: VarLenUnicode = String::from_utf8_lossy(bytes)
                    .parse()
                    .map_err(|e| hdf5::Error::from(format!("{name}: {e}")))?;
                file.new_attr::<VarLenUnicode>()
                    .create(name.as_str())?
                    .write_scalar(&s)?;
            }
            Attr::U64(u) => file
                .new_attr::<u64>()
                .create(name.as_str())?
                .write_scalar(u)?,
            Attr::F64(f) => file
                .new_attr::<f64>()
                .create(name.as_str())?
                .write_scalar(f)?,
            Attr::Ids(ids) => {
                file.new_attr_builder()
                    .with_data(ids)
                    .create(name.as_str())?;
            }
            Attr::Other(_) => unreachable!("{name}: mcpi writes only its own types"),
        }
    }
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
