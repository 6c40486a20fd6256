//! The job: what every rank needs to know to take part, as rank 0 agreed it
//! and broadcast it.

use super::cli::{Cli, DEFAULT_CHUNKS, DEFAULT_SAMPLES, DEFAULT_SEED};
use super::ConfigError;
use crate::run::plan::ChunkPlan;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub(crate) enum Mode {
    Balanced,
    Direct,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Balanced => "balanced",
            Mode::Direct => "direct",
        }
    }
}

/// What every rank needs to know to take part, as agreed on rank 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) mode: Mode,
    pub(crate) samples: u64,
    pub(crate) chunks: u64,
    pub(crate) seed: u64,
    /// Engine ids that work, ascending.
    pub(crate) targets: Vec<u32>,
    pub(crate) window: u32,
    /// `MCPI_KERNEL` as validated on rank 0, for every engine to honour.
    pub(crate) kernel: Option<String>,
    /// The chunks this session computes, as ascending `[start, end)` ranges.
    pub(crate) todo: Vec<[u64; 2]>,
}

impl Job {
    pub(crate) fn plan(&self) -> ChunkPlan {
        ChunkPlan {
            samples: self.samples,
            chunks: self.chunks,
        }
    }

    /// The chunks this session computes, ascending.
    pub(crate) fn todo(&self) -> Vec<u64> {
        self.todo.iter().flat_map(|&[a, b]| a..b).collect()
    }

    /// Sets the chunks to compute from an ascending list of chunk ids.
    pub(crate) fn set_todo(&mut self, chunks: &[u64]) {
        self.todo.clear();
        for &c in chunks {
            match self.todo.last_mut() {
                Some(range) if range[1] == c => range[1] = c + 1,
                _ => self.todo.push([c, c + 1]),
            }
        }
    }

    /// Validates the options that need no file system, for `engines`
    /// engines. The job computes every chunk.
    pub(crate) fn from_cli(
        cli: &Cli,
        engines: usize,
        kernel: Option<String>,
    ) -> Result<Job, ConfigError> {
        let samples = cli.samples.unwrap_or(DEFAULT_SAMPLES);
        let chunks = cli.chunks.unwrap_or(DEFAULT_CHUNKS);
        ChunkPlan::new(samples, chunks)?;
        let targets = match &cli.targets {
            None => (0..engines as u32).collect(),
            Some(spec) => super::targets::select(spec, engines)?
                .into_iter()
                .map(|id| id as u32)
                .collect(),
        };
        Ok(Job {
            mode: cli.mode,
            samples,
            chunks,
            seed: cli.seed.unwrap_or(DEFAULT_SEED),
            targets,
            window: cli.window,
            kernel,
            todo: vec![[0, chunks]],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cli::tests::parse;
    use crate::run::dispatch::DEFAULT_WINDOW;

    #[test]
    fn defaults_are_the_tutorials() {
        let job = Job::from_cli(&parse(&[]).unwrap(), 3, None).unwrap();
        assert_eq!(job.mode, Mode::Balanced);
        assert_eq!((job.samples, job.chunks), (100_000_000, 100));
        assert_eq!(job.seed, DEFAULT_SEED);
        assert_eq!(job.targets, [0, 1, 2]);
        assert_eq!(job.window, DEFAULT_WINDOW as u32);
        assert_eq!(job.todo(), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn the_chunks_to_do_travel_as_ranges() {
        let mut job = Job::from_cli(&parse(&[]).unwrap(), 1, None).unwrap();
        job.set_todo(&[0, 1, 2, 5, 7, 8]);
        assert_eq!(job.todo, [[0, 3], [5, 6], [7, 9]]);
        assert_eq!(job.todo(), [0, 1, 2, 5, 7, 8]);
        job.set_todo(&[]);
        assert!(job.todo().is_empty());
    }

    #[test]
    fn options_reach_the_job() {
        let cli = parse(&[
            "--mode",
            "direct",
            "-n",
            "2.5e9",
            "--chunks",
            "1k",
            "--targets",
            ":-1",
        ]);
        let job = Job::from_cli(&cli.unwrap(), 4, Some("scalar".into())).unwrap();
        assert_eq!(job.mode, Mode::Direct);
        assert_eq!((job.samples, job.chunks), (2_500_000_000, 1000));
        assert_eq!(job.targets, [0, 1, 2]);
        assert_eq!(job.kernel.as_deref(), Some("scalar"));
    }
}
