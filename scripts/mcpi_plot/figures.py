"""The figures: strong and weak scaling, Gantt chart, load balance, convergence, schedules
against a straggler; which to draw for a sweep folder or a file; and writing one safely."""

import math
import os
import tempfile

from .analysis import (cpu_busy, imbalance, load_balance, representative, running_estimate,
                       schedule_ratios, schedule_timelines, schedules, session_offsets, stats,
                       straggler, strong_scaling, weak_scaling)
from .read import MODES, PlotError

DPI = 100
# Figure sizes in inches; at DPI these are the PNGs' pixel sizes.
SIZES = {
    "strong-scaling": (13, 5.5),
    "weak-scaling": (13, 5.5),
    "gantt": (14, 6.5),
    "load-balance": (14, 7),
    "convergence": (10, 6.5),
    "schedules": (16, 8.5),
}
MODE_COLORS = {"balanced": "tab:blue", "direct": "tab:orange"}
SCHEDULE_COLORS = {"direct": "tab:orange", "dynamic": "tab:blue", "guided": "tab:green",
                   "static": "tab:purple"}
SCHEDULE_LEGEND = {
    "direct": "direct: --mode direct, a contiguous share per engine, fixed up front",
    "dynamic": "dynamic: balanced, one chunk at a time to an engine with room",
    "guided": "guided: balanced, batches of remaining / (2 x engines)",
    "static": "static: balanced, chunk i to engine i mod E, fixed up front",
}
# Horizontal offsets of the modes' markers, so that error bars do not hide each other.
DODGE = {"balanced": -0.04, "direct": 0.04}
ONE_RANK = -0.12    # further offset of the 1-rank (serial) markers at 1 engine


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


def _mode_series(ax, rows, mode, key, scale=1):
    """One mode's runs on `ax`: the median of r[key] * scale with min-max bars against
    engines, the parallel runs as a line and the 1-rank runs as open squares."""
    par = [r for r in rows if r["ranks"] > 1]
    one = [r for r in rows if r["ranks"] == 1]
    for group, kw in ((par, {"label": f"{mode} (controller + engines)"}),
                      (one, {"label": f"{mode}, 1 rank (computes alone)", "marker": "s",
                             "line": False, "fill": "none"})):
        if group:
            x = [r["engines"] + DODGE[mode] + (ONE_RANK if r["ranks"] == 1 else 0)
                 for r in group]
            _errorbars(ax, x, [tuple(v * scale for v in stats(r[key])) for r in group],
                       MODE_COLORS[mode], **kw)


def figure_strong(sweep, host=None):
    baseline, rows, fig, (ax_s, ax_e), xmax = _scaling_figure(sweep, "strong", strong_scaling)
    xs = list(range(1, xmax + 1))
    ax_s.plot(xs, xs, color="0.4", linestyle="--", label="ideal (speedup = engines)")
    ax_e.axhline(100, color="0.4", linestyle="--", label="ideal (100%)")
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        _mode_series(ax_s, mine, mode, "speedup")
        _mode_series(ax_e, mine, mode, "efficiency", 100)
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
    _caption(fig, sweep.caption("strong", host))
    return fig


def figure_weak(sweep, host=None):
    baseline, rows, fig, (ax_t, ax_e), xmax = _scaling_figure(sweep, "weak", weak_scaling)
    if baseline is not None:
        ax_t.axhline(baseline, color="0.4", linestyle="--",
                     label=f"ideal: constant = median 1-rank elapsed ({baseline:.4g} s)")
        ax_e.axhline(100, color="0.4", linestyle="--", label="ideal (100%)")
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        _mode_series(ax_t, mine, mode, "elapsed")
        if baseline is not None:
            _mode_series(ax_e, mine, mode, "efficiency", 100)
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
    _caption(fig, sweep.caption("weak", host))
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


def engine_label(run, engine):
    """'engine 0', or 'engine 0 (3x slow)' for an engine that --slow slowed; a run on
    several hosts names each engine's: 'engine 3 (node2)', 'engine 0 (node1, 3x slow)'."""
    notes = []
    if len(run.all_hosts) > 1:
        notes.append(run.engine_hosts.get(engine, "?"))
    factor = run.slow.get(engine)
    if factor:
        notes.append(f"{factor:g}x slow")
    return f"engine {engine}" + (f" ({', '.join(notes)})" if notes else "")


def _run_title(run):
    """'balanced' or, when the file names it (schema 3), 'balanced (guided)'."""
    if run.mode == "balanced" and "schedule" in run.attrs:
        return f"balanced ({run['schedule']})"
    return run.mode


def _gantt_bars(ax, run, cmap, norm):
    """The chunks of `run` on one row per engine, the session boundaries and elapsed_s;
    returns the last time drawn."""
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
    ax.set_yticks(range(len(ids)), [engine_label(run, e) for e in ids])
    ax.set_ylim(len(ids) - 0.4, -0.7)
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    return max(total, float(done.max()) if len(done) else 0.0)


def _gantt_panel(ax, run, cmap, norm):
    end = _gantt_bars(ax, run, cmap, norm)
    ax.set_xlim(0, end * 1.02 or 1)
    ax.set_xlabel("time since the start barrier (s); dotted: elapsed_s")
    what = "bar: compute, line: dispatch\u2192start" if run.mode == "balanced" else \
        "bar: compute (static share)"
    ax.set_title(f"{_run_title(run)}: {run['ranks']} ranks, elapsed "
                 f"{float(run['elapsed_s']):.4g} s\n({what})", loc="left", fontsize=10)


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
        ids, busy, count, ratio = load_balance(run)
        x = np.arange(len(ids))
        color = MODE_COLORS[run.mode]
        ax_b, ax_c = axes[0][col], axes[1][col]
        cpu = cpu_busy(run, ids)
        wall = "wall time computing" + (" (--slow: with its waits)" if run.slow else "")
        if cpu is None:
            ax_b.bar(x, busy, color=color, label=wall)
        else:
            ax_b.bar(x - 0.2, busy, width=0.4, color=color, label=wall)
            ax_b.bar(x + 0.2, cpu, width=0.4, color=color, alpha=0.45, hatch="//",
                     label="CPU time received (compute_cpu_s)")
        mean = float(np.mean([busy[ids.index(t)] for t in run.targets if t in ids]))
        ax_b.axhline(mean, color="0.2", linestyle="--", linewidth=1,
                     label=f"mean of targeted engines {mean:.4g} s")
        ax_b.axhline(float(run["elapsed_s"]), color="crimson", linestyle=":", linewidth=1,
                     label=f"elapsed_s {float(run['elapsed_s']):.4g} s")
        ax_b.set_ylabel("busy time per engine (s)")
        if "imbalance" in run.attrs:  # schema 3: the file's lambda
            what = f"imbalance \u03bb = max/mean \u2212 1 = {float(run['imbalance']):.3f}"
        else:
            what = f"imbalance max/mean = {ratio:.3f}"
        ax_b.set_title(f"{_run_title(run)}: {run['ranks']} ranks \u2014 {what}", loc="left",
                       fontsize=10)
        ax_b.legend(fontsize=8, loc="lower right")
        ax_c.bar(x, count, color=color, alpha=0.7)
        for xi, n in zip(x, count):
            ax_c.text(xi, n, str(n), ha="center", va="bottom", fontsize=8)
        ax_c.set_ylabel("chunks computed")
        ax_c.set_xticks(x, [engine_label(run, e) + ("" if e in run.targets
                                                     else "\n(not targeted)") for e in ids])
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


def _slow_words(slow):
    return "no straggler" if slow == "none" else f"straggler --slow {slow}"


def _makespan_panel(ax, rows):
    """Bars of the median makespan per schedule (min-max whiskers), grouped by straggler
    setting, with the median lambda over each bar."""
    import numpy as np

    slows = list(dict.fromkeys(r["slow"] for r in rows))
    names = list(dict.fromkeys(r["schedule"] for r in rows))
    width = 0.8 / len(names)
    top = max(r["max"] for r in rows)
    for r in rows:
        x = slows.index(r["slow"]) + (names.index(r["schedule"]) - (len(names) - 1) / 2) * width
        ax.bar(x, r["median"], width=width * 0.92, color=SCHEDULE_COLORS[r["schedule"]],
               yerr=[[r["median"] - r["min"]], [r["max"] - r["median"]]], capsize=4,
               error_kw={"elinewidth": 1, "ecolor": "0.2"},
               label=SCHEDULE_LEGEND[r["schedule"]] if r["slow"] == slows[0] else None)
        ax.text(x, r["max"] + top * 0.015, f"\u03bb={float(np.median(r['imbalance'])):.2f}",
                ha="center", va="bottom", fontsize=8)
        ax.text(x, top * 0.015, f"{r['median']:.3g} s", ha="center", va="bottom", fontsize=7,
                color="white", rotation=90)
    ax.set_xticks(range(len(slows)), [_slow_words(s) for s in slows])
    ax.set_xlim(-0.5, len(slows) - 0.5)
    ax.set_ylim(0, top * 1.22)
    ax.set_ylabel("makespan = elapsed_s (s): median over repeats, whiskers min\u2013max")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="upper left")


def figure_schedules(sweep, host=None):
    """Left: makespan and lambda per schedule without and with the straggler; right: the
    per-engine timelines of one straggler run per schedule, on one time axis."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    runs = sweep.of("schedules")
    rows = schedules(runs)
    slow = straggler(rows)
    shown = schedule_timelines(runs, slow)
    fig = _figure("schedules")
    left, right = fig.subfigures(1, 2, width_ratios=(1, 1.25))
    ax = left.subplots()
    _makespan_panel(ax, rows)
    ratios = schedule_ratios(rows, slow)
    lines = ["Makespan per schedule (\u03bb = max/mean \u2212 1 of the engines' busy times)"]
    for of in ("direct", "static"):
        mine = [f"{k} = {v:.2f}" for k, v in ratios.items() if k.endswith("/" + of)]
        if mine:
            lines.append(f"{_slow_words(slow)}: {', '.join(mine)}")
    ax.set_title("\n".join(lines), loc="left", fontsize=10)

    axes = right.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
    cmap = plt.get_cmap("viridis")
    norm = Normalize(0, max(int(r["chunks"]) - 1 for r in shown) or 1)
    end = max(_gantt_bars(a, run, cmap, norm) for a, run in zip(axes, shown))
    for a, run in zip(axes, shown):
        a.set_title(f"{run.schedule}: elapsed {float(run['elapsed_s']):.3g} s, "
                    f"\u03bb = {imbalance(run):.2f}", loc="left", fontsize=9,
                    color=SCHEDULE_COLORS[run.schedule])
    axes[0].set_xlim(0, end * 1.02 or 1)
    axes[-1].set_xlabel("time since the start barrier (s); bar: a chunk computing, "
                        "line: waiting in the window; dotted: elapsed_s")
    right.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes),
                   label="chunk id", fraction=0.04)
    right.suptitle(f"Per-engine timelines, {_slow_words(slow)} (the median run of each "
                   "schedule)", fontsize=10, x=0.02, ha="left")
    fig.suptitle("Schedules against a straggler: a balancing schedule lets the fast engines "
                 "take over the slow one's work")
    note = " \u00b7 ".join(f"{r.schedule}: {r.name}" for r in shown)
    _caption(fig, f"{sweep.caption('schedules', host)}\ntimelines: {note}")
    return fig


# --------------------------------------------------------------------------------------------
# What to draw

def sweep_figures(sweep, host=None):
    """(name, builder) pairs for a sweep folder; `host` names the machine in the captions."""
    figs = []
    strong, weak = sweep.of("strong"), sweep.of("weak")
    if strong:
        figs.append(("strong-scaling", lambda: figure_strong(sweep, host)))
    if weak:
        figs.append(("weak-scaling", lambda: figure_weak(sweep, host)))
    pool = strong or weak
    if pool:
        figs += _run_figures(sweep, pool, "strong" if strong else "weak", host)
    if sweep.of("schedules"):
        figs.append(("schedules", lambda: figure_schedules(sweep, host)))
    return figs


def _run_figures(sweep, pool, kind, host):
    """Gantt, load balance and convergence of the runs that stand for the sweep's `kind`."""
    figs = []
    picked = representative(pool)
    note = " \u00b7 ".join(
        f"{r.mode}: {r.name} (median elapsed of {sum(1 for q in pool if q.mode == r.mode and q['ranks'] == r['ranks'])} repeats)"
        for r in picked)
    cap = f"{sweep.caption(kind, host)}\n{note}"
    figs.append(("gantt", lambda: figure_gantt(picked, cap)))
    figs.append(("load-balance", lambda: figure_load(picked, cap)))
    first = picked[0]
    same = [r for r in pool if (int(r["samples"]), int(r["chunks"])) ==
            (int(first["samples"]), int(first["chunks"]))]
    counts = {int(r["inside"]) for r in same}
    agree = (f"all {len(same)} runs of this job counted inside = {first['inside']:,}"
             if len(counts) == 1 else f"WARNING: {len(same)} runs of this job disagree on inside")
    figs.append(("convergence", lambda: figure_convergence(
        first, f"{first.caption(host)}\n{first.name}; {agree}")))
    return figs


def file_figures(run, host=None):
    """(name, builder) pairs for one results file."""
    cap = f"{run.caption(host)}\n{run.name}"
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
