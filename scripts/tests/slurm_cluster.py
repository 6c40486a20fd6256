"""A throw-away Slurm cluster (scripts/slurm-local.sh), of one node or of several simulated
ones, and batch jobs on it, for test_slurm.py and test_nodes.py: submitting, waiting with a
deadline, reading what a job left behind, and the nodes' links."""

import glob
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass

import h5py
import numpy as np

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(SCRIPTS)
SLURM_LOCAL = os.path.join(SCRIPTS, "slurm-local.sh")
IMPLS = ("mpich", "openmpi")
# The caller's settings that would change what the batch scripts do.
DROPPED_ENV = ("MCPI_BIN", "MCPI_ARGS", "MCPI_LAUNCHER", "MCPI_SRUN_MPI", "MCPI_MPIRUN", "NP",
               "SAMPLES", "PER_ENGINE", "CHUNKS", "REPEATS", "MODES", "KINDS", "SEED", "OUT")
# Job states after which nothing more happens (COMPLETING is not one: steps still end).
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def parse_bins(spec):
    """'mpich=PATH openmpi=PATH' as {impl: absolute path}, mpich first; ValueError says why
    a word is wrong."""
    bins = {}
    for word in spec.split():
        impl, sep, path = word.partition("=")
        if not sep or impl not in IMPLS or not path:
            raise ValueError(f"'{word}': expected mpich=PATH or openmpi=PATH")
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise ValueError(f"{impl}: no executable mcpi at {path}")
        if not any(os.access(os.path.join(d, f"mpirun.{impl}"), os.X_OK)
                   for d in os.environ.get("PATH", "").split(os.pathsep)):
            raise ValueError(f"{impl}: mpirun.{impl} is not installed")
        bins[impl] = os.path.realpath(path)
    return {impl: bins[impl] for impl in IMPLS if impl in bins}


def clean_env(**extra):
    """This process's environment without any Slurm job's variables (the tests may run
    inside someone's allocation) or the batch scripts' settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") and k not in DROPPED_ENV}
    env["PATH"] = "/usr/sbin:/sbin:" + env.get("PATH", "")   # slurmctld, slurmd, munged
    env["LC_ALL"] = "C"
    env.update(extra)
    return env


def h5attrs(path):
    """The root attributes of an HDF5 file as plain Python values."""
    def plain(v):
        if isinstance(v, bytes):
            return v.decode()
        if isinstance(v, np.ndarray):
            return [plain(x) for x in v.tolist()]
        return v.item() if isinstance(v, np.generic) else v

    with h5py.File(path, "r") as f:
        return {k: plain(v) for k, v in f.attrs.items()}


def alive(pid):
    """Whether PID exists and is not a zombie (PID 1 here may reap zombies late)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def lines_matching(pattern, text):
    return re.findall(pattern, text, re.M)


@dataclass
class Job:
    """A finished batch job: its id (an array's job id), exit status as `sbatch --wait`
    gives it, final state, output file and how long the test waited for it."""
    id: str
    rc: int
    state: str
    out: str
    seconds: float

    def text(self):
        try:
            with open(self.out, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def json(self):
        """The JSON summary that mcpi --json printed, as a dict ({} when none).

        It is a line of mcpi's stdout; the job's output file also holds stderr, and mpirun
        forwards the two streams separately, so a stderr line that mcpi wrote in two pieces
        (direct mode's "[stdout:0] PID", then its newline) can end up in front of it."""
        for line in self.text().splitlines():
            start = line.find('{"')
            if start >= 0:
                try:
                    return json.loads(line[start:])
                except ValueError:
                    continue
        return {}

    def show(self):
        """What the job printed, for a failure message."""
        text = self.text()
        name = os.path.basename(self.out)
        return (f"job {self.id}: exit {self.rc}, {self.state}, {self.seconds:.1f} s\n"
                + (f"----- {name} -----\n{text}" if text else f"(no job output file {name})"))


class Cluster:
    """slurm-local.sh's cluster in `local_dir` (`nodes` simulated nodes, each with `cpus`
    CPUs when given), with jobs submitted from `submit_dir` (a stand-in for the repository
    root). Every wait is bounded."""

    def __init__(self, local_dir, submit_dir, job_timeout, nodes=1, cpus=None):
        self.dir = local_dir
        self.sub = submit_dir
        self.job_timeout = job_timeout
        self.env = clean_env(SLURM_LOCAL_DIR=local_dir, SLURM_LOCAL_NODES=str(nodes),
                             SLURM_CONF=os.path.join(local_dir, "slurm.conf"))
        if cpus:
            self.env["SLURM_LOCAL_CPUS"] = str(cpus)
        self.daemons = []

    def local(self, *command, timeout=90):
        """scripts/slurm-local.sh COMMAND (up, status, down; kill NODE; link NODE up|down)."""
        return subprocess.run([SLURM_LOCAL, *command], env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def recorded(self, kind):
        """{host: name} of the namespaces ("netns") or links ("link": the bridge side of
        each veth pair) that slurm-local.sh recorded for several nodes."""
        found = {}
        with open(os.path.join(self.dir, "net"), encoding="utf-8") as fh:
            for line in fh:
                words = line.split()
                if len(words) == 3 and words[0] == kind:
                    found[words[2]] = words[1]
        return found

    def links(self):
        return self.recorded("link")

    def bytes_from(self, node):
        """Bytes NODE has sent over its link so far (what the bridge side received)."""
        path = f"/sys/class/net/{self.links()[node]}/statistics/rx_bytes"
        with open(path, encoding="utf-8") as fh:
            return int(fh.read())

    def pids(self):
        try:
            with open(os.path.join(self.dir, "pids"), encoding="utf-8") as fh:
                return [int(line.split()[0]) for line in fh if line.strip()]
        except OSError:
            return []

    def run(self, *cmd, env=None, timeout=30):
        """A command in the submission directory, against this cluster."""
        return subprocess.run([str(c) for c in cmd], cwd=self.sub,
                              env=dict(self.env, **(env or {})), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def sbatch(self, *args, env=None):
        """Submits without waiting; returns the job id."""
        res = self.run("sbatch", "--parsable", *args, env=env)
        assert res.returncode == 0, f"sbatch {' '.join(map(str, args))}: {res.stderr}"
        return res.stdout.split(";")[0].strip()

    def states(self, job_id):
        """[(state, exit status)] of the job (one per array task), [] once Slurm has
        forgotten it. The status is as `sbatch --wait` reports it: the exit code, or 128 +
        the signal that ended the script."""
        res = self.run("scontrol", "show", "job", "-o", job_id, timeout=10)
        found = []
        for line in res.stdout.splitlines():
            state = re.search(r"\bJobState=(\S+)", line)
            code = re.search(r"\bExitCode=(\d+):(\d+)", line)
            if state:
                status, signal = (int(code.group(1)), int(code.group(2))) if code else (0, 0)
                found.append((state.group(1), 128 + signal if signal else status))
        return found

    def wait(self, job_id, done=FINISHED, timeout=None):
        """Polls until every task of the job is in a state of `done`; returns the states.
        Fails after `timeout` seconds (default: the job timeout)."""
        deadline = time.monotonic() + (timeout or self.job_timeout)
        while True:
            states = self.states(job_id)
            if states and all(s in done for s, _ in states):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id}: still {states} after "
                                     f"{timeout or self.job_timeout} s")
            time.sleep(0.1)

    def submit(self, *args, env=None, sbatch_wait=False):
        """Submits a batch job from the submission directory and waits until it has
        finished, within the job timeout. By default it polls scontrol every 0.1 s;
        sbatch_wait=True waits with `sbatch --wait` instead (which polls after 2, 10, 42 s)."""
        name = "mcpi-scaling" if "slurm/scaling.sbatch" in args else "mcpi"
        t0 = time.monotonic()
        if sbatch_wait:
            try:
                res = self.run("sbatch", "--wait", "--parsable", *args, env=env,
                               timeout=self.job_timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"sbatch --wait {' '.join(args)}: no end within "
                                     f"{self.job_timeout} s") from None
            job_id = res.stdout.split(";")[0].strip()
            assert job_id.isdigit(), f"sbatch printed no job id: {res.stderr}"
            rc = res.returncode
            state = ",".join(s for s, _ in self.states(job_id))
        else:
            job_id = self.sbatch(*args, env=env)
            states = self.wait(job_id)
            rc = max(status for _, status in states)
            state = ",".join(sorted({s for s, _ in states}))
        out = os.path.join(self.sub, "results", f"{name}-{job_id}.out")
        return Job(job_id, rc, state, out, time.monotonic() - t0)

    def results(self, pattern):
        """Paths under the submission directory's results/ matching a glob pattern."""
        return sorted(glob.glob(os.path.join(self.sub, "results", pattern)))

    def log_tails(self, lines=15):
        """The last lines of slurmctld's and the slurmds' logs, for a failure report."""
        text = ""
        for path in sorted(glob.glob(os.path.join(self.dir, "log", "slurm*.log"))):
            with open(path, encoding="utf-8", errors="replace") as fh:
                tail = fh.read().splitlines()[-lines:]
            text += f"----- last lines of {os.path.basename(path)} -----\n" + "\n".join(tail) + "\n"
        return text
