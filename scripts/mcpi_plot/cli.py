"""The command line of scripts/plot: read every input, then plot (or --summary)."""

import argparse
import os
import sys

from .figures import file_figures, save, sweep_figures
from .read import PlotError, load, load_sweep

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
  schedules        from a schedules sweep (scripts/scaling.sh with SCHEDULES and/or
                   SLOW): left, the makespan per schedule (direct, dynamic, guided,
                   static; median over the repeats, bars from min to max), grouped
                   without and with the straggler, with lambda over each bar; right,
                   the per-engine timelines of one straggler run per schedule (the
                   median), stacked on one time axis
A sweep folder gives the figures of the runs it holds: strong-scaling and weak-scaling
for those sweeps, gantt, load-balance and convergence for the strong (else weak) runs,
and schedules for a schedules sweep.
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
                Times are from the start barrier; in a resumed file (schema 2 on) each
                session follows the previous one, with a dashed line between them.
                An engine slowed by mcpi --slow is labelled e.g. "engine 0 (3x slow)"
                (here and in the load balance); its bars include the waits.
  load balance  per engine: wall time computing (sum of compute_s), CPU time it got
                meanwhile (sum of compute_cpu_s: less when other processes shared
                its core) and chunks computed.
  imbalance     max / mean busy (wall) time over the targeted engines (1.0 = perfect);
                lambda = max / mean - 1 (0 = perfect): schema 3 files hold it as their
                imbalance attribute, which the load balance and schedules figures show.
  makespan      elapsed_s: from the start barrier until the last chunk is in. With a
                straggler (SLOW="0=3": engine 0 takes 3 times as long per chunk), direct
                and static give it half the chunks and wait for it; dynamic and guided
                hand the fast engines more, and finish sooner.
  convergence   pi_hat(n) = 4 * inside / samples summed over the chunks in chunk-id
                order; the bands are 1 and 2 standard errors 4*sqrt(p(1-p)/n) with
                p = pi/4: at each n, |pi_hat - pi| falls inside them with probability
                68% and 95% (neighbouring points share chunks, so they move together).
Each figure has a caption with the mode, ranks, samples, seed, host and mcpi version.

Files: schema 1 (no schema_version attribute), schema 2 (schema_version = 2,
with chunks_done, sessions and /sessions), schema 3 (with schedule, imbalance,
stopped_by, ... and /engines' slow) and schema 4 (with a digest) are read. A partial file (chunks_done <
chunks, an interrupted run; not one that --precision stopped early) given by name
is plotted with a PARTIAL note and chunks_done of the chunks; in a sweep folder it
is skipped with a message, and so are resumed runs (more than one session) for the
scaling and schedules figures. A sweep folder's manifest.tsv may predate its
schedule and slow columns: its runs are then mcpi's default schedule, without a
straggler. A file that is not HDF5, not written by mcpi, or from a newer schema
is refused with one line on stderr and exit status 1; nothing is written then.

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
                jobs.append((inp, sweep_figures(sweep, args.host), args.outdir or inp, "", sweep.runs))
            else:
                run = load(inp)
                stem = os.path.splitext(os.path.basename(inp))[0]
                jobs.append((inp, file_figures(run, args.host), args.outdir or os.path.dirname(inp) or ".",
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
