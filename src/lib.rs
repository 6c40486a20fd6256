//! mcpi: Monte Carlo pi over MPI.
pub mod kernel;
pub mod rng;
