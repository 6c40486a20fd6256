"""Shared fixtures: two small real sweeps of scripts/scaling.sh (scaling, and schedules
against a straggler), each made once per session.

The sweep runs the real mcpi binary ($MCPI_BIN, else target/release/mcpi) under the
real launcher, so every figure and number below comes from files mcpi wrote.
"""

import os
import shutil
import subprocess
import sys

import pytest

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(SCRIPTS)
sys.path.insert(0, SCRIPTS)

SWEEP_ENV = {"SAMPLES": "1e7", "NP": "1 2 3", "REPEATS": "2", "CHUNKS": "100"}
# The four schedules without and with engine 0 three times as slow, twice each: 16 runs of
# 2e8 points (a few hundredths of a second each), long enough for the straggler to show.
SCHEDULES_ENV = {"SAMPLES": "2e8", "NP": "3", "REPEATS": "2", "SLOW": "none 0=3"}
TIMEOUT = 300  # seconds for any one command


def mcpi_bin():
    path = os.environ.get("MCPI_BIN") or os.path.join(REPO, "target", "release", "mcpi")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no mcpi binary at {path}: run cargo build --release or set MCPI_BIN")
    return path


def run(cmd, env=None, cwd=None, timeout=TIMEOUT):
    full = dict(os.environ, MCPI_BIN=mcpi_bin(), **(env or {}))
    return subprocess.run(cmd, env=full, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def plot(*args, cwd=None):
    """scripts/plot's package in this interpreter (the venv of scripts/plot), as scripts/plot
    runs it."""
    pythonpath = os.pathsep.join(p for p in (SCRIPTS, os.environ.get("PYTHONPATH")) if p)
    return run([sys.executable, "-P", "-m", "mcpi_plot", *map(str, args)], cwd=cwd,
               env={"MPLBACKEND": "Agg", "PYTHONPATH": pythonpath})


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """(folder, stdout) of SAMPLES=1e7 NP="1 2 3" REPEATS=2 scripts/scaling.sh."""
    out = tmp_path_factory.mktemp("sweep") / "scaling"
    res = run([os.path.join(SCRIPTS, "scaling.sh")], env=dict(SWEEP_ENV, OUT=str(out)))
    assert res.returncode == 0, res.stderr
    return out, res.stdout


@pytest.fixture
def sweep_copy(sweep, tmp_path):
    """A private copy of the sweep folder, to damage."""
    dest = tmp_path / "copy"
    shutil.copytree(sweep[0], dest)
    return dest


@pytest.fixture(scope="session")
def schedules_sweep(tmp_path_factory):
    """(folder, stdout) of SAMPLES=2e8 NP=3 REPEATS=2 SLOW="none 0=3" scripts/scaling.sh:
    SLOW alone selects the schedules sweep of every schedule (direct dynamic guided static)."""
    out = tmp_path_factory.mktemp("schedules") / "sweep"
    res = run([os.path.join(SCRIPTS, "scaling.sh")], env=dict(SCHEDULES_ENV, OUT=str(out)))
    assert res.returncode == 0, res.stderr
    return out, res.stdout
