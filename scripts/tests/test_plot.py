"""scripts/plot (the mcpi_plot package) on real mcpi results: figures, derived numbers, bad inputs."""

import math
import os
import shutil
import struct
from fractions import Fraction

import h5py
import numpy as np
import pytest
from checkpoint_files import saved_chunks
from conftest import mcpi_bin, plot, run

from mcpi_plot import analysis, figures, read

# Pixel sizes of the PNGs (width, height), fixed by the figure sizes at 100 dpi.
PNG_SIZES = {
    "strong-scaling": (1300, 550),
    "weak-scaling": (1300, 550),
    "gantt": (1400, 650),
    "load-balance": (1400, 700),
    "convergence": (1000, 650),
    "schedules": (1600, 850),
}
SWEEP_FIGURES = ("strong-scaling", "weak-scaling", "gantt", "load-balance", "convergence")
FILE_FIGURES = ("gantt", "load-balance", "convergence")


# --- independent readers ------------------------------------------------------------------

def manifest(folder):
    rows, header = [], None
    with open(os.path.join(folder, "manifest.tsv"), encoding="utf-8") as fh:
        for line in fh.read().splitlines():
            if line.startswith("#"):
                continue
            cells = line.split("\t")
            if header is None:
                header = cells
            else:
                rows.append(dict(zip(header, cells)))
    return rows


def attr(f, key):
    v = f.attrs[key]
    return v.decode() if isinstance(v, bytes) else v


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def assert_real_png(path, kind):
    assert os.path.isfile(path), f"{path} missing"
    assert png_size(path) == PNG_SIZES[kind]
    import matplotlib.image

    img = matplotlib.image.imread(path)[..., :3]
    assert img.shape[:2] == PNG_SIZES[kind][::-1]
    ink = np.any(img < 0.9, axis=-1).mean()
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert ink > 0.02, f"{path} is nearly blank ({ink:.1%} non-white pixels)"
    assert colours > 30, f"{path} has only {colours} colours"


def one_error_line(res):
    lines = res.stderr.splitlines()
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("plot: error: ")
    return lines[0]


def no_figures(folder):
    return [n for n in os.listdir(folder) if n.endswith((".png", ".svg", ".pdf"))] == []


# --- figures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sweep_plotted(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    res = plot(sweep[0], "-o", out)
    assert res.returncode == 0, res.stderr
    return out, res


def test_sweep_folder_gives_five_real_pngs(sweep_plotted):
    out, res = sweep_plotted
    want = [os.path.join(out, f"{k}.png") for k in SWEEP_FIGURES]
    assert res.stdout.split() == want
    for kind in SWEEP_FIGURES:
        assert_real_png(os.path.join(out, f"{kind}.png"), kind)
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_figures_go_next_to_the_sweep_by_default(sweep_copy):
    res = plot(sweep_copy)
    assert res.returncode == 0, res.stderr
    for kind in SWEEP_FIGURES:
        assert_real_png(os.path.join(sweep_copy, f"{kind}.png"), kind)


def test_one_file_gives_three_real_pngs(sweep, tmp_path):
    src = os.path.join(sweep[0], "strong-direct-3r-1.h5")
    res = plot(src, "-o", tmp_path)
    assert res.returncode == 0, res.stderr
    for kind in FILE_FIGURES:
        assert_real_png(os.path.join(tmp_path, f"strong-direct-3r-1-{kind}.png"), kind)


@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("pdf", b"%PDF-")])
def test_other_formats(sweep, tmp_path, fmt, magic):
    res = plot(os.path.join(sweep[0], "strong-balanced-2r-1.h5"), "-o", tmp_path,
               "--format", fmt)
    assert res.returncode == 0, res.stderr
    for kind in FILE_FIGURES:
        path = os.path.join(tmp_path, f"strong-balanced-2r-1-{kind}.{fmt}")
        with open(path, "rb") as fh:
            assert fh.read(5) == magic
        assert os.path.getsize(path) > 5000


def test_existing_figures_are_kept_without_force(sweep, tmp_path):
    src = os.path.join(sweep[0], "weak-direct-1r-1.h5")
    assert plot(src, "-o", tmp_path).returncode == 0
    target = os.path.join(tmp_path, "weak-direct-1r-1-gantt.png")
    with open(target, "wb") as fh:
        fh.write(b"keep me")
    line = one_error_line(plot(src, "-o", tmp_path))
    assert "already exist(s) (use --force" in line
    with open(target, "rb") as fh:
        assert fh.read() == b"keep me"
    assert plot(src, "-o", tmp_path, "--force").returncode == 0
    assert_real_png(target, "gantt")


def test_help_explains_inputs_and_figures():
    res = plot("--help")
    assert res.returncode == 0
    for word in ("manifest.tsv", "strong-scaling", "weak-scaling", "gantt", "load-balance",
                 "convergence", "--format", "schema 2", "partial", "imbalance", "schedules",
                 "schema 3", "SLOW", "3x slow"):
        assert word in res.stdout, word


# --- derived numbers, recomputed from the files ---------------------------------------------

def runs_of(folder, kind):
    return [r for r in read.load_sweep(str(folder)).runs if r.manifest["kind"] == kind]


def test_manifest_matches_the_files(sweep):
    folder, _ = sweep
    rows = manifest(folder)
    assert len(rows) == 2 * 2 * 3 * 2  # kinds x modes x ranks x repeats
    per_engine = 10**7 // 2
    for row in rows:
        engines = max(1, int(row["ranks"]) - 1)
        assert int(row["engines"]) == engines
        want = 10**7 if row["kind"] == "strong" else per_engine * engines
        assert int(row["samples"]) == want
        assert int(row["chunks"]) == (100 if row["kind"] == "strong" else 100 * engines)
        # mcpi's default schedule (the file says blocks for direct mode), no straggler.
        assert row["schedule"] == ("direct" if row["mode"] == "direct" else "dynamic")
        assert row["slow"] == "none"
        with h5py.File(os.path.join(folder, row["file"]), "r") as f:
            assert attr(f, "mode") == row["mode"]
            assert attr(f, "schedule") == ("blocks" if row["mode"] == "direct" else "dynamic")
            assert int(attr(f, "ranks")) == int(row["ranks"])
            assert int(attr(f, "samples")) == want
            assert float(row["elapsed_s"]) == pytest.approx(float(attr(f, "elapsed_s")),
                                                            rel=1e-8)


def test_strong_speedup_and_efficiency(sweep):
    folder, _ = sweep
    rows = [r for r in manifest(folder) if r["kind"] == "strong"]
    elapsed = {}
    targets = {}
    for row in rows:
        with h5py.File(os.path.join(folder, row["file"]), "r") as f:
            key = (row["mode"], int(row["ranks"]))
            elapsed.setdefault(key, []).append(float(attr(f, "elapsed_s")))
            targets[key] = len(f.attrs["targets"])
    ones = sorted(t for (m, n), ts in elapsed.items() if n == 1 for t in ts)
    t1 = (ones[len(ones) // 2 - 1] + ones[len(ones) // 2]) / 2  # 4 runs: even count
    baseline, derived = analysis.strong_scaling(runs_of(folder, "strong"))
    assert baseline == pytest.approx(t1, rel=1e-12)
    assert {(d["mode"], d["ranks"]) for d in derived} == set(elapsed)
    for d in derived:
        key = (d["mode"], d["ranks"])
        assert d["engines"] == targets[key] == max(1, d["ranks"] - 1)
        assert d["speedup"] == pytest.approx([t1 / t for t in elapsed[key]], rel=1e-12)
        assert d["efficiency"] == pytest.approx([t1 / t / targets[key] for t in elapsed[key]],
                                                rel=1e-12)


def test_scaling_table_agrees_with_the_plot(sweep):
    """scaling.sh's printed table (awk) and mcpi_plot (numpy) derive the same numbers."""
    folder, stdout = sweep
    table = stdout[stdout.rindex("\nkind "):].splitlines()[2:]
    printed = {(c[0], c[1], int(c[2])): c for c in map(str.split, table)
               if len(c) == 10 and c[0] in ("strong", "weak")}
    assert len(printed) == 12
    for kind, derive in (("strong", analysis.strong_scaling), ("weak", analysis.weak_scaling)):
        t1, rows = derive(runs_of(folder, kind))
        for d in rows:
            cells = printed[(kind, d["mode"], d["ranks"])]
            med = float(np.median(d["elapsed"]))
            assert float(cells[5]) == pytest.approx(med, abs=1e-6)
            assert float(cells[6]) == pytest.approx(min(d["elapsed"]), abs=1e-6)
            assert float(cells[7]) == pytest.approx(max(d["elapsed"]), abs=1e-6)
            if kind == "strong":
                assert float(cells[8]) == pytest.approx(t1 / med, abs=0.006)
                eff = t1 / med / d["engines"]
            else:
                eff = t1 / med
            assert float(cells[9].rstrip("%")) == pytest.approx(100 * eff, abs=0.06)


def test_weak_efficiency(sweep):
    folder, _ = sweep
    rows = [r for r in manifest(folder) if r["kind"] == "weak"]
    elapsed = {}
    for row in rows:
        with h5py.File(os.path.join(folder, row["file"]), "r") as f:
            elapsed.setdefault((row["mode"], int(row["ranks"])), []).append(
                float(attr(f, "elapsed_s")))
    t1 = float(np.median([t for (m, n), ts in elapsed.items() if n == 1 for t in ts]))
    baseline, derived = analysis.weak_scaling(runs_of(folder, "weak"))
    assert baseline == pytest.approx(t1, rel=1e-12)
    for d in derived:
        key = (d["mode"], d["ranks"])
        assert d["elapsed"] == pytest.approx(elapsed[key], rel=1e-12)
        assert d["efficiency"] == pytest.approx([t1 / t for t in elapsed[key]], rel=1e-12)
        assert d["samples"] == 5 * 10**6 * max(1, d["ranks"] - 1)


@pytest.mark.parametrize("name", ["strong-balanced-3r-1.h5", "strong-direct-3r-2.h5",
                                  "weak-balanced-1r-1.h5"])
def test_imbalance(sweep, name):
    path = os.path.join(sweep[0], name)
    with h5py.File(path, "r") as f:
        chunks = f["chunks"][()]
        engines = f["engines"][()]
        tg = [int(t) for t in np.atleast_1d(f.attrs["targets"])]
    busy = {int(e["engine_id"]): 0.0 for e in engines}
    count = {int(e["engine_id"]): 0 for e in engines}
    for c in chunks:
        busy[int(c["engine_id"])] += float(c["compute_s"])
        count[int(c["engine_id"])] += 1
    for e in engines:  # the file's own per-engine totals agree
        assert float(e["busy_s"]) == pytest.approx(busy[int(e["engine_id"])], rel=1e-9)
        assert int(e["chunks"]) == count[int(e["engine_id"])]
    want = max(busy[t] for t in tg) / (sum(busy[t] for t in tg) / len(tg))
    ids, got_busy, got_count, imbalance = analysis.load_balance(read.load(path))
    assert ids == sorted(busy)
    assert list(got_busy) == pytest.approx([busy[i] for i in ids], rel=1e-12)
    assert list(got_count) == [count[i] for i in ids]
    assert imbalance == pytest.approx(want, rel=1e-12)
    assert imbalance >= 1.0
    # lambda = max/mean - 1: the file's own (schema 3), the same as from /chunks.
    with h5py.File(path, "r") as f:
        lam = float(f.attrs["imbalance"])
    assert analysis.imbalance(read.load(path)) == lam
    assert lam == pytest.approx(want - 1, rel=1e-9, abs=1e-12)
    cpu = np.bincount(chunks["engine_id"].astype(int), weights=chunks["compute_cpu_s"],
                      minlength=max(ids) + 1)
    assert list(analysis.cpu_busy(read.load(path), ids)) == pytest.approx(
        [cpu[i] for i in ids], rel=1e-12)


@pytest.mark.parametrize("name", ["strong-balanced-3r-2.h5", "weak-direct-3r-1.h5"])
def test_running_estimate(sweep, name):
    path = os.path.join(sweep[0], name)
    with h5py.File(path, "r") as f:
        rows = sorted(f["chunks"][()].tolist(), key=lambda r: r[0])  # chunk_id first
        names = f["chunks"].dtype.names
        total_inside, total = int(f.attrs["inside"]), int(f.attrs["samples"])
    si, ii = names.index("samples"), names.index("inside")
    n_acc = hits = 0
    want_n, want_pi = [], []
    for r in rows:
        n_acc += r[si]
        hits += r[ii]
        want_n.append(n_acc)
        want_pi.append(float(Fraction(4 * hits, n_acc)))
    n, pi_hat, err, sigma = analysis.running_estimate(read.load(path))
    assert list(n) == want_n
    assert list(pi_hat) == pytest.approx(want_pi, rel=1e-15)
    assert list(err) == pytest.approx([abs(p - math.pi) for p in want_pi], rel=1e-9, abs=1e-15)
    p = math.pi / 4
    assert list(sigma) == pytest.approx([4 * math.sqrt(p * (1 - p) / k) for k in want_n],
                                        rel=1e-12)
    assert want_n[-1] == total and pi_hat[-1] == pytest.approx(4 * total_inside / total,
                                                               rel=1e-15)


# --- bad inputs: one line, exit 1, nothing written ------------------------------------------

def test_corrupt_file(sweep, tmp_path):
    src = os.path.join(sweep[0], "strong-balanced-3r-1.h5")
    bad = tmp_path / "cut.h5"
    with open(src, "rb") as fh:
        bad.write_bytes(fh.read()[:3000])
    line = one_error_line(plot(bad))
    assert "not an HDF5 file, or a corrupt one" in line
    assert no_figures(tmp_path)


def test_text_file(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not hdf5\n")
    assert "not an HDF5 file" in one_error_line(plot(bad))
    assert no_figures(tmp_path)


def test_foreign_hdf5_file(tmp_path):
    bad = tmp_path / "other.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["mode"] = "balanced"
        f.create_dataset("x", data=[1, 2, 3])
    assert "not an mcpi results file" in one_error_line(plot(bad))
    assert no_figures(tmp_path)


def test_missing_file(tmp_path):
    assert "no such file" in one_error_line(plot(tmp_path / "nope.h5"))


def test_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "empty folder" in one_error_line(plot(empty))
    assert os.listdir(empty) == []


def test_folder_without_manifest(sweep, tmp_path):
    shutil.copy(os.path.join(sweep[0], "strong-direct-2r-1.h5"), tmp_path)
    assert "no manifest.tsv" in one_error_line(plot(tmp_path))
    assert no_figures(tmp_path)


def test_manifest_naming_a_missing_file(sweep_copy):
    os.unlink(sweep_copy / "weak-balanced-2r-2.h5")
    line = one_error_line(plot(sweep_copy))
    assert "weak-balanced-2r-2.h5: no such file" in line
    assert no_figures(sweep_copy)


def test_newer_schema_is_refused(sweep, tmp_path):
    bad = tmp_path / "future.h5"
    shutil.copy(os.path.join(sweep[0], "strong-direct-2r-1.h5"), bad)
    with h5py.File(bad, "a") as f:
        f.attrs["schema_version"] = np.uint32(5)
    line = one_error_line(plot(bad))
    assert "schema 5 is from a newer mcpi" in line and "reads schemas 1, 2, 3, 4" in line
    assert no_figures(tmp_path)


def test_older_file_without_chunk_times_is_refused(sweep, tmp_path):
    """A file whose /chunks lacks a field this plot needs (as before compute times)."""
    bad = tmp_path / "old.h5"
    shutil.copy(os.path.join(sweep[0], "strong-direct-2r-1.h5"), bad)
    with h5py.File(bad, "a") as f:
        drop_fields(f, "chunks", ("compute_s",))
    line = one_error_line(plot(bad))
    assert "/chunks lacks field(s) compute_s: written by an older mcpi" in line
    assert no_figures(tmp_path)


def drop_fields(f, name, fields):
    """Rewrite the table /name of the open file f without `fields`."""
    rows = f[name][()]
    keep = [n for n in rows.dtype.names if n not in fields]
    old = np.empty(len(rows), dtype=[(n, rows.dtype[n]) for n in keep])
    for n in keep:
        old[n] = rows[n]
    del f[name]
    f[name] = old


SCHEMA3_ATTRS = ("schedule", "precision", "stopped_by", "chunks_used", "samples_used",
                 "imbalance", "balance_loss_s")


def downgrade(src, dest, schema):
    """A copy of the schema-3 file src as mcpi wrote schema `schema` (1 or 2): without
    schema 3's attributes and fields, and for 1 without sessions (a one-session src)."""
    shutil.copy(src, dest)
    with h5py.File(dest, "a") as f:
        for key in SCHEMA3_ATTRS:
            if key in f.attrs:
                del f.attrs[key]
        drop_fields(f, "engines", ("idle_s", "slow") + (("session",) if schema == 1 else ()))
        if schema == 1:
            for key in ("schema_version", "chunks_done", "sessions"):
                del f.attrs[key]
            del f["sessions"]
            drop_fields(f, "chunks", ("session",))
        else:
            drop_fields(f, "sessions", ("schedule",))
            f.attrs["schema_version"] = np.uint32(2)
    return str(dest)


@pytest.mark.parametrize("schema", [1, 2])
def test_older_schemas_are_plotted(sweep, tmp_path, schema):
    src = os.path.join(sweep[0], "strong-balanced-3r-1.h5")
    old = downgrade(src, tmp_path / f"v{schema}.h5", schema)
    res = plot(old)
    assert res.returncode == 0, res.stderr
    for kind in FILE_FIGURES:
        assert_real_png(os.path.join(tmp_path, f"v{schema}-{kind}.png"), kind)
    run_, new = read.load(old), read.load(src)
    assert run_.schema == schema and not run_.partial
    assert (run_.schedule, run_.slow) == ("dynamic", {})
    assert "schedule" not in run_.caption() and "slowed" not in run_.caption()
    # Without the file's lambda it comes from /chunks: the same for one session.
    assert analysis.imbalance(run_) == pytest.approx(analysis.imbalance(new), rel=1e-9,
                                                     abs=1e-12)


# --- real interrupted and resumed runs (sessions: schema 2 on) -------------------------------

def launcher(ranks):
    """The command prefix for `ranks` ranks: $MCPI_MPIRUN (default mpirun), with
    --oversubscribe for Open MPI's; nothing for 0 ranks (mcpi alone)."""
    import subprocess

    if ranks == 0:
        return []
    mpirun = os.environ.get("MCPI_MPIRUN", "mpirun")
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    extra = ["--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    return [mpirun, *extra, "-n", str(ranks)]


def interrupted(path, ranks=0, at=20):
    """A real checkpoint: mcpi on 1e9 points with the scalar kernel (seconds of work) on
    `ranks` ranks (0: alone), its rank 0 stopped by SIGTERM once the checkpoint holds
    `at` chunks. Returns the checkpoint's path."""
    import signal
    import subprocess
    import time

    partial = str(path).removesuffix(".h5") + ".partial.h5"
    env = dict(os.environ, MCPI_KERNEL="scalar", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.Popen([*launcher(ranks), mcpi_bin(), "-q", "-n", "1e9", "-o", str(path),
                             "--checkpoint-every", "0"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the run ended before it could be stopped"
        assert time.monotonic() < deadline, "no checkpoint"
        if os.path.exists(partial) and saved_chunks(partial) >= at:
            with h5py.File(partial, "r") as f:
                controller = int(f["sessions"][-1]["controller_pid"])
            break
        time.sleep(0.005)
    os.kill(controller, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "mcpi: interrupted by SIGTERM" in err
    return partial


def test_resumed_file_is_plotted(tmp_path):
    path = tmp_path / "resumed.h5"
    partial = interrupted(path)
    res = run([mcpi_bin(), "-q", "--resume", partial])
    assert res.returncode == 0, res.stderr
    res = plot(path)
    assert res.returncode == 0, res.stderr
    for kind in FILE_FIGURES:
        assert_real_png(os.path.join(tmp_path, f"resumed-{kind}.png"), kind)
    v2 = read.load(str(path))
    assert v2.schema == 4 and len(v2.sessions) == 2 and not v2.partial
    assert "2 sessions (resumed)" in v2.caption()
    first = float(v2.sessions[0]["elapsed_s"])
    assert analysis.session_offsets(v2) == {0: 0.0, 1: first}
    # Engine rows are per session; the load balance counts each chunk once.
    with h5py.File(path, "r") as f:
        chunks = f["chunks"][()]
        assert sorted(set(chunks["session"])) == [0, 1]
        assert len(f["engines"]) == 2
    assert int(analysis.load_balance(v2)[2].sum()) == 100
    n, pi_hat, _, _ = analysis.running_estimate(v2)
    assert n[-1] == 10**9
    assert pi_hat[-1] == 4 * int(chunks["inside"].sum()) / 10**9
    # The same file as schema 2 wrote it: the same sessions and timeline.
    old = read.load(downgrade(path, tmp_path / "v2.h5", 2))
    assert old.schema == 2 and len(old.sessions) == 2 and not old.partial
    assert analysis.session_offsets(old) == {0: 0.0, 1: first}
    assert plot(tmp_path / "v2.h5").returncode == 0


def test_a_precision_run_converges_over_the_chunks_it_used(tmp_path):
    # Under mpirun the engines finish the chunks they hold when the precision is met:
    # those are computed but discarded.
    path = tmp_path / "precise.h5"
    res = run(launcher(3) + [mcpi_bin(), "-q", "-n", "1e7", "-k", "1000",
                             "--precision", "3e-3", "-o", str(path)])
    assert res.returncode == 0, res.stderr
    with h5py.File(path, "r") as f:
        used, done = int(f.attrs["chunks_used"]), int(f.attrs["chunks_done"])
        inside = int(f.attrs["inside"])
        assert f.attrs["stopped_by"] == "precision"
    assert used < done
    n, pi_hat, _, _ = analysis.running_estimate(read.load(path))
    assert len(n) == used
    assert n[-1] == used * 10**4
    assert pi_hat[-1] == 4 * inside / n[-1]
    res = plot(path)
    assert res.returncode == 0, res.stderr


def test_partial_file_alone_is_plotted_with_a_note(tmp_path):
    partial = interrupted(tmp_path / "run.h5")
    with h5py.File(partial, "r") as f:
        done = int(f.attrs["chunks_done"])
    res = plot(partial)
    assert res.returncode == 0, res.stderr
    for kind in FILE_FIGURES:
        assert_real_png(os.path.join(tmp_path, f"run.partial-{kind}.png"), kind)
    run_ = read.load(partial)
    assert run_.partial and f"PARTIAL: {done} of 100 chunks done" in run_.caption()
    assert analysis.running_estimate(run_)[0][-1] == done * 10**7


def test_partial_file_in_a_sweep_is_skipped(sweep_copy, tmp_path):
    name = "strong-balanced-2r-2.h5"
    partial = interrupted(tmp_path / "run.h5", ranks=2)
    with h5py.File(partial, "r") as f:
        done = int(f.attrs["chunks_done"])
    os.unlink(sweep_copy / name)
    shutil.copy(partial, sweep_copy / name)
    res = plot(sweep_copy)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        f"plot: {sweep_copy / name}: skipped: partial run ({done} of 100 chunks)"]
    for kind in SWEEP_FIGURES:
        assert_real_png(os.path.join(sweep_copy, f"{kind}.png"), kind)
    _, rows = analysis.strong_scaling(runs_of(sweep_copy, "strong"))
    assert [len(r["elapsed"]) for r in rows if (r["mode"], r["ranks"]) == ("balanced", 2)] == [1]


def test_summary_lists_every_run(sweep):
    folder, _ = sweep
    res = plot("--summary", folder)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("# mode")
    rows = manifest(folder)
    assert len(lines) == 1 + len(rows)
    for line, row in zip(lines[1:], rows):
        cells = line.split()
        with h5py.File(os.path.join(folder, row["file"]), "r") as f:
            assert cells[0] == attr(f, "mode") and int(cells[1]) == int(f.attrs["ranks"])
            assert cells[-1] == os.path.join(str(folder), row["file"])
            want = 4 * int(f.attrs["inside"]) / int(f.attrs["samples"])
        assert float(cells[7]) == pytest.approx(want, abs=5e-9)


def test_host_label_is_passed_not_kept(sweep):
    """--host reaches the captions as an argument: nothing of it stays behind."""
    folder, _ = sweep
    run_ = read.load(os.path.join(folder, "strong-direct-3r-1.h5"))
    recorded = ", ".join(run_.hosts)
    assert "host lab box \u00b7" in run_.caption("lab box")
    assert f"host {recorded} \u00b7" in run_.caption()
    sweep_ = read.load_sweep(str(folder))
    assert "host lab box \u00b7" in sweep_.caption("strong", "lab box")
    assert "host lab box" not in sweep_.caption("strong")


def test_a_slowed_engine_is_named(tmp_path):
    """mcpi --slow 0=3 alone (one rank, engine 0): /engines' slow names the engine in the
    caption, the Gantt chart and the load balance, whose title gives the file's lambda."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path / "slow.h5"
    res = run([mcpi_bin(), "-q", "-n", "1e7", "--slow", "0=3", "-o", str(path)])
    assert res.returncode == 0, res.stderr
    run_ = read.load(str(path))
    assert run_.schema == 4 and run_.slow == {0: 3.0} and run_.schedule == "dynamic"
    assert figures.engine_label(run_, 0) == "engine 0 (3x slow)"
    assert "balanced mode (dynamic schedule) \u00b7 slowed: engine 0 3x \u00b7" in run_.caption()
    fig = figures.figure_load([run_], run_.caption())
    try:
        ax_b, ax_c = fig.axes[:2]
        assert [t.get_text() for t in ax_c.get_xticklabels()] == ["engine 0 (3x slow)"]
        assert ax_b.get_title(loc="left").endswith(
            f"imbalance \u03bb = max/mean \u2212 1 = {float(run_['imbalance']):.3f}")
    finally:
        plt.close(fig)
    fig = figures.figure_gantt([run_], run_.caption())
    try:
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["engine 0 (3x slow)"]
    finally:
        plt.close(fig)
    res = plot(path)
    assert res.returncode == 0, res.stderr
    for kind in FILE_FIGURES:
        assert_real_png(os.path.join(tmp_path, f"slow-{kind}.png"), kind)

def move_to_hosts(path, controller, engines):
    """Rewrites a one-host results file as if run on several: /sessions' controller_host
    becomes `controller`, /engines' host of engine e becomes engines[e]."""
    with h5py.File(path, "r+") as f:
        rows = f["engines"][()]
        rows["host"] = [engines[int(e)].encode() for e in rows["engine_id"]]
        f["engines"][...] = rows
        rows = f["sessions"][()]
        rows["controller_host"] = controller.encode()
        f["sessions"][...] = rows


def test_engines_are_labelled_with_their_hosts_across_nodes(sweep_copy):
    """A sweep over two nodes, ranks round-robin as scaling.sh spreads them (rank r on node
    r mod 2 + 1): the Gantt and load-balance figures name each engine's host, the captions
    the nodes per rank count; a run on one host keeps its plain labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # engine e is rank e + 1 (1 rank: engine 0 is rank 0)
    layout = {1: ["node1"], 2: ["node2"], 3: ["node2", "node1"]}
    for row in manifest(sweep_copy):
        move_to_hosts(os.path.join(sweep_copy, row["file"]), "node1", layout[int(row["ranks"])])
    run3 = read.load(os.path.join(sweep_copy, "strong-balanced-3r-1.h5"))
    assert run3.all_hosts == ["node1", "node2"] and run3.engine_hosts == {0: "node2", 1: "node1"}
    labels = ["engine 0 (node2)", "engine 1 (node1)"]
    assert [figures.engine_label(run3, e) for e in (0, 1)] == labels
    assert "host node1, node2 ·" in run3.caption()
    one = read.load(os.path.join(sweep_copy, "strong-balanced-1r-1.h5"))
    assert one.all_hosts == ["node1"] and figures.engine_label(one, 0) == "engine 0"
    for fig_of in (figures.figure_gantt, figures.figure_load):
        fig = fig_of([run3], run3.caption())
        try:
            ticks = fig.axes[0 if fig_of is figures.figure_gantt else 1]
            got = [t.get_text() for t in (ticks.get_yticklabels() if fig_of is figures.figure_gantt
                                          else ticks.get_xticklabels())]
            assert got == labels, got
        finally:
            plt.close(fig)
    caption = read.load_sweep(str(sweep_copy)).caption("strong")
    assert ("2 nodes (node1, node2): 1 rank on 1 node; 2 and 3 ranks on 2 nodes ·"
            in caption), caption
    res = plot(sweep_copy)
    assert res.returncode == 0, res.stderr
    for kind in SWEEP_FIGURES:
        assert_real_png(os.path.join(sweep_copy, f"{kind}.png"), kind)


def test_one_host_sweep_caption_names_no_nodes(sweep):
    assert " nodes (" not in read.load_sweep(str(sweep[0])).caption("strong")


def test_old_manifest_without_schedule_columns(sweep_copy):
    """A manifest from before the schedule and slow columns still plots: its runs are
    read as mcpi's default schedule without a straggler."""
    path = sweep_copy / "manifest.tsv"
    lines = path.read_text().splitlines()
    header = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    cols = lines[header].split("\t")
    drop = [cols.index("schedule"), cols.index("slow")]
    path.write_text("\n".join(lines[:header] + [
        "\t".join(c for i, c in enumerate(ln.split("\t")) if i not in drop)
        for ln in lines[header:]]) + "\n")
    assert "schedule" not in path.read_text()
    res = plot(sweep_copy)
    assert res.returncode == 0, res.stderr
    for kind in SWEEP_FIGURES:
        assert_real_png(os.path.join(sweep_copy, f"{kind}.png"), kind)
    for r in read.load_sweep(str(sweep_copy)).runs:
        assert (r.manifest["schedule"], r.manifest["slow"]) == (
            "direct" if r.mode == "direct" else "dynamic", "none")


# --- the schedules sweep: makespans against a straggler ---------------------------------------

def schedule_numbers(folder):
    """From the manifest and the files alone: {(slow, schedule): (elapsed list, lambda list,
    run names)} in manifest order."""
    out = {}
    for row in manifest(folder):
        with h5py.File(os.path.join(folder, row["file"]), "r") as f:
            elapsed, lam = float(f.attrs["elapsed_s"]), float(f.attrs["imbalance"])
        times, lams, names = out.setdefault((row["slow"], row["schedule"]), ([], [], []))
        times.append(elapsed)
        lams.append(lam)
        names.append(row["file"])
    return out


@pytest.fixture(scope="module")
def schedules_plotted(schedules_sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("schedules-figures")
    res = plot(schedules_sweep[0], "-o", out, "--host", "test box")
    assert res.returncode == 0, res.stderr
    return out, res


def test_schedules_sweep_gives_the_schedules_figure(schedules_plotted):
    out, res = schedules_plotted
    assert res.stdout.split() == [os.path.join(out, "schedules.png")]
    assert_real_png(os.path.join(out, "schedules.png"), "schedules")


def test_schedules_figure_in_other_formats(schedules_sweep, tmp_path):
    res = plot(schedules_sweep[0], "-o", tmp_path, "--format", "svg")
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "schedules.svg", "rb") as fh:
        assert fh.read(5) == b"<?xml"


def test_schedules_makespans_and_imbalance(schedules_sweep):
    """analysis.schedules: per straggler setting and schedule, the elapsed times and lambdas
    of the repeats, and their median, min and max, as the files hold them."""
    folder, _ = schedules_sweep
    want = schedule_numbers(folder)
    rows = analysis.schedules(read.load_sweep(str(folder)).of("schedules"))
    assert [(r["slow"], r["schedule"]) for r in rows] == list(want) == [
        (slow, s) for slow in ("none", "0=3") for s in ("direct", "dynamic", "guided", "static")]
    for r in rows:
        times, lams, _ = want[(r["slow"], r["schedule"])]
        assert len(times) == 2
        assert r["elapsed"] == times and r["imbalance"] == lams
        assert (r["median"], r["min"], r["max"]) == pytest.approx(
            ((times[0] + times[1]) / 2, min(times), max(times)), rel=1e-12)
        assert (r["ranks"], r["engines"]) == (3, 2)
    assert analysis.straggler(rows) == "0=3"
    med = {k: float(np.median(v[0])) for k, v in want.items()}
    ratios = analysis.schedule_ratios(rows, "0=3")
    assert ratios == pytest.approx({f"{a}/{b}": med[("0=3", a)] / med[("0=3", b)]
                                    for a in ("dynamic", "guided") for b in ("direct", "static")},
                                   rel=1e-12)
    # The timelines: per schedule, the straggler run with the lower median elapsed time.
    shown = analysis.schedule_timelines(read.load_sweep(str(folder)).runs, "0=3")
    assert [r.name for r in shown] == [
        min(zip(*want[("0=3", s)][::2]))[1] for s in ("direct", "dynamic", "guided", "static")]


def test_a_straggler_is_balanced_by_dynamic_scheduling(schedules_sweep):
    """The lesson of the figure. Engine 0 takes 3x as long per chunk: direct (half the
    points each, fixed) waits for it; dynamic hands the fast engine more chunks (about
    0.5 of direct's makespan in theory; a loaded 2-core machine gives 0.6-0.8)."""
    folder, _ = schedules_sweep
    rows = analysis.schedules(read.load_sweep(str(folder)).of("schedules"))
    med = {(r["slow"], r["schedule"]): r["median"] for r in rows}
    lam = {(r["slow"], r["schedule"]): float(np.median(r["imbalance"])) for r in rows}
    ratios = analysis.schedule_ratios(rows, "0=3")
    assert ratios["dynamic/direct"] < 0.9, ratios
    assert ratios["dynamic/static"] < 0.9, ratios
    assert med[("0=3", "direct")] > med[("none", "direct")] * 1.5, med
    # Direct and static leave engine 1 idle for much of the run; dynamic does not.
    assert lam[("0=3", "direct")] > 0.3 and lam[("0=3", "static")] > 0.3, lam
    assert lam[("0=3", "dynamic")] < lam[("0=3", "direct")], lam


def test_schedules_figure_shows_the_numbers(schedules_sweep):
    """The figure drawn: one bar per setting and schedule at the median makespan, lambda
    over each bar, and the four straggler timelines with the slowed engine named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    folder, _ = schedules_sweep
    sweep = read.load_sweep(str(folder))
    want = schedule_numbers(folder)
    fig = figures.figure_schedules(sweep, host="test box")
    try:
        left, right = fig.subfigs
        (ax,) = left.axes
        bars = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert [b.get_height() for b in bars] == pytest.approx(
            [float(np.median(v[0])) for v in want.values()], rel=1e-12)
        # Within each group the bars go direct, dynamic, guided, static, left to right.
        xs = [b.get_x() for b in bars]
        assert xs == sorted(xs)
        labels = [t.get_text() for t in ax.texts if t.get_text().startswith("\u03bb=")]
        assert labels == [f"\u03bb={float(np.median(v[1])):.2f}" for v in want.values()]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["no straggler",
                                                                "straggler --slow 0=3"]
        gantts = [a for a in right.axes if a.get_title(loc="left")]
        assert [a.get_title(loc="left").split(":")[0] for a in gantts] == [
            "direct", "dynamic", "guided", "static"]
        for a in gantts:
            assert [t.get_text() for t in a.get_yticklabels()] == ["engine 0 (3x slow)",
                                                                    "engine 1"]
            assert a.get_xlim() == gantts[0].get_xlim()
        caption = fig._supxlabel.get_text().replace("\n", " ")
        for word in ("host test box", "3 ranks (2 engines)", "200,000,000 samples",
                     "seed ", "mcpi 0.", "direct mode and balanced mode"):
            assert word in caption, word
    finally:
        plt.close(fig)


def test_slowed_engine_is_named_in_the_file_figures(schedules_sweep):
    folder, _ = schedules_sweep
    run_ = read.load(os.path.join(folder, "schedules-guided-slow0x3-3r-1.h5"))
    assert run_.slow == {0: 3.0} and run_.schedule == "guided"
    assert figures.engine_label(run_, 0) == "engine 0 (3x slow)"
    assert figures.engine_label(run_, 1) == "engine 1"
    assert "balanced mode (guided schedule) \u00b7 slowed: engine 0 3x \u00b7" in run_.caption()
    even = read.load(os.path.join(folder, "schedules-guided-none-3r-1.h5"))
    assert even.slow == {} and figures.engine_label(even, 0) == "engine 0"


def test_manifest_and_file_must_agree_on_the_straggler(schedules_sweep, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(schedules_sweep[0], dest)
    text = (dest / "manifest.tsv").read_text()
    (dest / "manifest.tsv").write_text(text.replace("\tnone\t3\t2\t1\t", "\t0=2\t3\t2\t1\t", 1))
    line = one_error_line(plot(dest))
    assert "schedule/slow differ from manifest.tsv (direct, slow 0=2)" in line
    assert no_figures(dest)
