#!/usr/bin/env python3
"""Plot mcpi HDF5 results files.

    plot.py FILE.h5 [FILE.h5 ...] [-o OUTDIR] [--force]
    plot.py --summary FILE.h5 [FILE.h5 ...]

For each results file, write one PNG figure (``<stem>.png`` next to the
input, or in OUTDIR) with:

  (a) a timeline of the chunks on each engine: a bar per chunk from
      done_s - compute_s to done_s, and in balanced mode a tick at the
      chunk's dispatch_s;
  (b) each engine's busy time against the run's elapsed time, with the
      idle share;
  (c) a histogram of the chunk compute times.

``--summary`` writes no figure; it prints a table with one line per file
(after a header line starting with '#') for comparing runs, e.g. strong
scaling over several rank counts.

Existing PNGs are never overwritten unless ``--force`` is given; figures
are written to a temporary file in the output directory and then moved
into place, so a reader never sees a half-written PNG.

Run it through scripts/plot.sh, which provides the pinned dependencies.
"""

import argparse
import os
import sys
import tempfile

PROG = "plot.py"

# Root attributes every mcpi results file carries (slurm_job_id is optional).
REQUIRED_ATTRS = (
    "mode", "ranks", "engines", "targets", "samples", "chunks", "seed", "rng",
    "kernel", "inside", "pi", "stderr", "ci95_low", "ci95_high", "abs_error",
    "elapsed_s", "serial_s", "startup_s", "speedup", "efficiency",
    "controller_cpu_s", "controller_cpu_share", "window", "output",
    "mcpi_version", "created_utc", "command", "mpi_library",
)
ENGINE_FIELDS = ("engine_id", "rank", "pid", "host", "kernel", "chunks",
                 "samples", "inside", "busy_s")
CHUNK_FIELDS = ("chunk_id", "engine_id", "samples", "inside", "dispatch_s",
                "done_s", "compute_s")
MODES = ("balanced", "direct")

SUMMARY_COLUMNS = ("mode", "ranks", "engines", "samples", "chunks", "pi",
                   "elapsed_s", "serial_s", "speedup", "efficiency")


class ResultsError(Exception):
    """A file that cannot be used; the message is a single line."""


class Run:
    """The contents of one mcpi results file."""

    def __init__(self, path, attrs, engines, chunks):
        self.path = path
        self.name = os.path.basename(path)
        self.attrs = attrs
        self.engines = engines  # numpy structured array
        self.chunks = chunks    # numpy structured array

    def __getitem__(self, key):
        return self.attrs[key]

    @property
    def mode(self):
        return self.attrs["mode"]


def _scalar(value):
    """Turn an HDF5 attribute value into a plain Python value."""
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.shape == ():
            return _scalar(value[()])
        return [_scalar(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def load(path):
    """Read and check one results file; raise ResultsError if unusable."""
    if not os.path.exists(path):
        raise ResultsError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ResultsError(f"{path}: not a regular file")

    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError:
        raise ResultsError(f"{path}: not an HDF5 file (or not readable)") from None
    with f:
        missing = [a for a in REQUIRED_ATTRS if a not in f.attrs]
        if missing:
            shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
            raise ResultsError(
                f"{path}: not an mcpi results file (missing attribute(s): {shown})")
        try:
            attrs = {k: _scalar(f.attrs[k]) for k in f.attrs}
        except (OSError, TypeError, ValueError) as e:
            raise ResultsError(f"{path}: cannot read attributes ({e})") from None

        tables = {}
        for name, fields in (("engines", ENGINE_FIELDS), ("chunks", CHUNK_FIELDS)):
            ds = f.get(name)
            if not isinstance(ds, h5py.Dataset):
                raise ResultsError(
                    f"{path}: not an mcpi results file (no /{name} dataset)")
            have = ds.dtype.names or ()
            lacking = [c for c in fields if c not in have]
            if lacking or ds.ndim != 1:
                raise ResultsError(
                    f"{path}: not an mcpi results file (/{name} lacks field(s): "
                    f"{', '.join(lacking) or 'one-dimensional shape'})")
            tables[name] = ds[()]

    mode = attrs["mode"]
    if mode not in MODES:
        raise ResultsError(f"{path}: unknown mode {mode!r} (expected balanced or direct)")
    return Run(path, attrs, tables["engines"], tables["chunks"])


# --------------------------------------------------------------------------
# Summary table

def _fmt(key, value):
    if key == "pi":
        return f"{value:.6f}"
    if key in ("elapsed_s", "serial_s"):
        return f"{value:.4f}"
    if key in ("speedup", "efficiency"):
        return f"{value:.3f}"
    return str(value)


def print_summary(runs, out=sys.stdout):
    # The header starts with '#' so that awk, gnuplot and np.loadtxt skip it.
    labels = ["# " + SUMMARY_COLUMNS[0]] + list(SUMMARY_COLUMNS[1:])
    rows = [[_fmt(k, r[k]) for k in SUMMARY_COLUMNS] for r in runs]
    widths = [max([len(lab)] + [len(row[i]) for row in rows])
              for i, lab in enumerate(labels)]

    def line(cells, name):
        parts = [f"{cells[0]:<{widths[0]}}"]
        parts += [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(parts + [name])

    print(line(labels, "file"), file=out)
    for run, row in zip(runs, rows):
        print(line(row, run.name), file=out)


# --------------------------------------------------------------------------
# Figure

def _seconds_axis(axis):
    """Plain decimal tick labels (no offset, no 1e-3 multiplier)."""
    from matplotlib.ticker import ScalarFormatter

    fmt = ScalarFormatter(useOffset=False)
    fmt.set_scientific(False)
    axis.set_major_formatter(fmt)


def _title(run):
    ranks, engines = run["ranks"], run["engines"]
    used = len(run["targets"]) if isinstance(run["targets"], list) else 1
    eng = f"{engines} engine{'s' if engines != 1 else ''}"
    if used != engines:
        eng += f", {used} targeted"
    line1 = (f"mcpi {run.mode} mode: {ranks} rank{'s' if ranks != 1 else ''} ({eng}), "
             f"{run['samples']:,} samples in {run['chunks']:,} chunks")
    line2 = (f"\u03c0 = {run['pi']:.6f} \u00b1 {run['stderr']:.6f}   "
             f"elapsed {run['elapsed_s']:.4f} s   serial {run['serial_s']:.4f} s   "
             f"speedup {run['speedup']:.2f}\u00d7   efficiency {run['efficiency']:.1%}")
    return line1 + "\n" + line2


def _short(text, limit=40):
    """First line of text with whitespace runs collapsed, cut to limit chars."""
    first = " ".join(str(text).strip().splitlines()[:1])
    first = " ".join(first.split())
    return first if len(first) <= limit else first[:limit - 1] + "\u2026"


def _engine_label(row):
    return f"engine {int(row['engine_id'])}\n(rank {int(row['rank'])})"


def make_figure(run):
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    engines = np.sort(run.engines, order="engine_id")
    chunks = run.chunks
    ids = [int(e) for e in engines["engine_id"]]
    row_of = {eid: i for i, eid in enumerate(ids)}
    n_eng = len(ids)
    elapsed = float(run["elapsed_s"])
    balanced = run.mode == "balanced"
    colors = plt.get_cmap("tab10")
    targets = run["targets"] if isinstance(run["targets"], list) else [run["targets"]]

    def idle_reason(eid):
        return "not targeted" if eid not in targets else "targeted, got none"

    height = 8.5 + 0.25 * max(0, n_eng - 4)
    fig = plt.figure(figsize=(13, min(height, 20)), dpi=110, layout="constrained")
    gs = fig.add_gridspec(2, 2, height_ratios=[1.25, 1])
    ax_t = fig.add_subplot(gs[0, :])
    ax_b = fig.add_subplot(gs[1, 0])
    ax_h = fig.add_subplot(gs[1, 1])
    fig.suptitle(_title(run), fontsize=12)

    # (a) timeline -------------------------------------------------------
    ax_t.set_title("(a) Chunk timeline per engine", loc="left", fontsize=11)
    bar_h = 0.6
    for eid in ids:
        y = row_of[eid]
        mine = chunks[chunks["engine_id"] == eid]
        if len(mine) == 0:
            ax_t.text(0, y, f"  no chunks ({idle_reason(eid)})", va="center", ha="left",
                      fontsize=9, color="0.4", style="italic")
            continue
        mine = np.sort(mine, order="done_s")
        start = mine["done_s"] - mine["compute_s"]
        spans = list(zip(start.tolist(), mine["compute_s"].tolist()))
        base = colors(y % 10)
        # Alternate two shades so that neighbouring chunks stay distinguishable.
        light = tuple(0.55 * c + 0.45 for c in base[:3])
        face = [base if i % 2 == 0 else light for i in range(len(spans))]
        ax_t.broken_barh(spans, (y - bar_h / 2, bar_h), facecolors=face,
                         edgecolor="none")
        if balanced:
            ax_t.plot(mine["dispatch_s"], np.full(len(mine), y - bar_h / 2 - 0.06),
                      linestyle="none", marker="|", markersize=7, color="black",
                      markeredgewidth=0.6)
    ax_t.axvline(elapsed, color="crimson", linestyle="--", linewidth=1)
    ax_t.set_yticks(range(n_eng), [_engine_label(e) for e in engines], fontsize=9)
    ax_t.set_ylim(n_eng - 0.5, -0.5 - (0.15 if balanced else 0))
    ax_t.set_xlim(left=0)
    if balanced:
        ax_t.set_xlabel("time since start of the parallel section, controller clock (s)")
    else:
        ax_t.set_xlabel("time since the start barrier, each engine's own clock (s)")
    _seconds_axis(ax_t.xaxis)
    ax_t.grid(axis="x", color="0.9")
    ax_t.set_axisbelow(True)
    handles = [Patch(color=colors(0), label="chunk compute (done_s \u2212 compute_s \u2026 done_s)")]
    if balanced:
        handles.append(Line2D([], [], linestyle="none", marker="|", markersize=9,
                              color="black", label="chunk dispatched (dispatch_s)"))
    handles.append(Line2D([], [], color="crimson", linestyle="--",
                          label=f"elapsed = {elapsed:.4f} s"))
    ax_t.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1),
                fontsize=9, frameon=False)

    # (b) busy vs elapsed ------------------------------------------------
    ax_b.set_title("(b) Engine busy time vs elapsed", loc="left", fontsize=11)
    busy = engines["busy_s"].astype(float)
    idle = np.clip(elapsed - busy, 0, None)
    x = np.arange(n_eng)
    ax_b.bar(x, busy, color=[colors(i % 10) for i in range(n_eng)], label="busy (busy_s)")
    ax_b.bar(x, idle, bottom=busy, color="0.85", hatch="//", edgecolor="0.6",
             linewidth=0, label="idle (elapsed \u2212 busy)")
    ax_b.axhline(elapsed, color="crimson", linestyle="--", linewidth=1,
                 label="elapsed")
    for i in range(n_eng):
        share = idle[i] / elapsed if elapsed > 0 else 0.0
        ax_b.text(x[i], max(busy[i], elapsed) * 1.01, f"idle {share:.0%}",
                  ha="center", va="bottom", fontsize=8)
    worked = [eid for eid in ids if np.any(chunks["engine_id"] == eid)]
    ax_b.set_xticks(x, [f"engine {i}" + ("" if i in worked else "\n(no chunks)") for i in ids],
                    rotation=45 if n_eng > 8 else 0, fontsize=9)
    ax_b.set_ylabel("time (s)")
    ax_b.set_ylim(0, max(elapsed, float(busy.max()) if n_eng else 0.0) * 1.3 or 1)
    _seconds_axis(ax_b.yaxis)
    ax_b.legend(loc="upper center", ncol=3, fontsize=8, framealpha=0.9)

    # (c) histogram of compute times ---------------------------------------
    ax_h.set_title("(c) Chunk compute times", loc="left", fontsize=11)
    comp = chunks["compute_s"].astype(float)
    if len(comp):
        bins = np.histogram_bin_edges(comp, bins="auto")
        if len(bins) > 61:
            bins = np.linspace(comp.min(), comp.max(), 61)
        if 1 < len(worked) <= 10:
            data = [comp[chunks["engine_id"] == eid] for eid in worked]
            ax_h.hist(data, bins=bins, stacked=True,
                      color=[colors(row_of[eid] % 10) for eid in worked],
                      label=[f"engine {eid}" for eid in worked])
        else:
            ax_h.hist(comp, bins=bins, color=colors(0), label="all chunks")
        med = float(np.median(comp))
        ax_h.axvline(med, color="black", linestyle=":", linewidth=1,
                     label=f"median {med:.3g} s")
        ax_h.legend(fontsize=8, framealpha=0.9)
    else:
        ax_h.text(0.5, 0.5, "no chunks", transform=ax_h.transAxes, ha="center")
    ax_h.set_xlabel("compute time per chunk (s)")
    ax_h.set_ylabel("chunks")
    ax_h.xaxis.get_major_formatter().set_useOffset(False)

    # Provenance, under the timeline legend.
    ax_t.text(1.01, 0.0,
              f"file {run.name}\nmcpi {run['mcpi_version']}, {run['created_utc']}\n"
              f"seed {run['seed']}, rng {run['rng']}\nkernel {run['kernel']}, "
              f"window {run['window']}\n{_short(run['mpi_library'])}",
              transform=ax_t.transAxes, ha="left", va="bottom", fontsize=7.5,
              color="0.4", linespacing=1.4)
    return fig


# --------------------------------------------------------------------------
# Output

def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_png(fig, dest, force):
    """Write fig to dest atomically; refuse to replace dest unless force."""
    outdir = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(dir=outdir, prefix="." + os.path.basename(dest) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)  # fails if dest appeared meanwhile
            except FileExistsError:
                raise ResultsError(f"{dest}: already exists (use --force to overwrite)") from None
            except OSError:
                if os.path.exists(dest):
                    raise ResultsError(
                        f"{dest}: already exists (use --force to overwrite)") from None
                os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def output_path(path, outdir):
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(outdir if outdir else (os.path.dirname(path) or "."), stem + ".png")


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Plot mcpi HDF5 results: chunk timeline, engine busy time, "
                    "compute-time histogram (one PNG per file).")
    ap.add_argument("files", nargs="+", metavar="FILE.h5", help="mcpi results file(s)")
    ap.add_argument("-o", "--outdir", metavar="OUTDIR",
                    help="directory for the PNGs (default: next to each input)")
    ap.add_argument("--force", action="store_true", help="overwrite existing PNGs")
    ap.add_argument("--summary", action="store_true",
                    help="print a one-line-per-file table instead of plotting")
    args = ap.parse_args(argv)

    def fail(msg):
        print(f"{PROG}: error: {msg}", file=sys.stderr)

    # Check every input (and every output name) before writing anything.
    runs, errors = [], 0
    for path in args.files:
        try:
            runs.append(load(path))
        except ResultsError as e:
            fail(e)
            errors += 1
    if errors:
        return 1

    if args.summary:
        print_summary(runs)
        return 0

    if args.outdir:
        try:
            os.makedirs(args.outdir, exist_ok=True)
        except OSError as e:
            fail(f"{args.outdir}: cannot create output directory ({e.strerror})")
            return 1
    dests = [output_path(r.path, args.outdir) for r in runs]
    seen = {}
    for run, dest in zip(runs, dests):
        if dest in seen:
            fail(f"{run.path} and {seen[dest]} would both write {dest}")
            errors += 1
        seen[dest] = run.path
        if not args.force and os.path.exists(dest):
            fail(f"{dest}: already exists (use --force to overwrite)")
            errors += 1
    if errors:
        return 1

    import matplotlib.pyplot as plt

    for run, dest in zip(runs, dests):
        fig = make_figure(run)
        try:
            save_png(fig, dest, args.force)
        except ResultsError as e:
            fail(e)
            errors += 1
            continue
        except OSError as e:
            fail(f"{dest}: cannot write ({e.strerror or e})")
            errors += 1
            continue
        finally:
            plt.close(fig)
        print(dest)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
