//! The Slurm job a run belongs to, read from the variables Slurm sets in a
//! job's environment. Pure: [`SlurmJob::from_lookup`] takes the lookup, so
//! tests never touch the process environment.
//!
//! Serialised (flattened into the summary) as the `slurm_*` root attributes;
//! a value Slurm did not set is left out.

use serde::Serialize;

/// What Slurm says about the job and step mcpi runs in.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct SlurmJob {
    /// `SLURM_JOB_ID`: every job has one, array tasks included.
    #[serde(rename = "slurm_job_id")]
    pub(crate) job_id: String,
    /// `SLURM_ARRAY_JOB_ID`: the array's id, shared by its tasks.
    #[serde(rename = "slurm_array_job_id", skip_serializing_if = "Option::is_none")]
    pub(crate) array_job_id: Option<String>,
    /// `SLURM_ARRAY_TASK_ID`: this task's array index.
    #[serde(
        rename = "slurm_array_task_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) array_task_id: Option<String>,
    /// `SLURM_STEP_ID`: the job step (`srun` or `mpirun`'s own `srun`); absent in the batch shell.
    #[serde(rename = "slurm_step_id", skip_serializing_if = "Option::is_none")]
    pub(crate) step_id: Option<String>,
    /// `SLURM_JOB_NAME`.
    #[serde(rename = "slurm_job_name", skip_serializing_if = "Option::is_none")]
    pub(crate) job_name: Option<String>,
    /// `SLURM_CLUSTER_NAME`.
    #[serde(rename = "slurm_cluster", skip_serializing_if = "Option::is_none")]
    pub(crate) cluster: Option<String>,
    /// `SLURM_JOB_PARTITION`.
    #[serde(rename = "slurm_partition", skip_serializing_if = "Option::is_none")]
    pub(crate) partition: Option<String>,
    /// `SLURM_JOB_NODELIST`, compressed as Slurm writes it (`node[01-04]`).
    #[serde(rename = "slurm_nodelist", skip_serializing_if = "Option::is_none")]
    pub(crate) nodelist: Option<String>,
    /// `SLURM_JOB_NUM_NODES`.
    #[serde(rename = "slurm_nodes", skip_serializing_if = "Option::is_none")]
    pub(crate) nodes: Option<u32>,
    /// `SLURM_NTASKS`: the tasks asked for (the job's `--ntasks`, or the step's `srun -n`).
    #[serde(rename = "slurm_ntasks", skip_serializing_if = "Option::is_none")]
    pub(crate) ntasks: Option<u32>,
    /// `SLURM_STEP_NUM_TASKS`: the processes `srun` started in this step.
    #[serde(rename = "slurm_step_tasks", skip_serializing_if = "Option::is_none")]
    pub(crate) step_tasks: Option<u32>,
    /// `SLURM_CPUS_PER_TASK`, when `--cpus-per-task` was given.
    #[serde(
        rename = "slurm_cpus_per_task",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) cpus_per_task: Option<u32>,
}

impl SlurmJob {
    /// The job of this process, if it runs under Slurm. A value that is not
    /// UTF-8 is taken with its stray bytes as U+FFFD, not ignored: a job id
    /// still tags the default name (as `_`s).
    pub(crate) fn from_env() -> Option<SlurmJob> {
        SlurmJob::from_lookup(|name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// The job described by `get` (a variable's value, `None` when unset);
    /// `None` without a `SLURM_JOB_ID`. Empty values count as unset, and
    /// counts that are not numbers are left out.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Option<SlurmJob> {
        let text = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let count = |name: &str| text(name).and_then(|v| v.parse().ok());
        Some(SlurmJob {
            job_id: text("SLURM_JOB_ID")?,
            array_job_id: text("SLURM_ARRAY_JOB_ID"),
            array_task_id: text("SLURM_ARRAY_TASK_ID"),
            step_id: text("SLURM_STEP_ID"),
            job_name: text("SLURM_JOB_NAME"),
            cluster: text("SLURM_CLUSTER_NAME"),
            partition: text("SLURM_JOB_PARTITION"),
            nodelist: text("SLURM_JOB_NODELIST"),
            nodes: count("SLURM_JOB_NUM_NODES"),
            ntasks: count("SLURM_NTASKS"),
            step_tasks: count("SLURM_STEP_NUM_TASKS"),
            cpus_per_task: count("SLURM_CPUS_PER_TASK"),
        })
    }

    /// The job as it appears in file names: `<array job>_<task>` for an array
    /// task (as Slurm's `%A_%a`), else the job id.
    pub(crate) fn tag(&self) -> String {
        match (&self.array_job_id, &self.array_task_id) {
            (Some(array), Some(task)) => format!("{array}_{task}"),
            _ => self.job_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn job(vars: &[(&str, &str)]) -> Option<SlurmJob> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SlurmJob::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn outside_slurm_there_is_no_job() {
        assert_eq!(job(&[]), None);
        assert_eq!(job(&[("SLURM_JOB_ID", ""), ("SLURM_NTASKS", "4")]), None);
    }

    #[test]
    fn a_batch_job_step_is_read_whole() {
        let got = job(&[
            ("SLURM_JOB_ID", "1234"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_JOB_NAME", "mcpi"),
            ("SLURM_CLUSTER_NAME", "hpc"),
            ("SLURM_JOB_PARTITION", "compute"),
            ("SLURM_JOB_NODELIST", "node[01-02]"),
            ("SLURM_JOB_NUM_NODES", "2"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_CPUS_PER_TASK", "1"),
            ("HOME", "/root"),
        ])
        .unwrap();
        assert_eq!(
            got,
            SlurmJob {
                job_id: "1234".into(),
                array_job_id: None,
                array_task_id: None,
                step_id: Some("0".into()),
                job_name: Some("mcpi".into()),
                cluster: Some("hpc".into()),
                partition: Some("compute".into()),
                nodelist: Some("node[01-02]".into()),
                nodes: Some(2),
                ntasks: Some(8),
                step_tasks: None,
                cpus_per_task: Some(1),
            }
        );
        assert_eq!(got.tag(), "1234");
    }

    #[test]
    fn array_tasks_are_named_like_slurms_a_underscore_a() {
        let got = job(&[
            ("SLURM_JOB_ID", "1236"),
            ("SLURM_ARRAY_JOB_ID", "1234"),
            ("SLURM_ARRAY_TASK_ID", "2"),
        ])
        .unwrap();
        assert_eq!(got.job_id, "1236");
        assert_eq!(got.tag(), "1234_2");
        // Half an array pair is not an array task.
        let half = job(&[("SLURM_JOB_ID", "7"), ("SLURM_ARRAY_TASK_ID", "2")]).unwrap();
        assert_eq!(half.tag(), "7");
    }

    #[test]
    fn counts_that_are_not_numbers_are_left_out() {
        let got = job(&[
            ("SLURM_JOB_ID", " 42 "),
            ("SLURM_JOB_NUM_NODES", "two"),
            ("SLURM_NTASKS", "-1"),
            ("SLURM_JOB_NAME", ""),
        ])
        .unwrap();
        assert_eq!(got.job_id, "42");
        assert_eq!((got.nodes, got.ntasks, got.job_name), (None, None, None));
    }

    #[test]
    fn serialises_as_slurm_attributes_without_the_unset_ones() {
        let got = job(&[
            ("SLURM_JOB_ID", "1236"),
            ("SLURM_ARRAY_JOB_ID", "1234"),
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_JOB_NUM_NODES", "1"),
        ])
        .unwrap();
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            r#"{"slurm_job_id":"1236","slurm_array_job_id":"1234","slurm_array_task_id":"2","slurm_nodes":1}"#
        );
    }
}
