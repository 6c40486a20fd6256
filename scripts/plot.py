#!/usr/bin/env python3
"""Figures from mcpi results: scaling sweeps and single runs.

Run it through scripts/plot, which provides the pinned packages of
scripts/requirements.txt in .venv-plot (created on first use).
"""

import argparse
import math
import os
import sys
import tempfile

PROG = "plot"

DESCRIPTION = """\
Turn mcpi's HDF5 results into figures, written next to the input (or into -o DIR).

A sweep folder of scripts/scaling.sh (it holds manifest.tsv) gives:
  strong-scaling   speedup and parallel efficiency against engines, per mode: the
                   median over the repeats, with bars from min to max, and the ideal
  weak-scaling     elapsed time and weak efficiency against engines at fixed work
                   per engine, per mode (median, min-max bars, ideal)
  gantt            per-engine timeline of the chunks of the strong run with the most
                   ranks (the repeat with the median elapsed time), direct and
                   balanced side by side
  load-balance     busy time and chunk count per engine of those runs, with the
                   imbalance ratio max/mean of the busy times
  convergence      |pi_hat - pi| of the running estimate against samples
A results file FILE.h5 gives FILE-gantt, FILE-load-balance and FILE-convergence.

What the figures show
  speedup       T1 / T(N): T1 is the median elapsed_s of the sweep's 1-rank runs
                (rank 0 computes alone; both modes pooled, as one rank has no
                scheduling), T(N) each run's elapsed_s. Without 1-rank runs in the
                sweep it is each run's own serial_s / elapsed_s, and the axis says so.
  efficiency    speedup / engines (engines = len(targets); a 1-rank run counts 1).
  weak eff.     T1 / T(N) with T1 the median elapsed_s of the weak 1-rank runs.
  Gantt         a bar per chunk from done_s - compute_s to done_s on its engine's row,
                coloured by chunk id; in balanced mode a thin line from dispatch_s
                to the bar shows how long the chunk waited in the engine's window.
                done_s is when the result reached the controller, so a bar can
                sit later than the real computation by the controller's polling
                delay (up to ~1 ms); schema 1 files hold direct mode's times on
                the engines' own clocks.
                Times are from the start barrier; in a resumed file (schema 2) each
                session follows the previous one, with a dashed line between them.
  load balance  per engine: wall time computing (sum of compute_s), CPU time it got
                meanwhile (sum of compute_cpu_s: less when other processes shared
                its core) and chunks computed.
  imbalance     max / mean busy (wall) time over the targeted engines (1.0 = perfect).
  convergence   pi_hat(n) = 4 * inside / samples summed over the chunks in chunk-id
                order; the bands are 1 and 2 standard errors 4*sqrt(p(1-p)/n) with
                p = pi/4: at each n, |pi_hat - pi| falls inside them with probability
                68% and 95% (neighbouring points share chunks, so they move together).
Each figure has a caption with the mode, ranks, samples, seed, host and mcpi version.

Files: schema 1 (no schema_version attribute) and schema 2 (schema_version = 2,
with chunks_done, sessions and /sessions) are read. A partial file (chunks_done <
chunks, an interrupted run) given by name is plotted with a PARTIAL note and
chunks_done of the chunks; in a sweep folder it is skipped with a message, and
so are resumed runs (more than one session) for the scaling figures. A file that
is not HDF5, not written by mcpi, or from a newer schema is refused with one line
on stderr and exit status 1; nothing is written then.

Existing figures are kept unless --force; each is written to a temporary file and
moved into place. --summary prints a table of the inputs' runs instead.
"""

EPILOG = """\
examples:
  scripts/plot results/scaling-20261129T101500Z
  scripts/plot results/scaling-20261129T101500Z --format svg
  scripts/plot results/mcpi-balanced-3r-20261129T101500Z.h5 -o plots/
  scripts/plot --summary results/*.h5
"""

FORMATS = ("png", "svg", "pdf")
SCHEMAS = (1, 2)
MODES = ("balanced", "direct")
DPI = 100
# Figure sizes in inches; at DPI these are the PNGs' pixel sizes.
SIZES = {
    "strong-scaling": (13, 5.5),
    "weak-scaling": (13, 5.5),
    "gantt": (14, 6.5),
    "load-balance": (14, 7),
    "convergence": (10, 6.5),
}
MODE_COLORS = {"balanced": "tab:blue", "direct": "tab:orange"}
# Horizontal offsets of the modes' markers, so that error bars do not hide each other.
DODGE = {"balanced": -0.04, "direct": 0.04}
ONE_RANK = -0.12    # further offset of the 1-rank (serial) markers at 1 engine
HOST_LABEL = None   # --host: replaces the recorded host names in captions

REQUIRED_ATTRS = ("mode", "ranks", "engines", "targets", "samples", "chunks", "seed",
                  "inside", "elapsed_s", "serial_s", "mcpi_version", "created_utc")
ENGINE_FIELDS = ("engine_id", "host")
CHUNK_FIELDS = ("chunk_id", "engine_id", "samples", "inside", "dispatch_s", "done_s",
                "compute_s")
SESSION_FIELDS = ("session", "elapsed_s")
MANIFEST = "manifest.tsv"
MANIFEST_COLUMNS = ("kind", "mode", "ranks", "engines", "repeat", "samples", "chunks",
                    "elapsed_s", "file")


class PlotError(Exception):
    """An input that cannot be used; the message is one line."""


def _plain(value):
    """An HDF5 attribute or field value as a plain Python value."""
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.shape == ():
            return _plain(value[()])
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class Run:
    """One mcpi results file, schema 1 or 2."""

    def __init__(self, path, attrs, engines, chunks, sessions):
        self.path = path
        self.name = os.path.basename(path)
        self.attrs = attrs
        self.engines = engines      # numpy structured array (schema 2: per engine per session)
        self.chunks = chunks        # numpy structured array, chunk-id order
        self.sessions = sessions    # list of dicts (schema 1: one synthetic session)
        self.manifest = {}          # the manifest row, for runs of a sweep folder

    def __getitem__(self, key):
        return self.attrs[key]

    @property
    def mode(self):
        return self.attrs["mode"]

    @property
    def schema(self):
        return int(self.attrs.get("schema_version", 1))

    @property
    def chunks_done(self):
        return int(self.attrs.get("chunks_done", self.attrs["chunks"]))

    @property
    def partial(self):
        return self.chunks_done < int(self.attrs["chunks"])

    @property
    def targets(self):
        t = self.attrs["targets"]
        return [int(x) for x in (t if isinstance(t, list) else [t])]

    @property
    def used_engines(self):
        return len(self.targets)

    @property
    def hosts(self):
        if HOST_LABEL:
            return [HOST_LABEL]
        return sorted({str(_plain(h)) for h in self.engines["host"]})

    def caption(self):
        a = self.attrs
        eng = self.used_engines
        parts = [f"{self.mode} mode", f"{a['ranks']} rank{'s' if a['ranks'] != 1 else ''} "
                 f"({eng} engine{'s' if eng != 1 else ''})",
                 f"{a['samples']:,} samples in {a['chunks']:,} chunks", f"seed {a['seed']}",
                 f"host {', '.join(self.hosts)}", f"mcpi {a['mcpi_version']}",
                 a["created_utc"], f"schema {self.schema}"]
        if len(self.sessions) > 1:
            parts.append(f"{len(self.sessions)} sessions (resumed)")
        if self.partial:
            parts.append(f"PARTIAL: {self.chunks_done:,} of {a['chunks']:,} chunks done")
        return " \u00b7 ".join(str(p) for p in parts)


def load(path):
    """Read and check one results file; raise PlotError with a one-line reason."""
    if not os.path.exists(path):
        raise PlotError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise PlotError(f"{path}: not a regular file")
    import h5py
    import numpy as np

    try:
        f = h5py.File(path, "r")
    except OSError:
        raise PlotError(f"{path}: not an HDF5 file, or a corrupt one") from None
    try:
        with f:
            return _read(path, f, h5py, np)
    except PlotError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        raise PlotError(f"{path}: corrupt or unreadable HDF5 file ({_first_line(e)})") from None


def _table(path, f, h5py, name, fields):
    ds = f.get(name)
    if not isinstance(ds, h5py.Dataset) or ds.dtype.names is None or ds.ndim != 1:
        raise PlotError(f"{path}: not an mcpi results file (no /{name} table)")
    lacking = [c for c in fields if c not in ds.dtype.names]
    if lacking:
        raise PlotError(f"{path}: /{name} lacks field(s) {', '.join(lacking)}: written by an "
                        "older mcpi, or not by mcpi")
    return ds[()]


def _read(path, f, h5py, np):
    if "mode" not in f.attrs or "rng" not in f.attrs:
        raise PlotError(f"{path}: not an mcpi results file (no mode/rng attributes)")
    schema = int(_plain(f.attrs["schema_version"])) if "schema_version" in f.attrs else 1
    if schema not in SCHEMAS:
        newer = "a newer" if schema > max(SCHEMAS) else "an unknown"
        raise PlotError(f"{path}: results schema {schema} is from {newer} mcpi; this plot "
                        f"reads schemas {', '.join(map(str, SCHEMAS))}")
    needed = REQUIRED_ATTRS + (("chunks_done", "sessions") if schema >= 2 else ())
    missing = [a for a in needed if a not in f.attrs]
    if missing:
        raise PlotError(f"{path}: lacks attribute(s) {', '.join(missing)}: written by an older "
                        f"mcpi, or not by mcpi (schema {schema})")
    attrs = {k: _plain(f.attrs[k]) for k in f.attrs}
    if attrs["mode"] not in MODES:
        raise PlotError(f"{path}: unknown mode {attrs['mode']!r}")
    chunk_fields = CHUNK_FIELDS + (("session",) if schema >= 2 else ())
    engine_fields = ENGINE_FIELDS + (("session",) if schema >= 2 else ())
    engines = _table(path, f, h5py, "engines", engine_fields)
    chunks = _table(path, f, h5py, "chunks", chunk_fields)
    if schema >= 2:
        rows = _table(path, f, h5py, "sessions", SESSION_FIELDS)
        sessions = [{k: _plain(r[k]) for k in rows.dtype.names} for r in rows]
        sessions.sort(key=lambda s: s["session"])
    else:
        sessions = [{"session": 0, "elapsed_s": attrs["elapsed_s"]}]

    done = int(attrs.get("chunks_done", attrs["chunks"]))
    if len(chunks) != done:
        raise PlotError(f"{path}: /chunks has {len(chunks)} rows, expected {done}: corrupt file")
    if len(chunks) > 1 and np.any(np.diff(chunks["chunk_id"].astype(np.int64)) <= 0):
        raise PlotError(f"{path}: /chunks is not in chunk-id order: corrupt file")
    if int(chunks["inside"].sum()) != int(attrs["inside"]) and done == int(attrs["chunks"]):
        raise PlotError(f"{path}: /chunks inside counts do not add up to the inside attribute")
    return Run(path, attrs, engines, chunks, sessions)


# --------------------------------------------------------------------------------------------
# Derived numbers (the tests recompute these independently from the files)

def running_estimate(run):
    """Cumulative samples n, running estimate pi_hat(n), |pi_hat - pi| and the standard
    error 4*sqrt(p(1-p)/n), p = pi/4, over the chunks in chunk-id order."""
    import numpy as np

    c = run.chunks
    n = np.cumsum(c["samples"].astype(np.float64))
    hits = np.cumsum(c["inside"].astype(np.float64))
    pi_hat = 4.0 * hits / n
    p = math.pi / 4
    sigma = 4.0 * np.sqrt(p * (1 - p) / n)
    return n, pi_hat, np.abs(pi_hat - math.pi), sigma


def session_offsets(run):
    """Start of each session on one continuous time axis: the sum of the earlier
    sessions' elapsed times (schema 1: one session at 0)."""
    offsets, t = {}, 0.0
    for s in run.sessions:
        offsets[int(s["session"])] = t
        t += float(s["elapsed_s"])
    return offsets


def load_balance(run):
    """Engine ids, busy time (sum of compute_s) and chunk count per engine, from
    /chunks, and the imbalance max/mean of the busy times over the targeted engines."""
    import numpy as np

    ids = sorted({int(e) for e in run.engines["engine_id"]} | set(run.targets)
                 | {int(e) for e in run.chunks["engine_id"]})
    busy = np.array([float(run.chunks["compute_s"][run.chunks["engine_id"] == i].sum())
                     for i in ids])
    count = np.array([int(np.count_nonzero(run.chunks["engine_id"] == i)) for i in ids])
    targeted = np.array([busy[ids.index(t)] for t in run.targets if t in ids])
    mean = float(targeted.mean()) if len(targeted) else 0.0
    imbalance = float(targeted.max()) / mean if mean > 0 else float("nan")
    return ids, busy, count, imbalance


def cpu_busy(run, ids):
    """CPU time per engine (sum of compute_cpu_s), or None when the file lacks it."""
    import numpy as np

    if "compute_cpu_s" not in run.chunks.dtype.names:
        return None
    c = run.chunks
    return np.array([float(c["compute_cpu_s"][c["engine_id"] == i].sum()) for i in ids])


def _stats(values):
    import numpy as np

    v = np.asarray(values, dtype=float)
    return float(np.median(v)), float(v.min()), float(v.max())


def strong_scaling(runs):
    """Speedup and efficiency per mode and rank count over the repeats.

    Returns (baseline, rows): baseline is T1, the median elapsed_s of the 1-rank runs
    (None when there are none: then each run's speedup is serial_s / elapsed_s); rows
    are dicts mode, ranks, engines, elapsed, speedup, efficiency, where the last three
    are lists over the repeats, in the order the runs were given.
    """
    import numpy as np

    ones = [r["elapsed_s"] for r in runs if r["ranks"] == 1]
    baseline = float(np.median(ones)) if ones else None
    groups = {}
    for r in runs:
        groups.setdefault((r.mode, int(r["ranks"])), []).append(r)
    rows = []
    for (mode, ranks), group in sorted(groups.items()):
        engines = group[0].used_engines
        elapsed = [float(r["elapsed_s"]) for r in group]
        if baseline is not None:
            speedup = [baseline / t for t in elapsed]
        else:
            speedup = [float(r["serial_s"]) / float(r["elapsed_s"]) for r in group]
        rows.append({"mode": mode, "ranks": ranks, "engines": engines, "elapsed": elapsed,
                     "speedup": speedup, "efficiency": [s / engines for s in speedup]})
    return baseline, rows


def weak_scaling(runs):
    """Elapsed time and weak efficiency T1 / T(N) per mode and rank count.

    Returns (baseline, rows) as strong_scaling, with rows mode, ranks, engines,
    samples, elapsed and efficiency (None when there is no 1-rank run)."""
    import numpy as np

    ones = [r["elapsed_s"] for r in runs if r["ranks"] == 1]
    baseline = float(np.median(ones)) if ones else None
    groups = {}
    for r in runs:
        groups.setdefault((r.mode, int(r["ranks"])), []).append(r)
    rows = []
    for (mode, ranks), group in sorted(groups.items()):
        elapsed = [float(r["elapsed_s"]) for r in group]
        eff = [baseline / t for t in elapsed] if baseline is not None else None
        rows.append({"mode": mode, "ranks": ranks, "engines": group[0].used_engines,
                     "samples": int(group[0]["samples"]), "elapsed": elapsed,
                     "efficiency": eff})
    return baseline, rows


# --------------------------------------------------------------------------------------------
# Sweep folders

class Sweep:
    def __init__(self, folder, meta, runs, skipped):
        self.folder = folder
        self.meta = meta          # the manifest's '# key<TAB>value' lines
        self.runs = runs          # complete single-session runs, manifest order
        self.skipped = skipped    # one-line reasons

    def of(self, kind):
        return [r for r in self.runs if r.manifest["kind"] == kind]

    def caption(self, kind=None):
        m = self.meta
        host = HOST_LABEL or f"{m.get('host', '?')} ({m.get('cpu', '?')}, {m.get('cores', '?')} cores)"
        parts = [f"sweep {os.path.basename(os.path.normpath(self.folder))}", f"host {host}"]
        if kind == "strong":
            parts.append(f"{int(m.get('samples', 0)):,} samples in {m.get('chunks', '?')} chunks")
        elif kind == "weak":
            parts.append(f"{int(m.get('per_engine', 0)):,} samples in {m.get('chunks', '?')} "
                         "chunks per engine")
        seeds = sorted({int(r["seed"]) for r in self.runs})
        parts += [f"seed {', '.join(map(str, seeds))}", f"{m.get('repeats', '?')} repeats",
                  f"launcher {m.get('launcher', '?')}", m.get("mcpi", "mcpi ?"),
                  m.get("created_utc", "")]
        return " \u00b7 ".join(p for p in parts if p)


def load_sweep(folder):
    """Read a scaling.sh folder; raise PlotError if it is not usable."""
    path = os.path.join(folder, MANIFEST)
    try:
        names = os.listdir(folder)
    except OSError as e:
        raise PlotError(f"{folder}: cannot list the folder ({e.strerror})") from None
    if not os.path.isfile(path):
        if not names:
            raise PlotError(f"{folder}: empty folder: nothing to plot (expected a sweep folder "
                            f"of scripts/scaling.sh with {MANIFEST})")
        raise PlotError(f"{folder}: no {MANIFEST}, so not a sweep folder of scripts/scaling.sh; "
                        "pass its .h5 files instead")
    meta, rows = {}, []
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PlotError(f"{path}: cannot read ({_first_line(e)})") from None
    header = None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition("\t")
            meta[key.strip()] = value.strip()
            continue
        cells = line.split("\t")
        if header is None:
            if tuple(cells) != MANIFEST_COLUMNS:
                raise PlotError(f"{path}: line {no}: expected the header "
                                f"{' '.join(MANIFEST_COLUMNS)}")
            header = cells
            continue
        if len(cells) != len(header):
            raise PlotError(f"{path}: line {no}: {len(cells)} columns, expected {len(header)}")
        row = dict(zip(header, cells))
        if row["kind"] not in ("strong", "weak") or row["mode"] not in MODES:
            raise PlotError(f"{path}: line {no}: unknown kind or mode")
        rows.append(row)
    if not rows:
        raise PlotError(f"{path}: lists no runs: nothing to plot")
    runs, skipped = [], []
    for row in rows:
        file = os.path.join(folder, row["file"])
        run = load(file)
        if run.mode != row["mode"] or str(run["ranks"]) != row["ranks"]:
            raise PlotError(f"{file}: mode/ranks differ from {MANIFEST} ({row['mode']}, "
                            f"{row['ranks']} ranks): not this sweep's file")
        if run.partial:
            skipped.append(f"{file}: skipped: partial run ({run.chunks_done} of "
                           f"{run['chunks']} chunks)")
            continue
        if len(run.sessions) > 1:
            skipped.append(f"{file}: skipped: resumed run ({len(run.sessions)} sessions), its "
                           "elapsed time is not comparable")
            continue
        run.manifest = row
        runs.append(run)
    if not runs:
        raise PlotError(f"{folder}: no complete run to plot")
    return Sweep(folder, meta, runs, skipped)


# --------------------------------------------------------------------------------------------
# Figures

def _figure(kind):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=SIZES[kind], dpi=DPI, layout="constrained")


def _caption(fig, text):
    import textwrap

    width = int(fig.get_figwidth() * 13)  # characters of 8-point text per line
    lines = [w for line in text.splitlines() for w in textwrap.wrap(line, width)]
    fig.supxlabel("\n".join(lines), fontsize=8, color="0.3")


def _errorbars(ax, x, stats, color, label, marker="o", line=True, fill="full"):
    import numpy as np

    med = np.array([s[0] for s in stats])
    lo = np.array([s[1] for s in stats])
    hi = np.array([s[2] for s in stats])
    ax.errorbar(x, med, yerr=[med - lo, hi - med], color=color, marker=marker,
                linestyle="-" if line else "none", capsize=4, label=label,
                fillstyle=fill, markersize=7)


def _oversubscribed(ax, cores, xmax):
    """Shade the engine counts where ranks (engines + controller) exceed the cores."""
    if cores and xmax > cores - 1:
        ax.axvspan(cores - 0.5, xmax + 0.5, color="0.93", zorder=0,
                   label=f"ranks > {cores} cores")


def _scaling_figure(sweep, kind, analyse):
    """A two-panel scaling figure for the sweep's `kind` runs, analysed by `analyse`,
    with the oversubscribed engine counts shaded: (baseline, rows, fig, axes, xmax)."""
    baseline, rows = analyse(sweep.of(kind))
    fig = _figure(f"{kind}-scaling")
    axes = fig.subplots(1, 2)
    xmax = max(r["engines"] for r in rows)
    cores = int(sweep.meta.get("cores", 0) or 0)
    for ax in axes:
        _oversubscribed(ax, cores, xmax)
    return baseline, rows, fig, axes, xmax


def figure_strong(sweep):
    baseline, rows, fig, (ax_s, ax_e), xmax = _scaling_figure(sweep, "strong", strong_scaling)
    xs = list(range(1, xmax + 1))
    ax_s.plot(xs, xs, color="0.4", linestyle="--", label="ideal (speedup = engines)")
    ax_e.axhline(100, color="0.4", linestyle="--", label="ideal (100%)")
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        color = MODE_COLORS[mode]
        for ax, key, scale in ((ax_s, "speedup", 1), (ax_e, "efficiency", 100)):
            par = [r for r in mine if r["ranks"] > 1]
            one = [r for r in mine if r["ranks"] == 1]
            if par:
                _errorbars(ax, [r["engines"] + DODGE[mode] for r in par],
                           [tuple(v * scale for v in _stats(r[key])) for r in par], color,
                           f"{mode} (controller + engines)")
            if one:
                _errorbars(ax, [1 + ONE_RANK + DODGE[mode] for _ in one], [tuple(v * scale for v in _stats(r[key]))
                                                  for r in one], color,
                           f"{mode}, 1 rank (computes alone)", marker="s", line=False,
                           fill="none")
    if baseline is not None:
        ax_s.set_ylabel("speedup T\u2081 / T(N)   (T\u2081 = median 1-rank elapsed "
                        f"= {baseline:.4g} s)")
    else:
        ax_s.set_ylabel("speedup serial_s / elapsed_s (no 1-rank runs in the sweep)")
    ax_e.set_ylabel("parallel efficiency = speedup / engines (%)")
    ax_s.set_title("Strong scaling: speedup", loc="left")
    ax_e.set_title("Strong scaling: parallel efficiency", loc="left")
    _engine_axes((ax_s, ax_e), xmax)
    fig.suptitle("mcpi strong scaling: the same job on more engines "
                 "(markers: median over repeats, bars: min\u2013max)")
    _caption(fig, sweep.caption("strong"))
    return fig


def figure_weak(sweep):
    baseline, rows, fig, (ax_t, ax_e), xmax = _scaling_figure(sweep, "weak", weak_scaling)
    if baseline is not None:
        ax_t.axhline(baseline, color="0.4", linestyle="--",
                     label=f"ideal: constant = median 1-rank elapsed ({baseline:.4g} s)")
        ax_e.axhline(100, color="0.4", linestyle="--", label="ideal (100%)")
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        color = MODE_COLORS[mode]
        par = [r for r in mine if r["ranks"] > 1]
        one = [r for r in mine if r["ranks"] == 1]
        for group, kw in ((par, {"label": f"{mode} (controller + engines)"}),
                          (one, {"label": f"{mode}, 1 rank (computes alone)", "marker": "s",
                                 "line": False, "fill": "none"})):
            if not group:
                continue
            x = [r["engines"] + DODGE[mode] + (ONE_RANK if r["ranks"] == 1 else 0)
                 for r in group]
            _errorbars(ax_t, x, [_stats(r["elapsed"]) for r in group], color, **kw)
            if baseline is not None:
                _errorbars(ax_e, x, [tuple(v * 100 for v in _stats(r["efficiency"]))
                                     for r in group], color, **kw)
    if baseline is None:
        ax_e.text(0.5, 0.5, "no 1-rank runs: no baseline for the efficiency",
                  transform=ax_e.transAxes, ha="center")
    ax_t.set_ylabel("elapsed time (s)")
    ax_e.set_ylabel("weak efficiency T\u2081 / T(N) (%)")
    ax_t.set_title("Weak scaling: elapsed time at fixed work per engine", loc="left")
    ax_e.set_title("Weak scaling: efficiency", loc="left")
    _engine_axes((ax_t, ax_e), xmax)
    fig.suptitle("mcpi weak scaling: work grows with the engines "
                 "(markers: median over repeats, bars: min\u2013max)")
    _caption(fig, sweep.caption("weak"))
    return fig


def _engine_axes(axes, xmax):
    """Engines 1..xmax on x, values from 0 on y, a grid and a legend."""
    for ax in axes:
        ax.set_xlabel("engines (MPI ranks \u2212 1; a 1-rank run counts as 1)")
        ax.set_xticks(range(1, xmax + 1))
        ax.set_xlim(0.5, xmax + 0.5)
        ax.set_ylim(bottom=0)
        ax.grid(color="0.9")
        ax.legend(fontsize=8, loc="best")


def _gantt_panel(ax, run, cmap, norm):
    import numpy as np

    offsets = session_offsets(run)
    c = run.chunks
    sess = c["session"].astype(int) if "session" in c.dtype.names else np.zeros(len(c), int)
    shift = np.array([offsets.get(s, 0.0) for s in sess])
    done = c["done_s"] + shift
    start = done - c["compute_s"]
    ids, _, _, _ = load_balance(run)
    row = {e: i for i, e in enumerate(ids)}
    y = np.array([row[int(e)] for e in c["engine_id"]])
    height = 0.7
    ax.barh(y, c["compute_s"], left=start, height=height, color=cmap(norm(c["chunk_id"])),
            edgecolor="none")
    if run.mode == "balanced":
        dispatch = c["dispatch_s"] + shift
        ax.hlines(y + height / 2 + 0.06, dispatch, start, color="0.35", linewidth=0.6)
    for s, t in offsets.items():
        if s > 0:
            ax.axvline(t, color="crimson", linestyle="--", linewidth=1)
            ax.text(t, -0.6, f" session {s}", color="crimson", fontsize=8, va="bottom")
    total = sum(float(s["elapsed_s"]) for s in run.sessions)
    ax.axvline(total, color="0.2", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(ids)), [f"engine {e}" for e in ids])
    ax.set_ylim(len(ids) - 0.4, -0.7)
    ax.set_xlim(0, max(total, float(done.max()) if len(done) else 0.0) * 1.02 or 1)
    ax.set_xlabel("time since the start barrier (s); dotted: elapsed_s")
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    what = "bar: compute, line: dispatch\u2192start" if run.mode == "balanced" else \
        "bar: compute (static share)"
    ax.set_title(f"{run.mode}: {run['ranks']} ranks, elapsed {float(run['elapsed_s']):.4g} s"
                 f"\n({what})", loc="left", fontsize=10)


def figure_gantt(runs, caption):
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    fig = _figure("gantt")
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    cmap = plt.get_cmap("viridis")
    norm = Normalize(0, max(int(r["chunks"]) - 1 for r in runs) or 1)
    for ax, run in zip(axes, runs):
        _gantt_panel(ax, run, cmap, norm)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes),
                 label="chunk id", fraction=0.03)
    fig.suptitle("Per-engine timeline of the chunks (dispatch \u2192 done)")
    _caption(fig, caption)
    return fig


def figure_load(runs, caption):
    import numpy as np

    fig = _figure("load-balance")
    axes = fig.subplots(2, len(runs), squeeze=False, sharex="col")
    for col, run in enumerate(runs):
        ids, busy, count, imbalance = load_balance(run)
        x = np.arange(len(ids))
        color = MODE_COLORS[run.mode]
        ax_b, ax_c = axes[0][col], axes[1][col]
        cpu = cpu_busy(run, ids)
        if cpu is None:
            ax_b.bar(x, busy, color=color, label="wall time computing")
        else:
            ax_b.bar(x - 0.2, busy, width=0.4, color=color, label="wall time computing")
            ax_b.bar(x + 0.2, cpu, width=0.4, color=color, alpha=0.45, hatch="//",
                     label="CPU time received (compute_cpu_s)")
        mean = float(np.mean([busy[ids.index(t)] for t in run.targets if t in ids]))
        ax_b.axhline(mean, color="0.2", linestyle="--", linewidth=1,
                     label=f"mean of targeted engines {mean:.4g} s")
        ax_b.axhline(float(run["elapsed_s"]), color="crimson", linestyle=":", linewidth=1,
                     label=f"elapsed_s {float(run['elapsed_s']):.4g} s")
        ax_b.set_ylabel("busy time per engine (s)")
        ax_b.set_title(f"{run.mode}: {run['ranks']} ranks \u2014 imbalance max/mean = "
                       f"{imbalance:.3f}", loc="left", fontsize=10)
        ax_b.legend(fontsize=8, loc="lower right")
        ax_c.bar(x, count, color=color, alpha=0.7)
        for xi, n in zip(x, count):
            ax_c.text(xi, n, str(n), ha="center", va="bottom", fontsize=8)
        ax_c.set_ylabel("chunks computed")
        ax_c.set_xticks(x, [f"engine {e}" + ("" if e in run.targets else "\n(not targeted)")
                            for e in ids])
        ax_c.set_xlabel("engine")
        ax_c.set_ylim(0, max(count.max(), 1) * 1.15)
        for ax in (ax_b, ax_c):
            ax.grid(axis="y", color="0.9")
            ax.set_axisbelow(True)
    fig.suptitle("Load balance: busy time and chunk count per engine")
    _caption(fig, caption)
    return fig


def figure_convergence(run, caption):
    import numpy as np

    n, _, err, sigma = running_estimate(run)
    fig = _figure("convergence")
    ax = fig.subplots()
    grid = np.geomspace(n[0], n[-1], 200) if len(n) > 1 else n
    sig = 4.0 * np.sqrt((math.pi / 4) * (1 - math.pi / 4) / grid)
    ax.fill_between(grid, 0, 2 * sig, color="tab:blue", alpha=0.12, label="2\u03c3 band")
    ax.fill_between(grid, 0, sig, color="tab:blue", alpha=0.25,
                    label="1\u03c3 band, \u03c3 = 4\u00b7sqrt(p(1\u2212p)/n), p = \u03c0/4")
    ax.plot(grid, sig, color="tab:blue", linewidth=0.8)
    shown = err > 0
    ax.plot(n[shown], err[shown], marker=".", markersize=4, color="black", linewidth=0.8,
            label="|\u03c0\u0302 \u2212 \u03c0| of the running estimate")
    inside1 = float(np.mean(err <= sigma)) if len(err) else 0.0
    inside2 = float(np.mean(err <= 2 * sigma)) if len(err) else 0.0
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples n (cumulative, chunks in chunk-id order)")
    ax.set_ylabel("absolute error |\u03c0\u0302(n) \u2212 \u03c0|")
    ax.set_title(f"{len(n)} chunks: {inside1:.0%} of the points within 1\u03c3, "
                 f"{inside2:.0%} within 2\u03c3; final \u03c0\u0302 = "
                 f"{4.0 * float(run.chunks['inside'].sum()) / n[-1]:.8f}", fontsize=10)
    ax.grid(which="both", color="0.92")
    ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("Convergence of the Monte Carlo estimate of \u03c0")
    _caption(fig, caption)
    return fig


# --------------------------------------------------------------------------------------------
# Choosing what to draw

def representative(runs):
    """Per mode, of the runs with the most ranks, the one with the median elapsed time
    (the lower median for an even count); balanced first."""
    chosen = []
    for mode in MODES:
        mine = [r for r in runs if r.mode == mode]
        if not mine:
            continue
        top = max(int(r["ranks"]) for r in mine)
        mine = sorted((r for r in mine if int(r["ranks"]) == top),
                      key=lambda r: float(r["elapsed_s"]))
        chosen.append(mine[(len(mine) - 1) // 2])
    return chosen


def sweep_figures(sweep):
    """(name, builder) pairs for a sweep folder."""
    figs = []
    strong, weak = sweep.of("strong"), sweep.of("weak")
    if strong:
        figs.append(("strong-scaling", lambda: figure_strong(sweep)))
    if weak:
        figs.append(("weak-scaling", lambda: figure_weak(sweep)))
    pool = strong or weak
    picked = representative(pool)
    note = " \u00b7 ".join(
        f"{r.mode}: {r.name} (median elapsed of {sum(1 for q in pool if q.mode == r.mode and q['ranks'] == r['ranks'])} repeats)"
        for r in picked)
    cap = f"{sweep.caption('strong' if strong else 'weak')}\n{note}"
    figs.append(("gantt", lambda: figure_gantt(picked, cap)))
    figs.append(("load-balance", lambda: figure_load(picked, cap)))
    first = picked[0]
    same = [r for r in pool if (int(r["samples"]), int(r["chunks"])) ==
            (int(first["samples"]), int(first["chunks"]))]
    counts = {int(r["inside"]) for r in same}
    agree = (f"all {len(same)} runs of this job counted inside = {first['inside']:,}"
             if len(counts) == 1 else f"WARNING: {len(same)} runs of this job disagree on inside")
    figs.append(("convergence", lambda: figure_convergence(
        first, f"{first.caption()}\n{first.name}; {agree}")))
    return figs


def file_figures(run):
    cap = f"{run.caption()}\n{run.name}"
    return [("gantt", lambda: figure_gantt([run], cap)),
            ("load-balance", lambda: figure_load([run], cap)),
            ("convergence", lambda: figure_convergence(run, cap))]


# --------------------------------------------------------------------------------------------
# Output

def save(fig, dest, fmt, force):
    """Write fig to dest through a temporary file; refuse to replace dest unless force."""
    outdir = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=outdir, prefix="." + os.path.basename(dest) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=DPI)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # refuses a dest that appeared meanwhile
            except FileExistsError:
                raise PlotError(f"{dest}: already exists (use --force to overwrite)") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def summary(runs, out):
    cols = ("mode", "ranks", "engines", "samples", "chunks", "elapsed_s", "speedup", "pi")
    rows = []
    for r in runs:
        rows.append([r.mode, str(r["ranks"]), str(r.used_engines), str(r["samples"]),
                     f"{r.chunks_done}/{r['chunks']}" if r.partial else str(r["chunks"]),
                     f"{float(r['elapsed_s']):.6f}", f"{float(r['serial_s']) / float(r['elapsed_s']):.3f}"
                     if float(r["elapsed_s"]) > 0 else "-", f"{4 * int(r.chunks['inside'].sum()) / max(1, int(r.chunks['samples'].sum())):.8f}"])
    labels = ["# " + cols[0]] + list(cols[1:])
    widths = [max([len(lab)] + [len(row[i]) for row in rows]) for i, lab in enumerate(labels)]
    for cells, name in [(labels, "file")] + [(row, r.path) for row, r in zip(rows, runs)]:
        print("  ".join([f"{cells[0]:<{widths[0]}}"] +
                        [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:])] + [name]), file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="a sweep folder of scripts/scaling.sh, or an mcpi results file (.h5)")
    ap.add_argument("-o", "--outdir", metavar="DIR",
                    help="write the figures into DIR (default: next to each input)")
    ap.add_argument("--format", choices=FORMATS, default="png",
                    help="figure format [default: png]")
    ap.add_argument("--force", action="store_true", help="overwrite existing figures")
    ap.add_argument("--host", metavar="TEXT",
                    help="name the machine TEXT in the captions instead of the host names "
                         "recorded in the files (e.g. for figures to publish)")
    ap.add_argument("--summary", action="store_true",
                    help="print one line per run instead of plotting")
    args = ap.parse_args(argv)
    global HOST_LABEL
    HOST_LABEL = args.host

    def error(msg):
        print(f"{PROG}: error: {msg}", file=sys.stderr)

    # Read every input before writing anything.
    jobs, errors = [], 0   # (input, figures, outdir, prefix, runs)
    for inp in args.inputs:
        try:
            if os.path.isdir(inp):
                sweep = load_sweep(inp)
                for msg in sweep.skipped:
                    print(f"{PROG}: {msg}", file=sys.stderr)
                jobs.append((inp, sweep_figures(sweep), args.outdir or inp, "", sweep.runs))
            else:
                run = load(inp)
                stem = os.path.splitext(os.path.basename(inp))[0]
                jobs.append((inp, file_figures(run), args.outdir or os.path.dirname(inp) or ".",
                             stem + "-", [run]))
        except PlotError as e:
            error(e)
            errors += 1
    if errors:
        return 1
    if args.summary:
        try:
            summary([r for job in jobs for r in job[4]], sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. piped into head
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

    if args.outdir:
        try:
            os.makedirs(args.outdir, exist_ok=True)
        except OSError as e:
            error(f"{args.outdir}: cannot create the folder ({e.strerror})")
            return 1
    planned, seen, existing = [], {}, []
    for inp, figs, outdir, prefix, _ in jobs:
        for name, build in figs:
            dest = os.path.join(outdir, f"{prefix}{name}.{args.format}")
            if dest in seen:
                error(f"{inp} and {seen[dest]} would both write {dest}")
                return 1
            if not args.force and os.path.exists(dest):
                existing.append(dest)
            seen[dest] = inp
            planned.append((dest, build))
    if existing:
        more = f" and {len(existing) - 1} more figure(s)" if len(existing) > 1 else ""
        error(f"{existing[0]}{more}: already exist(s) (use --force to overwrite)")
        return 1

    import matplotlib.pyplot as plt

    for dest, build in planned:
        fig = build()
        try:
            save(fig, dest, args.format, args.force)
        except PlotError as e:
            error(e)
            errors += 1
            continue
        except OSError as e:
            error(f"{dest}: cannot write ({e.strerror or e})")
            errors += 1
            continue
        finally:
            plt.close(fig)
        print(dest)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
