//! Whether the launcher and the MPI library speak to each other. A launcher
//! that started N processes whose MPI library sees each one alone — the
//! MPICH build under Open MPI's `mpirun`, the Open MPI build under MPICH's,
//! or `srun` with a `--mpi` plugin the library does not speak — would run N
//! independent copies of the whole job. The launcher says what it started in
//! the environment it gives each process. Pure: [`check`] takes the lookup,
//! so tests never touch the process environment.

/// The MPI library mcpi is linked with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Library {
    Mpich,
    OpenMpi,
    Other,
}

impl Library {
    /// The library that `MPI_Get_library_version` describes.
    pub(crate) fn from_version(version: &str) -> Library {
        if version.starts_with("MPICH") {
            Library::Mpich
        } else if version.starts_with("Open MPI") {
            Library::OpenMpi
        } else {
            Library::Other
        }
    }

    /// How to launch an mcpi built with this library.
    fn advice(self) -> &'static str {
        match self {
            Library::Mpich => {
                "This mcpi is built with MPICH: launch it with MPICH's mpirun \
                 (mpirun.mpich on Debian) or srun --mpi=pmi2"
            }
            Library::OpenMpi => {
                "This mcpi is built with Open MPI: launch it with Open MPI's mpirun \
                 (mpirun.openmpi on Debian) or srun --mpi=pmix"
            }
            Library::Other => {
                "Launch it with the mpirun of the MPI library it is built with, or \
                 with the srun --mpi plugin that library uses"
            }
        }
    }
}

/// A launcher, known by the variables it sets in each process it starts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Launcher {
    /// Open MPI's `mpirun`: `OMPI_COMM_WORLD_SIZE` and `_RANK`.
    OpenMpi,
    /// MPICH's `mpirun` (hydra): `PMI_SIZE` and `PMI_RANK`, with
    /// `MPI_LOCALNRANKS`.
    Hydra,
    /// Slurm's `srun`: `SLURM_STEP_NUM_TASKS` and `SLURM_PROCID`.
    Srun,
    /// Another PMI launcher: `PMI_SIZE` and `PMI_RANK`.
    Pmi,
}

impl Launcher {
    /// The variables holding the process count and this process's rank,
    /// in the order they are looked at; the first launcher that started
    /// more than one process is the one named. `mpirun` inside a Slurm job
    /// runs under an `srun` step of one task per node: its own variables
    /// come first.
    const ALL: [(Launcher, &'static str, &'static str); 4] = [
        (
            Launcher::OpenMpi,
            "OMPI_COMM_WORLD_SIZE",
            "OMPI_COMM_WORLD_RANK",
        ),
        (Launcher::Hydra, "PMI_SIZE", "PMI_RANK"),
        (Launcher::Srun, "SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
        (Launcher::Pmi, "PMI_SIZE", "PMI_RANK"),
    ];

    fn name(self) -> &'static str {
        match self {
            Launcher::OpenMpi => "Open MPI's mpirun",
            Launcher::Hydra => "MPICH's mpirun",
            Launcher::Srun => "srun",
            Launcher::Pmi => "the launcher",
        }
    }
}

/// A launcher started several processes, but MPI sees each alone.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error(
    "{launcher} started {processes} {what} but MPI sees 1 rank: each would run the whole job \
     alone. {advice}",
    launcher = .launcher.name(),
    what = if *.launcher == Launcher::Srun { "tasks" } else { "processes" },
    advice = .library.advice()
)]
pub(crate) struct LaunchError {
    launcher: Launcher,
    processes: u32,
    library: Library,
    /// This process's rank as the launcher numbers them, if it says.
    launcher_rank: Option<u32>,
}

impl LaunchError {
    /// Whether this process reports the error: the launcher's rank 0, so
    /// the line is printed once (every process if the launcher gives no
    /// rank: better N times than never).
    pub(crate) fn speaks(&self) -> bool {
        self.launcher_rank.is_none_or(|rank| rank == 0)
    }
}

/// An error when the environment `get` describes a launch of several
/// processes while MPI, linked as `library`, sees `mpi_ranks == 1`. Values
/// that are not numbers are ignored.
pub(crate) fn check(
    get: impl Fn(&str) -> Option<String>,
    mpi_ranks: usize,
    library: Library,
) -> Result<(), LaunchError> {
    if mpi_ranks != 1 {
        return Ok(());
    }
    let number = |name: &str| get(name).and_then(|v| v.trim().parse::<u32>().ok());
    let found = Launcher::ALL
        .into_iter()
        .find_map(|(launcher, size, rank)| {
            let hydra = get("MPI_LOCALNRANKS").is_some();
            match launcher {
                Launcher::Hydra if !hydra => return None,
                Launcher::Pmi if hydra => return None,
                _ => {}
            }
            let processes = number(size).filter(|&n| n > 1)?;
            Some((launcher, processes, number(rank)))
        });
    match found {
        Some((launcher, processes, launcher_rank)) => Err(LaunchError {
            launcher,
            processes,
            library,
            launcher_rank,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check_env(vars: &[(&str, &str)], ranks: usize, library: Library) -> Result<(), LaunchError> {
        let env: HashMap<&str, &str> = vars.iter().copied().collect();
        check(|name| env.get(name).map(|v| v.to_string()), ranks, library)
    }

    const OPEN_MPI_RANK_1: [(&str, &str); 3] = [
        ("OMPI_COMM_WORLD_SIZE", "3"),
        ("OMPI_COMM_WORLD_RANK", "1"),
        ("PMIX_RANK", "1"),
    ];
    const HYDRA_RANK_0: [(&str, &str); 4] = [
        ("PMI_SIZE", "3"),
        ("PMI_RANK", "0"),
        ("PMI_FD", "6"),
        ("MPI_LOCALNRANKS", "3"),
    ];

    #[test]
    fn the_mpich_build_under_open_mpis_mpirun_is_refused_and_rank_0_says_so() {
        let err = check_env(&OPEN_MPI_RANK_1, 1, Library::Mpich).unwrap_err();
        assert!(!err.speaks(), "only the launcher's rank 0 speaks");
        assert_eq!(
            err.to_string(),
            "Open MPI's mpirun started 3 processes but MPI sees 1 rank: each would run the \
             whole job alone. This mcpi is built with MPICH: launch it with MPICH's mpirun \
             (mpirun.mpich on Debian) or srun --mpi=pmi2"
        );
        // Its rank 0 speaks; with the ranks seeing each other nothing is wrong.
        let rank_0 = [("OMPI_COMM_WORLD_SIZE", "3"), ("OMPI_COMM_WORLD_RANK", "0")];
        assert!(check_env(&rank_0, 1, Library::Mpich).unwrap_err().speaks());
        assert_eq!(check_env(&OPEN_MPI_RANK_1, 3, Library::OpenMpi), Ok(()));
    }

    #[test]
    fn the_open_mpi_build_under_mpichs_mpirun_is_refused() {
        let err = check_env(&HYDRA_RANK_0, 1, Library::OpenMpi).unwrap_err();
        assert!(err.speaks());
        assert!(
            err.to_string().starts_with(
                "MPICH's mpirun started 3 processes but MPI sees 1 rank: each would run the \
                 whole job alone. This mcpi is built with Open MPI: launch it with Open MPI's \
                 mpirun"
            ),
            "{err}"
        );
        assert_eq!(check_env(&HYDRA_RANK_0, 3, Library::Mpich), Ok(()));
    }

    #[test]
    fn an_srun_step_of_singletons_is_refused() {
        let step = |tasks: &'static str, procid: &'static str| {
            [("SLURM_STEP_NUM_TASKS", tasks), ("SLURM_PROCID", procid)]
        };
        let err = check_env(&step("4", "2"), 1, Library::Other).unwrap_err();
        assert!(!err.speaks());
        assert!(
            err.to_string()
                .starts_with("srun started 4 tasks but MPI sees 1 rank"),
            "{err}"
        );
        assert_eq!(check_env(&step("4", "0"), 4, Library::Mpich), Ok(()));
        assert_eq!(check_env(&step("1", "0"), 1, Library::Mpich), Ok(()));
        // mpirun inside a job starts one srun task per node, then its own
        // ranks: its variables name it.
        let mut nested = step("2", "0").to_vec();
        nested.extend(OPEN_MPI_RANK_1);
        let err = check_env(&nested, 1, Library::Mpich).unwrap_err();
        assert!(err.to_string().starts_with("Open MPI's mpirun started 3"));
    }

    #[test]
    fn other_pmi_launchers_and_odd_values() {
        let pmi = [("PMI_SIZE", "2"), ("PMI_RANK", "0")];
        let err = check_env(&pmi, 1, Library::Mpich).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("the launcher started 2 processes"));
        // No rank given: every process speaks.
        assert!(check_env(&[("PMI_SIZE", "2")], 1, Library::Mpich)
            .unwrap_err()
            .speaks());
        for size in ["1", "", "many", "-3"] {
            let odd = [("OMPI_COMM_WORLD_SIZE", size)];
            assert_eq!(check_env(&odd, 1, Library::Mpich), Ok(()), "{size:?}");
        }
        assert_eq!(check_env(&[], 1, Library::Mpich), Ok(()));
    }

    #[test]
    fn libraries_are_told_apart_by_their_version_string() {
        assert_eq!(
            Library::from_version("MPICH Version: 4.0.2"),
            Library::Mpich
        );
        assert_eq!(
            Library::from_version("Open MPI v4.1.4, package: Debian OpenMPI"),
            Library::OpenMpi
        );
        assert_eq!(
            Library::from_version("Intel(R) MPI Library 2021"),
            Library::Other
        );
    }
}
