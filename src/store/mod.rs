//! Files: the HDF5 results file, claiming an output without ever clobbering
//! one, and checkpoints that `--resume` continues.

pub(crate) mod checkpoint;
pub(crate) mod claim;
mod digest;
pub mod h5;
pub(crate) mod journal;
pub(crate) mod output;
pub(crate) mod writer;

/// Why a run's files could not be kept as they should.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error(transparent)]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    H5(#[from] h5::H5Error),
    #[error(transparent)]
    Resume(#[from] checkpoint::ResumeError),
}
