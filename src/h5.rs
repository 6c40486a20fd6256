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
        .map_err(|e| format!("HDF5 cannot create {}: {e}", path.display()))
}

/// Writes `record` to `path`, replacing what is there.
pub fn write(record: &RunRecord, path: &Path) -> Result<(), String> {
    write_file(record, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
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
