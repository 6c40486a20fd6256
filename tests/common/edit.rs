//! Changing an mcpi file as a hand or a tool would, for the tests of what
//! mcpi then does with it (`--resume`, `mcpi verify`).

use std::path::Path;

/// A row of `/chunks` as mcpi writes it.
pub use mcpi::store::h5::H5Chunk as ChunkRow;

/// A copy of `dir/from` as `dir/to`, changed by `edit`; returns `to`.
pub fn copy_edited(dir: &Path, from: &str, to: String, edit: impl FnOnce(&hdf5::File)) -> String {
    std::fs::copy(dir.join(from), dir.join(&to)).unwrap();
    edit(&hdf5::File::open_rw(dir.join(&to)).unwrap());
    to
}

/// Replaces attribute `name` of `file` by `value`.
pub fn set_attr<T: hdf5::H5Type>(file: &hdf5::File, name: &str, value: T) {
    file.delete_attr(name).unwrap();
    file.new_attr::<T>()
        .create(name)
        .unwrap()
        .write_scalar(&value)
        .unwrap();
}

/// Replaces `/chunks` of `file` by `rows`.
pub fn set_chunks<T: hdf5::H5Type>(file: &hdf5::File, rows: &[T]) {
    file.unlink("chunks").unwrap();
    file.new_dataset_builder()
        .with_data(rows)
        .create("chunks")
        .unwrap();
}

/// The rows of `/chunks` of `file`.
pub fn chunks_of(file: &hdf5::File) -> Vec<ChunkRow> {
    file.dataset("chunks").unwrap().read_raw().unwrap()
}
