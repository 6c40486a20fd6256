//! End-to-end runs of the real binary under real `mpirun -n 1..4`, with the
//! HDF5 results read back.

mod common;

use common::{mcpi_in, scratch};
use hdf5::types::VarLenUnicode;
use mcpi::kernel::Kernel;
use mcpi::run::plan::ChunkPlan;
use mcpi::store::h5::{H5Chunk as ChunkRow, H5Engine as EngineRow};
use serde_json::Value;
use std::path::Path;

const SEED: &str = "4242";
const SAMPLES: u64 = 1_000_003;
const CHUNKS: u64 = 37;

/// The inside count computed here, in-process, with the scalar reference.
fn reference_inside() -> u64 {
    let plan = ChunkPlan::new(SAMPLES, CHUNKS).unwrap();
    (0..CHUNKS)
        .map(|c| Kernel::Scalar.count_inside(4242, c, plan.chunk_len(c)))
        .sum()
}

fn run_json(dir: &Path, ranks: usize, mode: &str, extra: &[&str]) -> (Value, common::Run) {
    let out = dir.join(format!(
        "{mode}-{ranks}-{}.h5",
        extra.join("_").replace([':', ','], "x")
    ));
    let samples = SAMPLES.to_string();
    let chunks = CHUNKS.to_string();
    let mut args = vec![
        "--mode",
        mode,
        "--samples",
        &samples,
        "--chunks",
        &chunks,
        "--seed",
        SEED,
        "--json",
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = mcpi_in(dir, ranks, &args, &[]);
    (run.json(), run)
}

#[test]
fn every_mode_rank_count_and_target_set_gives_the_same_count() {
    let dir = scratch("same-count");
    let want = reference_inside();
    let mut cases: Vec<(usize, &str, Vec<&str>)> = Vec::new();
    for ranks in 1..=4 {
        for mode in ["balanced", "direct"] {
            cases.push((ranks, mode, vec![]));
        }
    }
    for mode in ["balanced", "direct"] {
        cases.push((4, mode, vec!["--targets", ":-1"]));
        cases.push((4, mode, vec!["--targets", "::2"]));
        cases.push((3, mode, vec!["--targets", "1:"]));
        cases.push((4, mode, vec!["--targets", "2"]));
        cases.push((4, mode, vec!["--targets", "1::9223372036854775807"]));
    }
    for (ranks, mode, extra) in cases {
        let (json, _) = run_json(&dir, ranks, mode, &extra);
        assert_eq!(json["inside"], want, "{mode} on {ranks} ranks {extra:?}");
        assert_eq!(json["ranks"], ranks);
        assert_eq!(json["engines"], ranks.saturating_sub(1).max(1));
        assert_eq!(json["samples"], SAMPLES);
        let sigmas = json["abs_error"].as_f64().unwrap() / json["stderr"].as_f64().unwrap();
        assert!(sigmas < 5.0, "pi {} is {sigmas} sigma off", json["pi"]);
    }
}

#[test]
fn node_dispatch_on_one_node_gives_the_same_count_and_feeds_every_engine() {
    // Forced on one node: rank 1 dispatches for ranks 2 and 3, and computes.
    let dir = scratch("node-dispatch");
    let want = reference_inside();
    let cases: [(usize, &str, &[&str]); 6] = [
        (4, "balanced", &[]),
        (4, "balanced", &["--schedule", "guided"]),
        (4, "balanced", &["--targets", "1:"]),
        (4, "direct", &[]),
        (2, "balanced", &[]),
        // One rank computes alone: nothing to dispatch.
        (1, "balanced", &[]),
    ];
    for (ranks, mode, extra) in cases {
        let mut args = extra.to_vec();
        args.extend(["--dispatch", "node"]);
        let (json, _) = run_json(&dir, ranks, mode, &args);
        let what = format!("{mode} on {ranks} ranks {extra:?}");
        assert_eq!(json["inside"], want, "{what}");
        assert_eq!(json["stopped_by"], "all chunks", "{what}");
        // Every targeted engine computed, the dispatcher's node's too.
        let per_engine = json["per_engine"].as_array().unwrap();
        let first = if extra.contains(&"1:") { 1 } else { 0 };
        assert_eq!(per_engine.len(), ranks.saturating_sub(1).max(1) - first);
        for engine in per_engine {
            let id = engine["engine_id"].as_u64().unwrap();
            assert!(id >= first as u64, "{what}: engine {id} was not targeted");
            assert!(
                engine["chunks"].as_u64().unwrap() > 0,
                "{what}: engine {id}"
            );
        }
    }
}

#[test]
fn every_schedule_and_straggler_gives_the_same_count_and_is_recorded() {
    let dir = scratch("schedules");
    let want = reference_inside();
    for ranks in [2, 3, 4] {
        for schedule in ["dynamic", "guided", "static"] {
            for slow in [None, Some("0=2")] {
                let mut extra = vec!["--schedule", schedule, "--window", "2"];
                extra.extend(slow.iter().flat_map(|s| ["--slow", *s]));
                let (json, _) = run_json(&dir, ranks, "balanced", &extra);
                let what = format!("{schedule} {slow:?} on {ranks} ranks");
                assert_eq!(json["inside"], want, "{what}");
                assert_eq!(json["schedule"], schedule, "{what}");
                assert_eq!(json["stopped_by"], "all chunks", "{what}");
                let per_engine = json["per_engine"].as_array().unwrap();
                assert_eq!(per_engine.len(), ranks - 1, "{what}");
                let factor = per_engine[0]["slow"].as_f64().unwrap();
                assert_eq!(factor, if slow.is_some() { 2.0 } else { 1.0 }, "{what}");
                let chunks: u64 = per_engine
                    .iter()
                    .map(|e| e["chunks"].as_u64().unwrap())
                    .sum();
                assert_eq!(chunks, CHUNKS, "{what}");
                assert!(json["imbalance"].as_f64().unwrap() >= 0.0, "{what}");
            }
        }
    }
    // Direct mode records its split.
    let (json, _) = run_json(&dir, 3, "direct", &["--slow", "1=2"]);
    assert_eq!(json["inside"], want);
    assert_eq!(json["schedule"], "blocks");
}

#[test]
fn a_straggler_and_the_balance_are_in_the_hdf5_file() {
    let dir = scratch("straggler-h5");
    let (json, _) = run_json(&dir, 3, "balanced", &["--slow", "1=3"]);
    let file = hdf5::File::open(json["output"].as_str().unwrap()).unwrap();
    let engines: Vec<EngineRow> = file.dataset("engines").unwrap().read_raw().unwrap();
    let slow: Vec<f64> = engines.iter().map(|e| e.slow).collect();
    assert_eq!(slow, [1.0, 3.0]);
    let elapsed = json["elapsed_s"].as_f64().unwrap();
    for e in &engines {
        assert!((e.busy_s + e.idle_s - elapsed).abs() < 1e-6, "{e:?}");
    }
    for (attr, value) in [
        ("imbalance", "imbalance"),
        ("balance_loss_s", "balance_loss_s"),
    ] {
        let stored = file.attr(attr).unwrap().read_scalar::<f64>().unwrap();
        assert_eq!(stored, json[value].as_f64().unwrap());
    }
    let schedule: VarLenUnicode = file.attr("schedule").unwrap().read_scalar().unwrap();
    assert_eq!(schedule.as_str(), "dynamic");
    assert_eq!(
        file.attr("schema_version")
            .unwrap()
            .read_scalar::<u64>()
            .unwrap(),
        4
    );
}

/// `--precision`: the smallest prefix of chunks whose interval is narrow
/// enough, computed here with the scalar reference.
fn reference_prefix(samples: u64, chunks: u64, seed: u64, precision: f64) -> (u64, u64) {
    let plan = ChunkPlan::new(samples, chunks).unwrap();
    let (mut inside, mut points) = (0, 0);
    for c in 0..chunks {
        inside += Kernel::Scalar.count_inside(seed, c, plan.chunk_len(c));
        points += plan.chunk_len(c);
        if mcpi::record::stats::meets(inside, points, precision) {
            return (c + 1, inside);
        }
    }
    panic!("not met");
}

#[test]
fn precision_stops_at_the_same_prefix_for_every_rank_count_mode_and_schedule() {
    let dir = scratch("precision");
    // 4000 chunks of 25 000 points; +-1e-3 needs about 10^7 points.
    let (samples, chunks, precision) = (100_000_000, 4000, 1e-3);
    let (used, inside) = reference_prefix(samples, chunks, 4242, precision);
    assert!((100..4000).contains(&used), "{used}");
    let mut cases: Vec<(usize, &str, &[&str])> = Vec::new();
    for ranks in 1..=4 {
        cases.push((ranks, "balanced", &[]));
        cases.push((ranks, "direct", &[]));
    }
    cases.push((3, "balanced", &["--schedule", "guided"]));
    cases.push((3, "balanced", &["--schedule", "static"]));
    for (ranks, mode, extra) in cases {
        let out = dir.join(format!("{mode}-{ranks}-{}.h5", extra.join("-")));
        let mut args = vec![
            "--mode",
            mode,
            "-n",
            "1e8",
            "-k",
            "4000",
            "-s",
            SEED,
            "--precision",
            "1e-3",
        ];
        args.extend(["--json", "--force", "-o", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let json = mcpi_in(&dir, ranks, &args, &[]).json();
        let what = format!("{mode} {extra:?} on {ranks} ranks");
        assert_eq!(json["stopped_by"], "precision", "{what}");
        assert_eq!(json["chunks_used"], used, "{what}");
        assert_eq!(json["inside"], inside, "{what}");
        assert_eq!(json["precision"], precision, "{what}");
        let done = json["chunks_done"].as_u64().unwrap();
        // Chunks beyond the prefix may be computed (and discarded): the ones
        // engines held, or more while a descheduled engine held back the prefix.
        assert!((used..=chunks).contains(&done), "{what}: {done} computed");
        let half = json["ci95_high"].as_f64().unwrap() - json["pi"].as_f64().unwrap();
        assert!(half <= precision * (1.0 + 1e-12), "{what}: +-{half}");
    }
}

#[test]
fn targets_decide_who_works() {
    let dir = scratch("targets");
    for mode in ["balanced", "direct"] {
        let (json, _) = run_json(&dir, 4, mode, &["--targets", ":-1"]);
        assert_eq!(json["targets"], serde_json::json!([0, 1]));
        let file = hdf5::File::open(json["output"].as_str().unwrap()).unwrap();
        let engines: Vec<EngineRow> = file.dataset("engines").unwrap().read_raw().unwrap();
        let worked: Vec<u32> = engines
            .iter()
            .filter(|e| e.chunks > 0)
            .map(|e| e.engine_id)
            .collect();
        assert_eq!(worked, [0, 1], "{mode}: only targeted engines get chunks");
        assert_eq!(engines.len(), 3, "{mode}: every engine is listed");
    }
}

#[test]
fn direct_mode_prints_one_stdout_line_per_targeted_engine() {
    let dir = scratch("stdout-lines");
    for (targets, want) in [(None, vec![0, 1, 2]), (Some(":-1"), vec![0, 1])] {
        let out = dir.join(format!("direct-{}.h5", want.len()));
        let mut args = vec!["--mode", "direct", "-n", "1e5", "-o", out.to_str().unwrap()];
        if let Some(t) = targets {
            args.extend(["--targets", t]);
        }
        let run = mcpi_in(&dir, 4, &args, &[]);
        run.ok();
        let file = hdf5::File::open(&out).unwrap();
        let engines: Vec<EngineRow> = file.dataset("engines").unwrap().read_raw().unwrap();
        let expected: Vec<String> = want
            .iter()
            .map(|&k| format!("[stdout:{k}] {}", engines[k].pid))
            .collect();
        let got: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("[stdout:"))
            .collect();
        assert_eq!(got, expected, "{targets:?}");
        let mut pids: Vec<u32> = engines.iter().map(|e| e.pid).collect();
        pids.dedup();
        assert_eq!(pids.len(), 3, "engines are distinct processes");
        assert!(run.stdout.contains("serial_time") && run.stdout.contains("elapsed"));
    }
}

#[test]
fn the_hdf5_file_holds_what_json_printed() {
    let dir = scratch("hdf5");
    for (ranks, mode) in [(3, "balanced"), (3, "direct"), (1, "balanced")] {
        let (json, _) = run_json(&dir, ranks, mode, &[]);
        let path = json["output"].as_str().unwrap();
        let file = hdf5::File::open(path).unwrap();
        let Value::Object(fields) = &json else {
            panic!("not an object")
        };
        for (name, value) in fields.iter().filter(|(name, _)| *name != "per_engine") {
            let attr = file
                .attr(name)
                .unwrap_or_else(|_| panic!("attribute {name} is missing"));
            match value {
                Value::String(s) => {
                    assert_eq!(
                        attr.read_scalar::<VarLenUnicode>().unwrap().as_str(),
                        s,
                        "{name}"
                    )
                }
                Value::Number(n) if n.is_u64() => {
                    assert_eq!(
                        attr.read_scalar::<u64>().unwrap(),
                        n.as_u64().unwrap(),
                        "{name}"
                    )
                }
                Value::Number(n) => {
                    assert_eq!(
                        attr.read_scalar::<f64>().unwrap(),
                        n.as_f64().unwrap(),
                        "{name}"
                    )
                }
                Value::Array(ids) => {
                    let got = attr.read_1d::<u64>().unwrap().to_vec();
                    let want: Vec<u64> = ids.iter().map(|v| v.as_u64().unwrap()).collect();
                    assert_eq!(got, want, "{name}");
                }
                other => panic!("{name}: unexpected JSON value {other}"),
            }
        }
        for key in [
            "mcpi_version",
            "created_utc",
            "command",
            "mpi_library",
            "rng",
            "kernel",
        ] {
            assert!(fields.contains_key(key), "{key} is stored");
        }
        assert_eq!(json["rng"], "pcg32x16-v1");

        let chunks: Vec<ChunkRow> = file.dataset("chunks").unwrap().read_raw().unwrap();
        let engines: Vec<EngineRow> = file.dataset("engines").unwrap().read_raw().unwrap();
        assert_eq!(chunks.len() as u64, CHUNKS);
        assert!(chunks
            .iter()
            .enumerate()
            .all(|(i, c)| c.chunk_id == i as u64));
        assert_eq!(chunks.iter().map(|c| c.samples).sum::<u64>(), SAMPLES);
        assert_eq!(chunks.iter().map(|c| c.inside).sum::<u64>(), json["inside"]);
        assert_eq!(
            engines.iter().map(|e| e.inside).sum::<u64>(),
            json["inside"]
        );
        assert_eq!(engines.len() as u64, json["engines"].as_u64().unwrap());
        // --json's per_engine is /engines' rows of the targeted engines.
        let per_engine = json["per_engine"].as_array().unwrap();
        assert_eq!(per_engine.len(), engines.len());
        for (e, j) in engines.iter().zip(per_engine) {
            assert_eq!(j["engine_id"], e.engine_id);
            assert_eq!(j["chunks"], e.chunks);
            assert_eq!(j["busy_s"].as_f64().unwrap(), e.busy_s);
            assert_eq!(j["idle_s"].as_f64().unwrap(), e.idle_s);
            assert_eq!(j["slow"].as_f64().unwrap(), e.slow);
        }
        let serial: f64 = chunks.iter().map(|c| c.compute_s).sum();
        assert!((serial - json["serial_s"].as_f64().unwrap()).abs() < 1e-9);
        let serial_cpu: f64 = chunks.iter().map(|c| c.compute_cpu_s).sum();
        assert!((serial_cpu - json["serial_cpu_s"].as_f64().unwrap()).abs() < 1e-9);
        // CPU time can't exceed wall time (allow the clocks' granularity).
        assert!(
            chunks.iter().all(|c| c.compute_cpu_s <= c.compute_s + 1e-3),
            "{chunks:?}"
        );
        let elapsed = json["elapsed_s"].as_f64().unwrap();
        for c in &chunks {
            assert!(c.compute_s > 0.0 && c.dispatch_s >= 0.0 && c.done_s >= c.dispatch_s);
            if mode == "balanced" {
                assert!(c.done_s <= elapsed, "chunk done after the end: {c:?}");
            }
        }
        for e in &engines {
            assert!(!e.host.is_empty() && e.pid > 0);
            assert_eq!(e.rank, if ranks == 1 { 0 } else { e.engine_id + 1 });
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

#[test]
fn default_output_goes_to_results_with_a_timestamp() {
    let dir = scratch("default-output");
    let run = mcpi_in(&dir, 2, &["-n", "1e5", "--json"], &[]);
    let json = run.json();
    let out = json["output"].as_str().unwrap();
    assert!(out.starts_with("results/mcpi-balanced-2r-"), "{out}");
    assert!(out.ends_with("Z.h5"), "{out}");
    assert!(dir.join(out).is_file());
    // Runs started together (as `srun ... &` steps of one job would be) each
    // claim their own name; none loses its results.
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || mcpi_in(&dir, 2, &["-n", "1e5", "--json"], &[]).json())
        })
        .collect();
    let mut outputs: Vec<String> = runs
        .into_iter()
        .map(|r| r.join().unwrap()["output"].as_str().unwrap().to_string())
        .collect();
    outputs.push(out.to_string());
    outputs.sort();
    outputs.dedup();
    assert_eq!(outputs.len(), 4, "{outputs:?}");
    let files: Vec<_> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        files.len(),
        4,
        "only the results, no temporary files: {files:?}"
    );
}

#[test]
fn the_slurm_job_is_recorded_and_named() {
    let dir = scratch("slurm-id");
    let env = [
        ("SLURM_JOB_ID", "9878"),
        ("SLURM_ARRAY_JOB_ID", "9876"),
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_JOB_NODELIST", "node[01-02]"),
        ("SLURM_JOB_NUM_NODES", "2"),
        ("SLURM_NTASKS", "3"),
    ];
    let json = mcpi_in(&dir, 0, &["-n", "1e5", "--json"], &env).json();
    let out = json["output"].as_str().unwrap();
    assert!(
        out.ends_with("-j9876_2.h5"),
        "array task in the name: {out}"
    );
    let file = hdf5::File::open(dir.join(out)).unwrap();
    let text = |name: &str| {
        let attr = file.attr(name).unwrap();
        attr.read_scalar::<VarLenUnicode>().unwrap().to_string()
    };
    let count = |name: &str| file.attr(name).unwrap().read_scalar::<u64>().unwrap();
    assert_eq!(text("slurm_job_id"), "9878");
    assert_eq!(text("slurm_array_job_id"), "9876");
    assert_eq!(text("slurm_array_task_id"), "2");
    assert_eq!(text("slurm_nodelist"), "node[01-02]");
    assert_eq!((count("slurm_nodes"), count("slurm_ntasks")), (2, 3));
    assert_eq!(json["slurm_ntasks"], 3);
    assert!(
        file.attr("slurm_partition").is_err(),
        "unset values are left out"
    );

    // Outside Slurm there is no slurm_* key at all.
    let json = mcpi_in(&dir, 0, &["-n", "1e5", "--json"], &[]).json();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert!(!keys.iter().any(|k| k.starts_with("slurm_")), "{keys:?}");
    assert!(!json["output"].as_str().unwrap().contains("-j"));
}

#[test]
fn mpi_library_names_the_implementation_that_ran() {
    let dir = scratch("mpi-library");
    let json = mcpi_in(&dir, 2, &["-n", "1e5", "--json", "-o", "r.h5"], &[]).json();
    let library = json["mpi_library"].as_str().unwrap();
    let (want, other) = if common::is_open_mpi() {
        ("Open MPI", "MPICH")
    } else {
        ("MPICH", "Open MPI")
    };
    assert!(
        library.starts_with(want) && !library.contains(other),
        "launched with {}, library says {library:?}",
        common::mpirun()
    );
    if let Ok(expected) = std::env::var("MCPI_EXPECT_MPI") {
        let name = match expected.as_str() {
            "openmpi" => "Open MPI",
            "mpich" => "MPICH",
            other => panic!("MCPI_EXPECT_MPI={other}: not mpich or openmpi"),
        };
        assert!(library.starts_with(name), "{expected}: {library:?}");
    }
}

/// Every line reaches the stream in one write: with stdout and stderr in one
/// pipe (`2>&1`, Slurm's merged .out files), no other output lands inside a
/// line. Stderr lines once went out as the text and then "\n".
#[test]
fn merged_stdout_and_stderr_keep_every_line_whole() {
    let dir = scratch("merged");
    for attempt in 0..100 {
        let mode = ["balanced", "direct"][attempt % 2];
        let args = [
            "--mode", mode, "-n", "2e5", "-k", "200", "--json", "--force",
        ];
        let mut args = args.to_vec();
        args.extend(["-o", "r.h5"]);
        let (reader, writer) = std::io::pipe().unwrap();
        let mut cmd = common::command(&dir, 3, &args, &[]);
        cmd.stdout(writer.try_clone().unwrap()).stderr(writer);
        let child = cmd.spawn().expect(common::SPAWN);
        drop(cmd);
        let collect = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut { reader }, &mut text).unwrap();
            text
        });
        let run = common::wait(child, "a run with merged output");
        let merged = collect.join().unwrap();
        assert_eq!(run.status, Some(0), "{merged}");
        let mut json = 0;
        for line in merged.lines() {
            if line.starts_with('{') {
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("attempt {attempt}: {e}: {line:?}\n{merged}"));
                assert!(value.is_object());
                json += 1;
            } else {
                let whole = ["ready: ", "progress ", "[stdout:"]
                    .iter()
                    .any(|p| line.starts_with(p));
                assert!(whole, "attempt {attempt}: a broken line {line:?}\n{merged}");
            }
        }
        assert_eq!(json, 1, "attempt {attempt}:\n{merged}");
    }
}

#[test]
fn json_quiet_and_progress_outputs() {
    let dir = scratch("outputs");
    let out = dir.join("r.h5");
    let out = out.to_str().unwrap();
    let quiet = mcpi_in(&dir, 3, &["-n", "1e5", "-q", "-o", out], &[]);
    quiet.ok();
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));

    let run = mcpi_in(
        &dir,
        3,
        &["-n", "1e5", "-k", "1000", "-o", out, "--force", "--json"],
        &[],
    );
    run.json();
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("progress "))
        .collect();
    assert!((1..=10).contains(&progress.len()), "{progress:?}");
    assert!(
        progress
            .last()
            .unwrap()
            .starts_with("progress 1000/1000 chunks "),
        "{progress:?}"
    );
    assert!(
        run.stderr.starts_with("ready: 2 engines, targets 0,1\n"),
        "{}",
        run.stderr
    );

    let never = mcpi_in(
        &dir,
        3,
        &["-n", "1e5", "-o", out, "--force", "--progress", "never"],
        &[],
    );
    assert!(!never.ok().stderr.contains("progress"), "{}", never.stderr);

    // The bar is drawn once the ready: line is out, never a stale one above it
    // (with --json the ready: line is on stderr too).
    let always = ["--progress", "always", "--json"];
    let bar = mcpi_in(
        &dir,
        3,
        &[&["-n", "1e6", "-o", out, "--force"][..], &always].concat(),
        &[],
    );
    bar.json();
    assert!(
        bar.stderr.starts_with("ready: 2 engines, targets 0,1\n"),
        "{:?}",
        bar.stderr
    );
    let drawn = bar.stderr.contains(" chunks  00:00:0");
    assert!(drawn, "no bar: {:?}", bar.stderr);
}

#[test]
fn force_replaces_an_existing_result() {
    let dir = scratch("force");
    let out = dir.join("r.h5");
    std::fs::write(&out, "old").unwrap();
    let args = [
        "-n",
        "1e5",
        "--json",
        "-o",
        out.to_str().unwrap(),
        "--force",
    ];
    mcpi_in(&dir, 2, &args, &[]).json();
    assert!(hdf5::File::open(&out).is_ok());
}

#[test]
fn every_kernel_gives_the_same_count_and_is_reported() {
    let dir = scratch("kernels");
    let want = reference_inside();
    let supported: Vec<Kernel> = Kernel::ALL
        .into_iter()
        .filter(|k| k.is_supported())
        .collect();
    assert!(supported.contains(&Kernel::best()));
    for kernel in supported {
        let out = dir.join(format!("{kernel}.h5"));
        let samples = SAMPLES.to_string();
        let chunks = CHUNKS.to_string();
        let args = [
            "-n",
            &samples,
            "-k",
            &chunks,
            "-s",
            SEED,
            "--json",
            "-o",
            out.to_str().unwrap(),
        ];
        let json = mcpi_in(&dir, 3, &args, &[("MCPI_KERNEL", kernel.name())]).json();
        assert_eq!(json["inside"], want, "{kernel}");
        assert_eq!(json["kernel"], kernel.name());
        let file = hdf5::File::open(&out).unwrap();
        let engines: Vec<EngineRow> = file.dataset("engines").unwrap().read_raw().unwrap();
        assert!(engines.iter().all(|e| e.kernel.as_str() == kernel.name()));
    }
    // Without an override every engine runs the best kernel of its CPU.
    let json = mcpi_in(&dir, 2, &["-n", "1e5", "--json", "-o", "best.h5"], &[]).json();
    assert_eq!(json["kernel"], Kernel::best().name());
}
