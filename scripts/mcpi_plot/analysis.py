"""Numbers derived from mcpi runs (read.Run): the running estimate, session offsets, load
balance, strong and weak scaling, schedules against a straggler, and which run stands for
a sweep. The tests recompute these independently from the files."""

import math

from .read import MODES, SCHEDULES


def running_estimate(run):
    """Cumulative samples n, running estimate pi_hat(n), |pi_hat - pi| and the standard
    error 4*sqrt(p(1-p)/n), p = pi/4, over the chunks in chunk-id order: those behind the
    estimate, so a run stopped by --precision ends at the prefix that met it (the chunks
    computed beyond it were discarded)."""
    import numpy as np

    c = run.chunks
    if run.attrs.get("stopped_by") == "precision":
        c = c[c["chunk_id"] < int(run.attrs["chunks_used"])]
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


def imbalance(run):
    """The load imbalance lambda = max / mean - 1 of the engines' busy times (0: perfect):
    the file's `imbalance` attribute (schema 3), else from /chunks (load_balance)."""
    if "imbalance" in run.attrs:
        return float(run["imbalance"])
    return load_balance(run)[3] - 1.0


def cpu_busy(run, ids):
    """CPU time per engine (sum of compute_cpu_s), or None when the file lacks it."""
    import numpy as np

    if "compute_cpu_s" not in run.chunks.dtype.names:
        return None
    c = run.chunks
    return np.array([float(c["compute_cpu_s"][c["engine_id"] == i].sum()) for i in ids])


def stats(values):
    """(median, min, max) of values."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    return float(np.median(v)), float(v.min()), float(v.max())


def _by_mode_and_ranks(runs):
    """The median elapsed time of the 1-rank runs (None without any), and the runs
    grouped by (mode, ranks), in that order."""
    import numpy as np

    ones = [r["elapsed_s"] for r in runs if r["ranks"] == 1]
    baseline = float(np.median(ones)) if ones else None
    groups = {}
    for r in runs:
        groups.setdefault((r.mode, int(r["ranks"])), []).append(r)
    return baseline, sorted(groups.items())


def strong_scaling(runs):
    """Speedup and efficiency per mode and rank count over the repeats.

    Returns (baseline, rows): baseline is T1, the median elapsed_s of the 1-rank runs
    (None when there are none: then each run's speedup is serial_s / elapsed_s); rows
    are dicts mode, ranks, engines, elapsed, speedup, efficiency, where the last three
    are lists over the repeats, in the order the runs were given.
    """
    baseline, groups = _by_mode_and_ranks(runs)
    rows = []
    for (mode, ranks), group in groups:
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
    baseline, groups = _by_mode_and_ranks(runs)
    rows = []
    for (mode, ranks), group in groups:
        elapsed = [float(r["elapsed_s"]) for r in group]
        eff = [baseline / t for t in elapsed] if baseline is not None else None
        rows.append({"mode": mode, "ranks": ranks, "engines": group[0].used_engines,
                     "samples": int(group[0]["samples"]), "elapsed": elapsed,
                     "efficiency": eff})
    return baseline, rows


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


def schedules(runs):
    """The makespans of a schedules sweep: per straggler setting (the manifest's slow:
    'none' first, then in the order met) and schedule (direct, dynamic, guided, static),
    a dict slow, schedule, ranks, engines, elapsed and imbalance (lists over the repeats,
    in the order given), and median, min and max of elapsed."""
    groups = {}
    for r in runs:
        groups.setdefault((r.manifest["slow"], r.manifest["schedule"]), []).append(r)
    met = list(dict.fromkeys(slow for slow, _ in groups))
    slows = sorted(met, key=lambda s: (s != "none", met.index(s)))
    rows = []
    for slow in slows:
        for schedule in SCHEDULES:
            group = groups.get((slow, schedule))
            if not group:
                continue
            elapsed = [float(r["elapsed_s"]) for r in group]
            med, lo, hi = stats(elapsed)
            rows.append({"slow": slow, "schedule": schedule, "ranks": int(group[0]["ranks"]),
                         "engines": group[0].used_engines, "elapsed": elapsed,
                         "imbalance": [imbalance(r) for r in group],
                         "median": med, "min": lo, "max": hi})
    return rows


def straggler(rows):
    """The straggler setting to show: the first slow setting other than 'none' in
    schedules(...) rows, else 'none' (None without rows)."""
    slows = [r["slow"] for r in rows]
    return next((s for s in slows if s != "none"), slows[0] if slows else None)


def schedule_ratios(rows, slow):
    """Median makespan ratios with the straggler setting `slow`: {"dynamic/direct": ...}
    for dynamic and guided over direct and static, where all are present."""
    med = {r["schedule"]: r["median"] for r in rows if r["slow"] == slow}
    return {f"{a}/{b}": med[a] / med[b] for a in ("dynamic", "guided")
            for b in ("direct", "static") if a in med and b in med and med[b] > 0}


def schedule_timelines(runs, slow):
    """Per schedule (in SCHEDULES order), of the runs with the straggler setting `slow`,
    the one with the median elapsed time (the lower median for an even count)."""
    chosen = []
    for schedule in SCHEDULES:
        mine = sorted((r for r in runs if (r.manifest["slow"], r.manifest["schedule"]) ==
                       (slow, schedule)), key=lambda r: float(r["elapsed_s"]))
        if mine:
            chosen.append(mine[(len(mine) - 1) // 2])
    return chosen
