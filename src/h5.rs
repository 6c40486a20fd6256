//! The HDF5 results file: root attributes from [`Summary`], datasets
//! `/engines` and `/chunks`. Written to a temporary file, then published.

use crate::output;
use crate::record::RunRecord;
use hdf5::types::VarLenUnicode;
use serde_json::Value;
use std::path::Path;

/// Writes `record` to `path` atomically (see [`output::publish`]).
pub fn write(record: &RunRecord, path: &Path, force: bool) -> Result<(), String> {
    let temp = output::temp_path(path);
    let written = write_file(record, &temp).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write {}: {e}", path.display())
    });
    written.and_then(|()| output::publish(&temp, path, force))
}

fn write_file(record: &RunRecord, path: &Path) -> hdf5::Result<()> {
    let file = hdf5::File::create_excl(path)?;
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
