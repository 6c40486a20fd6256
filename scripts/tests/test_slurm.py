"""slurm/pi.sbatch and slurm/scaling.sbatch as real batch jobs on a live, throw-away
single-node Slurm cluster (scripts/slurm-local.sh), for each mcpi binary given.

    MCPI_SLURM_BINS="mpich=target/release/mcpi openmpi=target/openmpi/release/mcpi" \\
        .venv-plot/bin/python -m pytest scripts/tests/test_slurm.py

(scripts/test-slurm.sh runs just that.) Each IMPL=PATH names an mcpi binary and the MPI it is
built with; its plain `mpirun.IMPL -n 3` run gives the inside count every job must reproduce.
The arrays, failures, signals and the scaling sweep run with the first binary (mpich first).
Needs root: the cluster's daemons run as root; skipped otherwise, and without MCPI_SLURM_BINS.

Everything happens in a temporary directory: the cluster ($SLURM_LOCAL_DIR, default inside
it) and a submission directory with slurm/, scripts/scaling.sh, scripts/lib/ and results/, so
the repository's results/ is never written to. The cluster is torn down at the end of the
session whatever happens: failures, Ctrl-C, SIGTERM (as sent by `timeout`). Each job must end
within MCPI_TEST_JOB_TIMEOUT seconds (default 120); MCPI_TEST_KEEP=1 keeps the directory.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
from checkpoint_files import saved_chunks
from slurm_cluster import FINISHED, REPO, SCRIPTS, Cluster, alive, clean_env, h5attrs, \
    lines_matching, parse_bins

SEED = "4242"
SAMPLES = "1e7"
LONG = "3e10"   # seconds of work: a run to interrupt


def _configured():
    spec = os.environ.get("MCPI_SLURM_BINS", "")
    if not spec.strip():
        pytest.skip("no mcpi binaries to test: set MCPI_SLURM_BINS='mpich=PATH [openmpi=PATH]' "
                    "(scripts/test-slurm.sh does)", allow_module_level=True)
    if os.geteuid() != 0:
        pytest.skip("the Slurm tests need root: the throw-away cluster's daemons run as root",
                    allow_module_level=True)
    try:
        return parse_bins(spec)
    except ValueError as e:
        problem = str(e)
    pytest.fail(f"MCPI_SLURM_BINS: {problem}", pytrace=False)


BINS = _configured()
FIRST = next(iter(BINS))
each_mpi = pytest.mark.parametrize("impl", list(BINS))
PLUGIN = {"mpich": "pmi2", "openmpi": "pmix"}        # srun --mpi=... that pi.sbatch picks
LIBRARY = {"mpich": "MPICH", "openmpi": "Open MPI"}  # how mpi_library starts


class Checks:
    """Several checks of one expensive job: every failed one is reported, with what the
    job printed."""

    def __init__(self, job=None):
        self.job = job
        self.failed = []

    def __call__(self, ok, what):
        if not ok:
            self.failed.append(what)
        return ok

    def verify(self):
        if self.failed:
            shown = f"\n{self.job.show()}" if self.job else ""
            pytest.fail("\n".join(self.failed) + shown, pytrace=False)


# --- the world: a temporary directory, the references, the cluster ----------------------------

def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def sigterm_tears_down():
    """SIGTERM (from `timeout`) ends the session like Ctrl-C, so the fixtures' teardown runs."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def world():
    """A temporary directory with a submission directory in it (slurm/, scripts/scaling.sh,
    scripts/lib/, results/); yields its path. munged needs o+x on every directory above its
    socket, hence 0711 and not pytest's tmp_path."""
    tmp = tempfile.mkdtemp(prefix="mcpi-slurm-test.", dir=os.environ.get("TMPDIR", "/tmp"))
    os.chmod(tmp, 0o711)
    sub = os.path.join(tmp, "submit")
    for d in ("slurm", "scripts", "results"):
        os.makedirs(os.path.join(sub, d))
    for name in ("pi.sbatch", "scaling.sbatch"):
        shutil.copy(os.path.join(REPO, "slurm", name), os.path.join(sub, "slurm"))
    shutil.copy(os.path.join(SCRIPTS, "scaling.sh"), os.path.join(sub, "scripts"))
    shutil.copytree(os.path.join(SCRIPTS, "lib"), os.path.join(sub, "scripts", "lib"))
    try:
        yield tmp
    finally:
        if os.environ.get("MCPI_TEST_KEEP") == "1":
            print(f"kept {tmp}", file=sys.__stderr__)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def repo_results():
    """The repository's results/ before the tests."""
    path = os.path.join(REPO, "results")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def plain_inside(world, impl, args, name):
    """The inside count of a plain `mpirun.IMPL -n 3 mcpi ARGS` run on this host, outside
    Slurm, with the tests' seed; run once per `name` (its file is kept in `world`)."""
    out = os.path.join(world, f"{name}.h5")
    if not os.path.exists(out):
        flags = ["--oversubscribe"] if impl == "openmpi" else []
        cmd = [f"mpirun.{impl}", *flags, "-n", "3", BINS[impl], "-q", *args, "-s", SEED,
               "-o", out]
        res = subprocess.run(cmd, cwd=world, timeout=120, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True,
                             env=clean_env(OMPI_ALLOW_RUN_AS_ROOT="1",
                                           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"))
        if res.returncode != 0:
            pytest.fail(f"{' '.join(cmd)}: exit {res.returncode}\n{res.stderr}", pytrace=False)
    return h5attrs(out)["inside"]


@pytest.fixture(scope="session")
def plain(world):
    """inside(impl, samples): the inside count of a plain `mpirun.IMPL -n 3` run with the
    tests' seed (each run once)."""
    return lambda impl, samples=SAMPLES: plain_inside(
        world, impl, ["-n", samples], f"plain-{impl}-{samples}")


@pytest.fixture(scope="session")
def cluster(world, request):
    """The cluster, up; `down` at the end of the session whatever happened (a second `down`
    after test_down_stops_exactly_its_daemons finds nothing to do)."""
    c = Cluster(os.environ.get("SLURM_LOCAL_DIR") or os.path.join(world, "cluster"),
                os.path.join(world, "submit"), int(os.environ.get("MCPI_TEST_JOB_TIMEOUT", "120")))
    yield from running(c, request)


def running(c, request):
    """Brings cluster `c` up, yields it, and brings it down whatever happened (a fixture's body)."""
    try:
        up = c.local("up")
        if up.returncode != 0:
            pytest.fail(f"slurm-local.sh up: exit {up.returncode}\n{up.stdout}{up.stderr}",
                        pytrace=False)
        c.up_output = up.stderr
        c.daemons = c.pids()
        yield c
    finally:
        # A second signal must not cut the teardown short (timeout -k kills later anyway).
        signal.signal(signal.SIGTERM, lambda *_: None)
        signal.signal(signal.SIGINT, lambda *_: None)
        try:
            _show_logs_after_failures(c, request)
            down = c.local("down")
            if down.returncode != 0:
                print(f"slurm-local.sh down: exit {down.returncode}\n{down.stderr}",
                      file=sys.__stderr__)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, _interrupt)


def _show_logs_after_failures(cluster, request):
    """After a failed test, the daemons' last log lines (before `down` removes them)."""
    if request.session.testsfailed and os.path.isdir(cluster.dir):
        print(f"\n{cluster.log_tails()}", file=sys.__stderr__, end="")


@pytest.fixture(scope="session")
def cpus(cluster):
    res = cluster.run("sinfo", "-h", "-o", "%c")
    return int(res.stdout.split()[0])


@pytest.fixture(scope="session")
def jobs(cluster, cpus):
    """job(name, impl): the finished job of that name for that binary, submitted once."""
    done = {}
    submissions = {
        # The default 4 tasks exceed the node's CPUs here: --overcommit. srun with the plugin
        # chosen for this MPI (pmi2 for MPICH, pmix for Open MPI).
        "default": lambda impl: cluster.submit(
            "--overcommit", "slurm/pi.sbatch", "--samples", SAMPLES, "--seed", SEED, "--json",
            env={"MCPI_BIN": BINS[impl]}),
        # One task: the serial baseline as a job. Options from MCPI_ARGS.
        "one-task": lambda impl: cluster.submit(
            "--ntasks=1", "slurm/pi.sbatch", "--json",
            env={"MCPI_BIN": BINS[impl],
                 "MCPI_ARGS": f"--samples {SAMPLES} --seed {SEED} --mode direct"}),
        # Through the MPI library's own mpirun, as many tasks as CPUs.
        "mpirun": lambda impl: cluster.submit(
            f"--ntasks={cpus}", "slurm/pi.sbatch", "-n", SAMPLES, "-s", SEED,
            "--mode", "direct", "--json", env={"MCPI_BIN": BINS[impl], "MCPI_LAUNCHER": "mpirun"}),
        "sweep": lambda impl: cluster.submit(
            "--overcommit", "--ntasks=3", "slurm/scaling.sbatch",
            env={"MCPI_BIN": BINS[impl], "NP": "1 2 3", "SAMPLES": SAMPLES, "REPEATS": "2",
                 "SEED": SEED}),
    }

    def job(name, impl):
        if (name, impl) not in done:
            done[name, impl] = submissions[name](impl)
        return done[name, impl]

    return job


def expect_job(cluster, job, ranks, inside, tag=None):
    """A finished pi.sbatch job: exit status, output file, JSON, the -j<tag>.h5 file with
    its slurm_* attributes, and the inside count. Returns (checks, the HDF5 attributes)."""
    tag = tag or job.id
    check = Checks(job)
    check(job.rc == 0, f"job {job.id}: exit {job.rc}, expected 0")
    check(os.path.exists(job.out) and os.path.getsize(job.out) > 0,
          f"job {job.id}: no job output {job.out}")
    h5 = os.path.join(cluster.sub, "results", f"mcpi-j{tag}.h5")
    attrs = h5attrs(h5) if check(os.path.exists(h5), f"job {job.id}: no result {h5}") else {}
    summary = job.json()
    check(summary.get("output") == f"results/mcpi-j{tag}.h5",
          f"job {job.id}: JSON output {summary.get('output')!r}, expected results/mcpi-j{tag}.h5")
    check((summary.get("ranks"), attrs.get("ranks")) == (ranks, ranks),
          f"job {job.id}: ranks JSON {summary.get('ranks')}, HDF5 {attrs.get('ranks')}, "
          f"expected {ranks}")
    got = tuple(str(attrs.get(k)) for k in ("slurm_job_id", "slurm_nodes", "slurm_ntasks"))
    check(got == (job.id, "1", str(ranks)),
          f"job {job.id}: HDF5 slurm_job_id, slurm_nodes, slurm_ntasks {got}, "
          f"expected {(job.id, '1', str(ranks))}")
    check(attrs.get("inside") == inside,
          f"job {job.id}: HDF5 inside {attrs.get('inside')} != plain mpirun's {inside}")
    return check, attrs


# --- the references and the cluster --------------------------------------------------------

@each_mpi
def test_plain_mpirun_reference(plain, impl):
    assert isinstance(plain(impl), int) and plain(impl) > 0


def test_cluster_is_up(cluster):
    assert re.search(r"slurm-local: up: node \S+, \d+ CPUs", cluster.up_output), cluster.up_output
    assert len(cluster.daemons) == 3 and all(alive(p) for p in cluster.daemons)


def test_up_again_finds_it_running(cluster):
    res = cluster.local("up")
    assert res.returncode == 0 and "already up" in res.stderr, res.stderr


def test_status(cluster):
    res = cluster.local("status")
    assert res.returncode == 0, res.stdout + res.stderr


# --- slurm/pi.sbatch with each binary ------------------------------------------------------

@each_mpi
def test_default_job_srun(cluster, jobs, plain, impl):
    job = jobs("default", impl)
    check, attrs = expect_job(cluster, job, 4, plain(impl))
    check(str(attrs.get("mpi_library", "")).startswith(LIBRARY[impl]),
          f"job {job.id}: mpi_library {attrs.get('mpi_library')!r} is not {impl}'s")
    check(lines_matching(rf"command: *srun --mpi={PLUGIN[impl]} ", job.text()),
          f"job {job.id}: not launched with srun --mpi={PLUGIN[impl]}")
    check.verify()


@each_mpi
def test_one_task_with_mcpi_args(cluster, jobs, plain, impl):
    check, _ = expect_job(cluster, jobs("one-task", impl), 1, plain(impl))
    check.verify()


@each_mpi
def test_mpirun_launcher(cluster, jobs, plain, cpus, impl):
    job = jobs("mpirun", impl)
    check, _ = expect_job(cluster, job, cpus, plain(impl))
    check(lines_matching(rf"command: *mpirun\.{impl} -n {cpus} ", job.text()),
          f"job {job.id}: not launched with mpirun.{impl} -n {cpus}")
    check.verify()


# --- arrays, failures, signals (the first binary) ------------------------------------------

def test_array_job(cluster, plain):
    """Every task names its result <array job>_<task> and records both ids."""
    job = cluster.submit("--array=1-2", "--ntasks=1", "slurm/pi.sbatch", "-n", SAMPLES, "-s", SEED,
                         env={"MCPI_BIN": BINS[FIRST]})
    check = Checks(job)
    check(job.rc == 0, f"array job {job.id}: exit {job.rc}")
    for task in (1, 2):
        h5 = os.path.join(cluster.sub, "results", f"mcpi-j{job.id}_{task}.h5")
        if check(os.path.exists(h5), f"array job {job.id} task {task}: no {h5}"):
            a = h5attrs(h5)
            got = (str(a.get("slurm_array_job_id")), str(a.get("slurm_array_task_id")),
                   a.get("inside"))
            check(got == (job.id, str(task), plain(FIRST)),
                  f"array job {job.id} task {task}: array job/task id, inside {got}")
    check.verify()


def test_bad_option_fails_the_job_with_one_message(cluster):
    """mcpi's message reaches the job output once (rank 0 only), and no result is written."""
    job = cluster.submit("--ntasks=2", "slurm/pi.sbatch", "--samples", SAMPLES, "--bogus",
                         env={"MCPI_BIN": BINS[FIRST]})
    check = Checks(job)
    check(job.rc != 0, f"job {job.id} (--bogus): exit 0")
    n = len(lines_matching(r"^mcpi: error: unexpected argument '--bogus'", job.text()))
    check(n == 1, f"job {job.id}: {n} 'mcpi: error: unexpected argument' lines, expected 1")
    check(cluster.results(f"*-j{job.id}.h5") == [], f"job {job.id}: wrote a result file")
    check.verify()


def test_missing_mcpi_fails_at_once(cluster):
    """sbatch --wait returns the job's status: 126 for an mcpi that is not there."""
    job = cluster.submit("--ntasks=1", "slurm/pi.sbatch", env={"MCPI_BIN": "/nonexistent/mcpi"},
                         sbatch_wait=True)
    assert job.rc == 126, job.show()
    assert lines_matching(r"^pi\.sbatch: error: /nonexistent/mcpi is not an executable file",
                          job.text()), job.show()


@pytest.mark.skipif(FIRST != "mpich", reason="srun --mpi=none: tested with MPICH's binary")
def test_srun_mpi_none_is_refused(cluster):
    """An srun plugin that MPICH does not speak: every task would run alone; mcpi refuses."""
    job = cluster.submit("--ntasks=2", "slurm/pi.sbatch", "-n", "1e6",
                         env={"MCPI_BIN": BINS[FIRST], "MCPI_SRUN_MPI": "none"})
    assert job.rc != 0, job.show()
    assert lines_matching(r"^mcpi: error: srun started 2 tasks but MPI sees 1 rank",
                          job.text()), job.show()


def _wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s", pytrace=False)
        time.sleep(0.1)


def _chunks_done(path):
    """Chunks saved in the checkpoint `path`, base and journal; 0 before it exists."""
    try:
        return saved_chunks(path)
    except (OSError, KeyError):
        return 0   # not there yet


def test_sigterm_checkpoint_and_requeued_resume(cluster, plain):
    """SIGTERM to the batch shell (what --signal=B:TERM@60 sends before the time limit)
    reaches the ranks through the trap: mcpi saves its checkpoint and the job ends with 143.
    Requeued, the same job finds the checkpoint and resumes it to the uninterrupted count."""
    want = plain(FIRST, LONG)
    job_id = cluster.sbatch("--ntasks=2", "slurm/pi.sbatch", "-n", LONG, "-s", SEED, "-q",
                            "--checkpoint-every", "0.2", env={"MCPI_BIN": BINS[FIRST]})
    out = os.path.join(cluster.sub, "results", f"mcpi-{job_id}.out")
    checkpoint = os.path.join(cluster.sub, "results", f"mcpi-j{job_id}.partial.h5")
    result = os.path.join(cluster.sub, "results", f"mcpi-j{job_id}.h5")

    def text():
        with open(out, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    completed = False
    try:
        _wait_for("checkpoint with 5 chunks", lambda: _chunks_done(checkpoint) >= 5, 60)
        cluster.run("scancel", "--batch", "--signal=TERM", job_id, timeout=10)
        cluster.wait(job_id, done=FINISHED | {"PENDING", "REQUEUED"}, timeout=30)
        check = Checks()
        check(lines_matching(r"^== received SIGTERM at .*: sending it to the ranks", text()),
              f"job {job_id}: the trap did not pass SIGTERM on to the ranks")
        exit_code = re.search(r"ExitCode=[0-9:]+", cluster.run(
            "scontrol", "show", "job", "-o", job_id).stdout)
        check(exit_code and exit_code.group(0) == "ExitCode=143:0",
              f"job {job_id}: {exit_code and exit_code.group(0)}, expected mcpi's 143")
        saved = _chunks_done(checkpoint)
        name = f"results/mcpi-j{job_id}.partial.h5"
        check(lines_matching(rf"^mcpi: interrupted by SIGTERM: {saved}/100 chunks saved in "
                             rf"{re.escape(name)}; resume with mcpi --resume {re.escape(name)}",
                             text()),
              f"job {job_id}: no 'interrupted by SIGTERM: {saved}/100 chunks saved' line")
        check(0 < saved < 100, f"job {job_id}: {saved} of 100 chunks saved")
        if check.failed:
            check.failed.append(f"----- {os.path.basename(out)} -----\n{text()}")
        check.verify()

        cluster.run("scontrol", "requeue", job_id, timeout=10)
        # A requeued job waits about two minutes before it may start again, so that the node
        # can clean up after its first run (srun's pmi2 fails in a step that starts too soon).
        # Start it once slurmd has finished with the first run's step and batch script.
        slurmd_log = os.path.join(cluster.dir, "log", "slurmd.log")

        def first_run_cleaned_up():
            with open(slurmd_log, encoding="utf-8", errors="replace") as fh:
                log = fh.read()
            return all(f"[{job_id}.{step}] done with job" in log for step in ("0", "batch"))

        _wait_for(f"end of job {job_id}'s first run in slurmd.log", first_run_cleaned_up, 60)
        cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now", timeout=10)
        states = cluster.wait(job_id, done={"COMPLETED", "FAILED"})
        completed = states[0][0] == "COMPLETED"
        check = Checks()
        check(completed, f"job {job_id} requeued: {states}")
        check(lines_matching(rf"^== resuming {re.escape(name)} \(restart 1 of job {job_id}\)",
                             text()), f"job {job_id} requeued: did not resume its checkpoint")
        a = h5attrs(result) if os.path.exists(result) else {}
        got = (a.get("inside"), a.get("sessions"), str(a.get("slurm_job_id")))
        check(got == (want, 2, job_id), f"job {job_id} requeued: inside, sessions, job {got}, "
                                        f"expected {(want, 2, job_id)}")
        check(not os.path.exists(checkpoint), f"job {job_id} requeued: the checkpoint is left")
        if check.failed:
            check.failed.append(f"----- {os.path.basename(out)} -----\n{text()}")
        check.verify()
    finally:
        if not completed:
            cluster.run("scancel", job_id, timeout=10)


# --- slurm/scaling.sbatch and scripts/plot (the first binary) ------------------------------

def test_scaling_job(cluster, jobs, plain):
    """scripts/scaling.sh with srun steps inside one allocation: one folder, one file per run,
    the same answer."""
    job = jobs("sweep", FIRST)
    check = Checks(job)
    check(job.rc == 0, f"job {job.id}: exit {job.rc}, expected 0")
    dirs = cluster.results(f"scaling-*-j{job.id}")
    check(len(dirs) == 1, f"job {job.id}: sweep folders {dirs}, expected one")
    folder = dirs[0] if dirs else "/nonexistent"
    want_files = sorted(f"strong-{m}-{n}r-{r}.h5" for r in (1, 2) for n in (1, 2, 3)
                        for m in ("balanced", "direct"))
    files = sorted(f for f in os.listdir(folder) if f.endswith(".h5")) if dirs else []
    check(files == want_files, f"job {job.id}: files {files}, expected {want_files}")
    meta, rows, header = {}, [], None
    manifest = os.path.join(folder, "manifest.tsv")
    if check(os.path.exists(manifest), f"job {job.id}: no manifest.tsv"):
        with open(manifest, encoding="utf-8") as fh:
            for line in fh.read().splitlines():
                if line.startswith("# "):
                    key, _, value = line[2:].partition("\t")
                    meta[key] = value
                elif header is None:
                    header = line.split("\t")
                else:
                    rows.append(dict(zip(header, line.split("\t"))))
    check(sorted(r.get("file") for r in rows) == want_files,
          f"job {job.id}: manifest.tsv lists {sorted(r.get('file') for r in rows)}")
    launcher = f"srun --mpi={PLUGIN[FIRST]} -n N"
    check((meta.get("launcher"), meta.get("slurm_job_id")) == (launcher, job.id),
          f"job {job.id}: manifest.tsv names launcher {meta.get('launcher')!r} and job "
          f"{meta.get('slurm_job_id')!r}, expected {launcher!r} and {job.id}")
    attrs = [h5attrs(os.path.join(folder, f)) for f in files]
    insides = sorted({a["inside"] for a in attrs})
    check(insides == [plain(FIRST)], f"job {job.id}: inside counts {insides}, expected "
                                     f"plain mpirun's {plain(FIRST)}")
    recorded = sorted({f"{a['mode']}-{a['ranks']}r-{a.get('slurm_job_id')}" for a in attrs})
    check(recorded == sorted(f"{m}-{n}r-{job.id}" for m in ("balanced", "direct")
                             for n in (1, 2, 3)),
          f"job {job.id}: files record mode, ranks and job {recorded}")
    steps = {a.get("slurm_step_id") for a in attrs}
    check(len(steps) == 12, f"job {job.id}: {len(steps)} step ids, expected a step per run")
    check.verify()


def test_plot_of_the_slurm_sweep(cluster, jobs):
    """The figures, with the repository's scripts/plot (and its .venv-plot)."""
    job = jobs("sweep", FIRST)
    dirs = cluster.results(f"scaling-*-j{job.id}")
    assert len(dirs) == 1, job.show()
    res = subprocess.run([os.path.join(SCRIPTS, "plot"), dirs[0]], env=cluster.env,
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    for fig in ("strong-scaling", "gantt", "load-balance", "convergence"):
        path = os.path.join(dirs[0], f"{fig}.png")
        assert os.path.exists(path) and os.path.getsize(path) > 0, f"no {fig}.png"


def test_impossible_request_is_refused_at_once(cluster):
    """A request the node can never satisfy fails at submission, not pending forever."""
    res = cluster.run("sbatch", "--parsable", "--ntasks=100000", "slurm/pi.sbatch")
    assert res.returncode != 0, res.stdout


def test_repository_results_untouched(cluster, repo_results):
    path = os.path.join(REPO, "results")
    assert (sorted(os.listdir(path)) if os.path.isdir(path) else []) == repo_results


# --- last: down --------------------------------------------------------------------------

def test_down_stops_exactly_its_daemons(cluster, request):
    _show_logs_after_failures(cluster, request)
    res = cluster.local("down")
    assert res.returncode == 0, res.stderr
    left = [p for p in cluster.daemons if alive(p)]
    assert not left, f"daemons left running: {left}"
    assert cluster.local("down").returncode == 0, "a second down: not exit 0"
    assert cluster.local("status").returncode == 1, "status after down: not exit 1"
