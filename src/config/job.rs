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

/// How balanced mode hands out chunks (`--schedule`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub(crate) enum Schedule {
    /// One chunk at a time to whichever engine has room in its window.
    #[default]
    Dynamic,
    /// Batches of about remaining / (2 x engines) chunks, at least one.
    Guided,
    /// Chunk i to the (i mod E)-th targeted engine, decided up front.
    Static,
}

impl Schedule {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Schedule::Dynamic => "dynamic",
            Schedule::Guided => "guided",
            Schedule::Static => "static",
        }
    }
}

/// Who feeds the engines (`--dispatch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub(crate) enum Dispatch {
    /// Node dispatch when the ranks span several nodes, flat on one.
    #[default]
    Auto,
    /// Rank 0 talks to every engine.
    Flat,
    /// Rank 0 talks to one engine per node, which feeds the others of its
    /// node and sends their results back together.
    Node,
}

impl Dispatch {
    /// Flat or node, for ranks spread over `nodes` nodes.
    pub(crate) fn resolve(self, nodes: usize) -> Dispatch {
        match (self, nodes) {
            (Dispatch::Auto, 0 | 1) => Dispatch::Flat,
            (Dispatch::Auto, _) => Dispatch::Node,
            (chosen, _) => chosen,
        }
    }
}

/// How a fixed split gives each engine its chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// Contiguous blocks, like `DirectView.map`: direct mode.
    Blocks,
    /// Round robin: the static schedule, and direct mode with `--precision`
    /// (so that the chunks done form a prefix early, whatever the engines).
    Cyclic,
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
    /// Balanced mode's schedule (dynamic in direct mode, which splits).
    pub(crate) schedule: Schedule,
    /// `--dispatch`, as given (resolved once the ranks know their nodes).
    pub(crate) dispatch: Dispatch,
    /// Each engine's slow-down factor (1 for none), by engine id.
    pub(crate) slow: Vec<f64>,
    /// `--precision`: stop once the 95% interval of pi is at most +-this.
    pub(crate) precision: Option<f64>,
    /// `MCPI_KERNEL` as validated on rank 0, for every engine to honour.
    pub(crate) kernel: Option<String>,
    /// The chunks this session computes, as ascending `[start, end)` ranges.
    pub(crate) todo: Vec<[u64; 2]>,
}

impl Job {
    /// How the chunks are split among the engines up front, if they are;
    /// `None`: the controller hands them out as engines have room.
    pub(crate) fn split(&self) -> Option<Split> {
        match (self.mode, self.schedule, self.precision) {
            (Mode::Direct, _, None) => Some(Split::Blocks),
            (Mode::Direct, _, Some(_)) | (Mode::Balanced, Schedule::Static, _) => {
                Some(Split::Cyclic)
            }
            (Mode::Balanced, Schedule::Dynamic | Schedule::Guided, _) => None,
        }
    }

    /// How chunks reach the engines, as results record it: balanced mode's
    /// schedule, or direct mode's split.
    pub(crate) fn schedule_name(&self) -> &'static str {
        match (self.mode, self.split()) {
            (Mode::Direct, Some(Split::Cyclic)) => "cyclic",
            (Mode::Direct, _) => "blocks",
            (Mode::Balanced, _) => self.schedule.name(),
        }
    }

    /// Engine `engine`'s slow-down factor (1: none).
    pub(crate) fn slow(&self, engine: u32) -> f64 {
        self.slow.get(engine as usize).copied().unwrap_or(1.0)
    }

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
        let schedule = match (cli.mode, cli.schedule) {
            (Mode::Direct, Some(schedule)) => {
                return Err(ConfigError::ScheduleInDirectMode(schedule.name()))
            }
            (_, schedule) => schedule.unwrap_or_default(),
        };
        let mut slow = vec![1.0; engines];
        for &(engine, factor) in cli.slow.iter().flat_map(|s| &s.0) {
            match slow.get_mut(engine as usize) {
                Some(f) => *f = factor,
                None => return Err(ConfigError::NoSuchEngine { engine, engines }),
            }
        }
        Ok(Job {
            mode: cli.mode,
            samples,
            chunks,
            seed: cli.seed.unwrap_or(DEFAULT_SEED),
            targets,
            window: cli.window,
            schedule,
            dispatch: cli.dispatch,
            slow,
            precision: cli.precision,
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
