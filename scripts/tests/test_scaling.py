"""scripts/scaling.sh: settings, launcher override, folder naming, refusals, and the
schedules sweep."""

import os
import stat

import h5py
import numpy as np
import pytest
from conftest import SCRIPTS, plot, run
from mcpi_plot.read import MANIFEST_COLUMNS

SCALING = os.path.join(SCRIPTS, "scaling.sh")
QUICK = {"SAMPLES": "1e6", "NP": "1 2", "REPEATS": "1", "MODES": "balanced",
         "KINDS": "strong"}
SCHEDULES = ("direct", "dynamic", "guided", "static")


def manifest(folder):
    """(meta, rows) of a sweep folder's manifest.tsv, rows as dicts by the header."""
    meta, rows, header = {}, [], None
    for line in (folder / "manifest.tsv").read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition("\t")
            meta[key] = value
        elif header is None:
            header = line.split("\t")
        else:
            rows.append(dict(zip(header, line.split("\t"))))
    assert tuple(header) == MANIFEST_COLUMNS
    return meta, rows


def attr(f, key):
    v = f.attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def refused(res):
    lines = res.stderr.splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("scaling.sh: error: "), res.stderr
    return lines[0]


def test_help():
    res = run([SCALING, "--help"])
    assert res.returncode == 0
    for word in ("NP", "SAMPLES", "REPEATS", "MODES", "OUT", "PER_ENGINE", "MCPI_LAUNCHER",
                 "SLURM_JOB_ID", "manifest.tsv", "never overwrite", "SCHEDULES", "SLOW",
                 "--schedules", "--slow", "direct dynamic guided static", "none 0=3",
                 "largest rank count of NP"):
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
    _, rows = manifest(out)
    assert len(rows) == 2
    for i, row in enumerate(rows, 1):
        name = row.pop("file")
        row.pop("elapsed_s")
        assert row == {"kind": "weak", "mode": "direct", "schedule": "direct", "slow": "none",
                       "ranks": "2", "engines": "1", "repeat": str(i), "samples": "300000",
                       "chunks": "7"}
        assert name == f"weak-direct-2r-{i}.h5"
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


def test_bad_schedule_settings_are_refused_before_any_run(tmp_path):
    for env, words in (({"SCHEDULES": "fast"}, "SCHEDULES: 'fast' is not direct"),
                       ({"SCHEDULES": "direct direct"}, "listed twice"),
                       ({"SLOW": "0=3 none 0=3"}, "SLOW: '0=3' is listed twice"),
                       ({"SLOW": "0:3"}, "not none or ENGINE=FACTOR"),
                       ({"SLOW": "0=0.5"}, "below 1"),
                       ({"SLOW": "0=3,0=2"}, "slows engine 0 twice"),
                       ({"SLOW": "1=3"}, "2 ranks have 1 engine(s)"),
                       ({"SLOW": "0=3", "KINDS": "strong"}, "lacks schedules"),
                       ({"KINDS": "schedules", "SCHEDULES": " "}, "SCHEDULES is empty")):
        out = tmp_path / f"o{len(os.listdir(tmp_path))}"
        line = refused(run([SCALING], env=dict(QUICK, OUT=str(out), **dict(
            {"KINDS": "schedules"}, **env))))
        assert words in line, (env, line)
        assert not out.exists()
    assert "is not strong, weak or schedules" in refused(
        run([SCALING, "--kinds", "both"], env=QUICK))


# --- the schedules sweep (conftest.schedules_sweep: SLOW="none 0=3" NP=3 REPEATS=2) ---------

def test_schedules_sweep_runs_every_schedule_with_and_without_the_straggler(schedules_sweep):
    folder, stdout = schedules_sweep
    meta, rows = manifest(folder)
    assert (meta["kinds"], meta["schedules"], meta["slow"], meta["schedules_np"]) == (
        "schedules", "direct dynamic guided static", "none 0=3", "3")
    want = [(rep, slow, schedule) for rep in ("1", "2") for slow in ("none", "0=3")
            for schedule in SCHEDULES]
    assert [(r["repeat"], r["slow"], r["schedule"]) for r in rows] == want
    for row in rows:
        schedule, slow = row["schedule"], row["slow"]
        tag = "none" if slow == "none" else "slow0x3"
        assert row["file"] == f"schedules-{schedule}-{tag}-3r-{row['repeat']}.h5"
        assert (row["kind"], row["ranks"], row["engines"], row["samples"], row["chunks"]) == (
            "schedules", "3", "2", "200000000", "100")
        assert row["mode"] == ("direct" if schedule == "direct" else "balanced")
        with h5py.File(folder / row["file"], "r") as f:
            assert attr(f, "mode") == row["mode"]
            assert attr(f, "schedule") == ("blocks" if schedule == "direct" else schedule)
            assert float(row["elapsed_s"]) == pytest.approx(float(attr(f, "elapsed_s")),
                                                            rel=1e-8)
            engines = f["engines"][()]
            slow = {int(e["engine_id"]): float(e["slow"]) for e in engines}
            assert slow == ({0: 1.0, 1: 1.0} if row["slow"] == "none" else {0: 3.0, 1: 1.0})
            assert int(f.attrs["chunks_done"]) == 100
    lines = [ln.split() for ln in stdout.splitlines() if ln.startswith("schedules ")]
    assert [(c[1], c[2], c[5]) for c in lines] == [(s, slow, f"{rep}/2")
                                                   for rep, slow, s in want]


def test_schedules_table_agrees_with_the_manifest(schedules_sweep):
    """The printed table: median, min, max per schedule and slow setting, and the ratios of
    the medians to direct's and static's with the same setting."""
    folder, stdout = schedules_sweep
    _, rows = manifest(folder)
    elapsed = {}
    for row in rows:
        elapsed.setdefault((row["slow"], row["schedule"]), []).append(float(row["elapsed_s"]))
    table = stdout[stdout.index("\nschedule slow"):].splitlines()[2:]
    printed = [c.split() for c in table if c.split()[:1] and c.split()[0] in SCHEDULES]
    assert [(c[1], c[0]) for c in printed] == list(elapsed)
    for c in printed:
        times = elapsed[(c[1], c[0])]
        med = float(np.median(times))
        assert [float(v) for v in c[5:8]] == pytest.approx([med, min(times), max(times)],
                                                           abs=1e-6)
        for col, of in ((8, "direct"), (9, "static")):
            assert float(c[col]) == pytest.approx(med / np.median(elapsed[(c[1], of)]),
                                                  abs=6e-4)


def test_schedules_beside_strong_scaling(tmp_path):
    """KINDS="strong schedules": the strong runs keep their names, the schedules run at the
    largest NP; the strong rows record mcpi's schedule and no straggler; plot draws both."""
    out = tmp_path / "s"
    res = run([SCALING, "--kinds", "strong schedules", "--schedules", "dynamic direct",
               "--slow", "0=1.5", "-o", str(out)], env=dict(QUICK, MODES="balanced direct"))
    assert res.returncode == 0, res.stderr
    _, rows = manifest(out)
    assert [(r["file"], r["schedule"], r["slow"]) for r in rows] == [
        ("strong-balanced-1r-1.h5", "dynamic", "none"), ("strong-direct-1r-1.h5", "direct", "none"),
        ("strong-balanced-2r-1.h5", "dynamic", "none"), ("strong-direct-2r-1.h5", "direct", "none"),
        ("schedules-dynamic-slow0x1.5-2r-1.h5", "dynamic", "0=1.5"),
        ("schedules-direct-slow0x1.5-2r-1.h5", "direct", "0=1.5")]
    assert "\nkind   mode     ranks engines" in res.stdout
    assert "\nschedule slow       ranks engines" in res.stdout
    res = plot(out)
    assert res.returncode == 0, res.stderr
    assert [os.path.basename(p) for p in res.stdout.split()] == [
        "strong-scaling.png", "gantt.png", "load-balance.png", "convergence.png", "schedules.png"]
