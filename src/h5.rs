//! The HDF5 results file: root attributes from [`Summary`], datasets
//! `/engines` and `/chunks`.
//!
//! [`Summary`]: crate::record::Summary

use crate::record::RunRecord;
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

/// Writes `record` to `path`, replacing what is there.
pub fn write(record: &RunRecord, path: &Path) -> Result<(), String> {
    write_file(record, path)
        .map_err(|e| format!("cannot write {}: {}", path.display(), one_line(&e)))
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
