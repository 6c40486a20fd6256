"""scripts/scaling.sh: settings, launcher override, folder naming, refusals."""

import os
import stat

import h5py
from conftest import SCRIPTS, run
from mcpi_plot.read import MANIFEST_COLUMNS

SCALING = os.path.join(SCRIPTS, "scaling.sh")
QUICK = {"SAMPLES": "1e6", "NP": "1 2", "REPEATS": "1", "MODES": "balanced",
         "KINDS": "strong"}


def refused(res):
    lines = res.stderr.splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("scaling.sh: error: "), res.stderr
    return lines[0]


def test_help():
    res = run([SCALING, "--help"])
    assert res.returncode == 0
    for word in ("NP", "SAMPLES", "REPEATS", "MODES", "OUT", "PER_ENGINE", "MCPI_LAUNCHER",
                 "SLURM_JOB_ID", "manifest.tsv", "never overwrite"):
        assert word in res.stdout, word
    # The manifest's columns, as scripts/lib/manifest-columns lists them for both.
    assert MANIFEST_COLUMNS[:2] == ("kind", "mode") and MANIFEST_COLUMNS[-1] == "file"
    assert f"finished run: {' '.join(MANIFEST_COLUMNS)}." in res.stdout.replace("\n", " ")


def test_options_win_over_the_environment(tmp_path):
    out = tmp_path / "s"
    res = run([SCALING, "--np", "2", "--modes", "direct", "--samples", "2e6", "--kinds",
               "weak", "--per-engine", "3e5", "--chunks", "7", "--seed", "5", "-o", str(out)],
              env=dict(QUICK, REPEATS="2"))
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in (out / "manifest.tsv").read_text().splitlines()
             if not ln.startswith("#")]
    assert tuple(lines[0].split("\t")) == MANIFEST_COLUMNS and len(lines) == 3
    for i, line in enumerate(lines[1:], 1):
        kind, mode, ranks, engines, rep, samples, chunks, _, name = line.split("\t")
        assert (kind, mode, ranks, engines, rep, samples, chunks, name) == (
            "weak", "direct", "2", "1", str(i), "300000", "7", f"weak-direct-2r-{i}.h5")
        with h5py.File(out / name, "r") as f:
            assert int(f.attrs["seed"]) == 5 and int(f.attrs["chunks"]) == 7
    assert sum(1 for ln in res.stdout.splitlines() if ln.startswith("weak   direct")) == 3


def test_launcher_override_and_job_id_folder(tmp_path):
    """MCPI_LAUNCHER words + -n N launch every run; SLURM_JOB_ID names the folder.

    The wrapped launcher is $MCPI_MPIRUN (scripts/test.sh sets the binary's mpirun), else mpirun.
    """
    log = tmp_path / "launch.log"
    launcher = tmp_path / "launch"
    launcher.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        f'printf "%s\\n" "$*" >>"{log}"\n'
        '[ "$1" = --tag ] && shift\n'
        'mpirun=${MCPI_MPIRUN:-mpirun} flags=()\n'
        'if "$mpirun" --version 2>/dev/null | grep -qE "Open MPI|OpenRTE"; then\n'
        '    flags=(--oversubscribe)\n'
        'fi\n'
        'exec "$mpirun" "${flags[@]}" "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    env = dict(QUICK, MCPI_LAUNCHER=f"{launcher} --tag", SLURM_JOB_ID="4242",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    res = run([SCALING], env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    assert [c.split()[:3] for c in calls] == [["--tag", "-n", "1"], ["--tag", "-n", "2"]]
    folders = os.listdir(tmp_path / "results")
    assert len(folders) == 1 and folders[0].startswith("scaling-")
    assert folders[0].endswith("Z-j4242")
    text = (tmp_path / "results" / folders[0] / "manifest.tsv").read_text()
    assert f"# launcher\t{launcher} --tag -n N\n" in text
    assert "# slurm_job_id\t4242\n" in text
    # A second sweep gets a folder of its own.
    res = run([SCALING], env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(os.listdir(tmp_path / "results")) == 2


def test_refuses_a_non_empty_out(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "manifest.tsv").write_text("earlier sweep\n")
    line = refused(run([SCALING], env=dict(QUICK, OUT=str(out))))
    assert "is not empty" in line
    assert os.listdir(out) == ["manifest.tsv"]
    assert (out / "manifest.tsv").read_text() == "earlier sweep\n"


def test_bad_settings_are_refused_before_any_run(tmp_path):
    for env, word in (({"NP": "0"}, "NP"), ({"NP": "2 x"}, "NP"), ({"SAMPLES": "1.5"}, "SAMPLES"),
                      ({"REPEATS": "0"}, "REPEATS"), ({"MODES": "fast"}, "MODES"),
                      ({"KINDS": "both"}, "KINDS"), ({"CHUNKS": "2e6"}, "CHUNKS")):
        out = tmp_path / f"o{len(os.listdir(tmp_path))}"
        line = refused(run([SCALING], env=dict(QUICK, OUT=str(out), **env)))
        assert word in line
        assert not out.exists()
    assert "unknown argument" in refused(run([SCALING, "--bogus"], env=QUICK))
