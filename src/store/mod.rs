//! Files: the HDF5 results file, claiming an output without ever clobbering
//! one, and checkpoints that `--resume` continues.

pub(crate) mod checkpoint;
pub mod h5;
pub(crate) mod output;
