"""Reading mcpi's results: HDF5 files (schemas 1 to 4) and sweep folders of
scripts/scaling.sh (manifest.tsv), checked, with one-line errors (PlotError)."""

import os

SCHEMAS = (1, 2, 3, 4)
MODES = ("balanced", "direct")
KINDS = ("strong", "weak", "schedules")
# The schedules of a schedules sweep: direct mode, then balanced mode's schedules.
SCHEDULES = ("direct", "dynamic", "guided", "static")

REQUIRED_ATTRS = ("mode", "ranks", "engines", "targets", "samples", "chunks", "seed",
                  "inside", "elapsed_s", "serial_s", "mcpi_version", "created_utc")
ENGINE_FIELDS = ("engine_id", "host")
CHUNK_FIELDS = ("chunk_id", "engine_id", "samples", "inside", "dispatch_s", "done_s",
                "compute_s")
SESSION_FIELDS = ("session", "elapsed_s")
MANIFEST = "manifest.tsv"
# Manifest columns that scaling.sh wrote only from the schedules sweep on; an older manifest
# lacks them and its runs are read as what they were: mcpi's default schedule, no straggler.
ADDED_COLUMNS = ("schedule", "slow")


def _manifest_columns():
    """The manifest's columns, in order, from scripts/lib/manifest-columns: the one list
    that scripts/scaling.sh writes its header and rows by."""
    scripts = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(scripts, "lib", "manifest-columns"), encoding="utf-8") as fh:
        return tuple(word for line in fh if not line.startswith("#") for word in line.split())


MANIFEST_COLUMNS = _manifest_columns()
OLD_MANIFEST_COLUMNS = tuple(c for c in MANIFEST_COLUMNS if c not in ADDED_COLUMNS)


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


def parse_slow(text):
    """A --slow value ('0=3,1=1.5') or 'none' as {engine id: factor}; ValueError if neither."""
    if text == "none":
        return {}
    factors = {}
    for pair in text.split(","):
        engine, sep, factor = pair.partition("=")
        if not sep or not engine.isdigit() or int(engine) in factors:
            raise ValueError(f"not none or ENGINE=FACTOR[,...]: {text!r}")
        factors[int(engine)] = float(factor)
    return {e: f for e, f in factors.items() if f != 1.0}


class Run:
    """One mcpi results file, schema 1 to 4 (4 adds only the digest attribute)."""

    def __init__(self, path, attrs, engines, chunks, sessions):
        self.path = path
        self.name = os.path.basename(path)
        self.attrs = attrs
        self.engines = engines      # numpy structured array (schema >= 2: per engine per session)
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
        """Interrupted before the end: fewer chunks done than planned, and (schema 3) not
        stopped early by --precision."""
        return (self.chunks_done < int(self.attrs["chunks"])
                and self.attrs.get("stopped_by") != "precision")

    @property
    def schedule(self):
        """How the chunks were handed out, in the words of scripts/scaling.sh: direct for
        direct mode, else the file's balanced schedule (dynamic before schema 3)."""
        if self.mode == "direct":
            return "direct"
        return str(self.attrs.get("schedule", "dynamic"))

    @property
    def slow(self):
        """The slowed engines, {engine id: factor} (factor > 1), from /engines' slow field
        (schema 3; the latest session that lists the engine); {} when none or older."""
        e = self.engines
        if e.dtype.names is None or "slow" not in e.dtype.names:
            return {}
        order = range(len(e))
        if "session" in e.dtype.names:
            order = e["session"].argsort(kind="stable")
        factors = {int(e["engine_id"][i]): float(e["slow"][i]) for i in order}
        return {k: f for k, f in sorted(factors.items()) if f != 1.0}

    @property
    def targets(self):
        t = self.attrs["targets"]
        return [int(x) for x in (t if isinstance(t, list) else [t])]

    @property
    def used_engines(self):
        return len(self.targets)

    @property
    def hosts(self):
        return sorted({str(_plain(h)) for h in self.engines["host"]})

    @property
    def engine_hosts(self):
        """{engine id: host} from /engines (the latest session that lists the engine)."""
        e = self.engines
        order = range(len(e))
        if "session" in e.dtype.names:
            order = e["session"].argsort(kind="stable")
        return {int(e["engine_id"][i]): str(_plain(e["host"][i])) for i in order}

    @property
    def all_hosts(self):
        """The hosts the run used: its engines' and (schema >= 2) its controllers'."""
        controllers = {str(s["controller_host"]) for s in self.sessions
                       if s.get("controller_host") not in (None, "")}
        return sorted(set(self.hosts) | controllers)

    def caption(self, host=None):
        """One line: mode, ranks, samples, seed, host (`host`, else the recorded host
        names), mcpi version, date, schema, and whether resumed or partial."""
        a = self.attrs
        eng = self.used_engines
        mode = f"{self.mode} mode"
        if "schedule" in a and self.mode == "balanced":
            mode += f" ({a['schedule']} schedule)"
        parts = [mode, f"{a['ranks']} rank{'s' if a['ranks'] != 1 else ''} "
                 f"({eng} engine{'s' if eng != 1 else ''})",
                 f"{a['samples']:,} samples in {a['chunks']:,} chunks", f"seed {a['seed']}",
                 f"host {host or ', '.join(self.all_hosts)}", f"mcpi {a['mcpi_version']}",
                 a["created_utc"], f"schema {self.schema}"]
        if self.slow:
            parts.insert(1, "slowed: " + ", ".join(f"engine {e} {f:g}x"
                                                    for e, f in self.slow.items()))
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
    needed = REQUIRED_ATTRS + (("chunks_done", "sessions") if schema >= 2 else ()) + (
        ("schedule",) if schema >= 3 else ())
    missing = [a for a in needed if a not in f.attrs]
    if missing:
        raise PlotError(f"{path}: lacks attribute(s) {', '.join(missing)}: written by an older "
                        f"mcpi, or not by mcpi (schema {schema})")
    attrs = {k: _plain(f.attrs[k]) for k in f.attrs}
    if attrs["mode"] not in MODES:
        raise PlotError(f"{path}: unknown mode {attrs['mode']!r}")
    chunk_fields = CHUNK_FIELDS + (("session",) if schema >= 2 else ())
    engine_fields = ENGINE_FIELDS + (("session",) if schema >= 2 else ()) + (
        ("slow",) if schema >= 3 else ())
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
    run = Run(path, attrs, engines, chunks, sessions)
    # inside counts the chunks behind pi: all of them, or (schema 3, --precision) the
    # chunks 0..chunks_used.
    used = chunks["chunk_id"] < int(attrs.get("chunks_used", done))
    if not run.partial and int(chunks["inside"][used].sum()) != int(attrs["inside"]):
        raise PlotError(f"{path}: /chunks inside counts do not add up to the inside attribute")
    return run


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

    def caption(self, kind=None, host=None):
        """One line: the sweep, host (`host`, else the manifest's host, cpu and cores),
        the `kind` sweep's samples and chunks, seeds, repeats, launcher, mcpi, date."""
        m = self.meta
        host = host or f"{m.get('host', '?')} ({m.get('cpu', '?')}, {m.get('cores', '?')} cores)"
        parts = [f"sweep {os.path.basename(os.path.normpath(self.folder))}", f"host {host}"]
        if kind == "schedules":
            parts += self._schedules_caption()
        elif kind == "strong":
            parts.append(f"{int(m.get('samples', 0)):,} samples in {m.get('chunks', '?')} chunks")
        elif kind == "weak":
            parts.append(f"{int(m.get('per_engine', 0)):,} samples in {m.get('chunks', '?')} "
                         "chunks per engine")
        parts.append(self._nodes_caption(kind))
        seeds = sorted({int(r["seed"]) for r in self.runs})
        parts += [f"seed {', '.join(map(str, seeds))}", f"{m.get('repeats', '?')} repeats",
                  f"launcher {m.get('launcher', '?')}", m.get("mcpi", "mcpi ?"),
                  m.get("created_utc", "")]
        return " \u00b7 ".join(p for p in parts if p)


    def _nodes_caption(self, kind):
        """'' when every run of `kind` (all runs if None) ran on one host, else the hosts
        and how many each rank count used, e.g. '3 nodes (node1, node2, node3): 1 rank on 1
        node, 3 and 6 ranks on 3'."""
        mine = self.of(kind) if kind else self.runs
        hosts = sorted({h for r in mine for h in r.all_hosts})
        if len(hosts) < 2:
            return ""
        used = {}
        for r in mine:
            used.setdefault(len(r.all_hosts), set()).add(int(r["ranks"]))
        words = []
        for n, ranks in sorted(used.items()):
            *most, last = map(str, sorted(ranks))
            rk = f"{', '.join(most)} and {last}" if most else last
            words.append(f"{rk} rank{'' if rk == '1' else 's'} on {n} node{'' if n == 1 else 's'}")
        return f"{len(hosts)} nodes ({', '.join(hosts)}): " + "; ".join(words)

    def _schedules_caption(self):
        """The modes, ranks and job of the schedules runs, for caption()."""
        mine = self.of("schedules")
        balanced = [s for s in SCHEDULES[1:] if any(r.schedule == s for r in mine)]
        ranks = "/".join(map(str, sorted({int(r["ranks"]) for r in mine})))
        engines = "/".join(map(str, sorted({r.used_engines for r in mine})))
        jobs = sorted({(int(r["samples"]), int(r["chunks"])) for r in mine})
        return [f"direct mode and balanced mode (schedules {', '.join(balanced) or '-'})",
                f"{ranks} ranks ({engines} engines)",
                "; ".join(f"{s:,} samples in {c:,} chunks" for s, c in jobs)]


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
            if tuple(cells) not in (MANIFEST_COLUMNS, OLD_MANIFEST_COLUMNS):
                raise PlotError(f"{path}: line {no}: expected the header "
                                f"{' '.join(MANIFEST_COLUMNS)}")
            header = cells
            continue
        if len(cells) != len(header):
            raise PlotError(f"{path}: line {no}: {len(cells)} columns, expected {len(header)}")
        row = dict(zip(header, cells))
        if row["kind"] not in KINDS or row["mode"] not in MODES:
            raise PlotError(f"{path}: line {no}: unknown kind or mode")
        if "schedule" in row and row["schedule"] not in SCHEDULES:
            raise PlotError(f"{path}: line {no}: unknown schedule {row['schedule']!r}")
        try:
            parse_slow(row.get("slow", "none"))
        except ValueError:
            raise PlotError(f"{path}: line {no}: slow {row['slow']!r} is not none or "
                            "ENGINE=FACTOR[,...]") from None
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
        row.setdefault("schedule", run.schedule)
        row.setdefault("slow", "none")
        if run.schedule != row["schedule"] or (run.schema >= 3 and
                                               run.slow != parse_slow(row["slow"])):
            raise PlotError(f"{file}: schedule/slow differ from {MANIFEST} ({row['schedule']}, "
                            f"slow {row['slow']}): not this sweep's file")
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
