//! The HDF5 results file: root attributes from [`Summary`], datasets
//! `/engines`, `/chunks` and `/sessions`; and reading one back to resume it.
//!
//! [`Summary`]: crate::record::Summary

use crate::record::{ChunkRow, EngineRow, RunRecord, SessionRow};
use hdf5::types::VarLenUnicode;
use serde_json::Value;
use std::path::Path;

/// Checks, before any work, that HDF5 can create a file at `path` (it
/// truncates whatever is there). Shared file systems without locking fail here
/// rather than after the run.
pub fn probe(path: &Path) -> Result<(), String> {
    hdf5::File::create(path)
        .and_then(|file| file.close())
        .map_err(|e| format!("HDF5 cannot create {}: {}", path.display(), one_line(&e)))
}

/// Writes `record` to `path`, replacing what is there, and flushes it to
/// stable storage.
pub fn write(record: &RunRecord, path: &Path) -> Result<(), String> {
    write_file(record, path)
        .map_err(|e| one_line(&e))
        .and_then(|()| {
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| e.to_string())
        })
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What a results file holds, as far as resuming it needs.
#[derive(Debug)]
pub struct Stored {
    /// `None` for schema 1 files, which had no such attribute.
    pub schema_version: Option<u64>,
    pub mcpi_version: String,
    pub rng: String,
    /// The results file the run was writing, as given.
    pub output: String,
    pub samples: u64,
    pub chunks: u64,
    pub seed: u64,
    pub rows: Vec<ChunkRow>,
    pub engines: Vec<EngineRow>,
    pub sessions: Vec<SessionRow>,
}

/// Reads the results file at `path`.
pub fn read(path: &Path) -> Result<Stored, String> {
    let file = hdf5::File::open(path).map_err(|e| {
        format!(
            "{} is not a readable HDF5 file ({}); it may be truncated or corrupt",
            path.display(),
            one_line(&e)
        )
    })?;
    let not_mcpi = |what: &str, e: hdf5::Error| {
        format!(
            "{} is not an mcpi results file: {what} ({})",
            path.display(),
            one_line(&e)
        )
    };
    let int = |name: &str| -> Result<u64, String> {
        file.attr(name)
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(|e| not_mcpi(&format!("no attribute {name}"), e))
    };
    let text = |name: &str| -> Result<String, String> {
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
        rows: Vec::new(),
        engines: Vec::new(),
        sessions: Vec::new(),
    };
    if schema_version == Some(u64::from(crate::record::SCHEMA_VERSION)) {
        let table = |name: &str| {
            file.dataset(name)
                .map_err(|e| not_mcpi(&format!("no /{name} dataset"), e))
        };
        let bad = |name: &'static str| move |e| not_mcpi(&format!("unexpected /{name} rows"), e);
        stored.rows = table("chunks")?.read_raw().map_err(bad("chunks"))?;
        stored.engines = table("engines")?.read_raw().map_err(bad("engines"))?;
        stored.sessions = table("sessions")?.read_raw().map_err(bad("sessions"))?;
    }
    Ok(stored)
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
    file.new_dataset_builder()
        .with_data(&record.engines)
        .create("engines")?;
    file.new_dataset_builder()
        .with_data(&record.chunks)
        .create("chunks")?;
    file.new_dataset_builder()
        .with_data(&record.sessions)
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
