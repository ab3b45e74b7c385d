"""Benchmark: directly-follows graph with durations and variants, joinedup vs pm4py.

    python bench/journeys.py                      # 1M and 10M events, both tools
    python bench/journeys.py 1000000              # chosen sizes
    python bench/journeys.py --only-joinedup 100000000   # out of core, joinedup alone
    python bench/journeys.py --only-joinedup --memory-limit 4GB 3000000 30000000
    python bench/journeys.py --in-engine 1000000   # joinedup's SQL path even when it fits
    python bench/journeys.py --episodes 600 3000   # episode placement vs synthetic truth

For each size one seeded log is generated (a Parquet file: case, activity, ts; rows in
time order, so cases are interleaved; many equal timestamps, revisits and one-event
cases), then each measured step runs in its own process, which reports its own peak
memory (ru_maxrss of the process itself), wall and CPU seconds (all threads) and the
load average around it. Five processes a size:

- ``pm4py`` (AGPL, benchmark-only) gets the log as a pandas frame already sorted by case,
  time and file order, as its variants need; that read and sort (``prepare``) is timed
  apart. Then ``discover_dfg`` + ``discover_performance_dfg`` (the graph) and
  ``get_variants``, each twice: a first call in the fresh process, then again.
- ``joinedup-frame``: joinedup's public call, ``journeys.discover_log``, on that same
  frame, graph (``variants=False``) and variants (``graph=False``) apart, each twice:
  like for like. ``import joinedup.journeys`` does not load the compiled loops, so the
  first call in the process pays for loading them: the C library built with the package
  (a few milliseconds). This is the comparison with pm4py.
- ``joinedup-frame-numba``: the same, on the fallback for a package installed without a
  C compiler (``JOINEDUP_NATIVE=0``): the same loops compiled by Numba, whose first call
  pays for importing and starting Numba and loading the loops from its cache. It runs
  twice, with Numba's cache in a new, empty folder (``NUMBA_CACHE_DIR``): first **cold**
  (nothing compiled yet: the first call compiles the loops it needs), then **warm** (the
  loops the cold run compiled are read from the cache, as on every later run).
- ``joinedup-file``: ``journeys.discover_log`` on the Parquet file, graph and variants in
  one call (what ``joinedup journeys dfg LOG --variants V`` runs): read, order, both.
- ``joinedup`` (staged): the log read into DuckDB (``stage``, timed apart), then read back,
  coded, ordered and mined, as a workspace's map is; variants reuse the ordered events.

Identical results are asserted for every joinedup run against pm4py: counts,
start/end activities and variants equal, durations equal to 1e-9. Results go to
bench/results/journeys.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

from _common import Measure, run_child, save

ACTIVITIES = [
    "Application",
    "Acknowledgement sent",
    "Evidence received",
    "Enquiry",
    "Progress enquiry",
    "Decision issued",
    "Payment made",
    "Case closed",
    "Complaint",
    "Account query",
    "Dispute",
    "Change reported",
    "Transfer",
    "Support request",
    "Decision revised",
    "Letter sent",
    "Callback",
    "Appointment",
    "Referral",
    "Review",
]


def generate(path: Path, events: int, seed: int = 1, chunk_cases: int = 500_000) -> int:
    """A log of about ``events`` events; returns the number of events written."""
    rng = np.random.default_rng(seed)
    k = len(ACTIVITIES)
    # A sparse Markov chain over activities: each has a few likely successors.
    trans = rng.dirichlet(np.full(k, 0.15), size=k)
    cum = np.cumsum(trans, axis=1)
    writer = None
    written, case_no = 0, 0
    t0 = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    while written < events:
        # about ten events a case: enough cases for what is left to write
        n_cases = min(chunk_cases, (events - written) // 9 + 1)
        lengths = np.minimum(rng.geometric(0.1, n_cases), 60)  # mean about 10, some 1
        total = int(lengths.sum())
        case = np.repeat(np.arange(case_no, case_no + n_cases), lengths)
        first = np.r_[0, np.cumsum(lengths)[:-1]]
        is_first = np.zeros(total, bool)
        is_first[first] = True
        act = np.empty(total, np.int64)
        start = rng.integers(0, k, n_cases)
        act[first] = start
        u = rng.random(total)
        for i in range(1, int(lengths.max())):
            idx = first[lengths > i] + i
            prev = act[idx - 1]
            act[idx] = (cum[prev] < u[idx, None]).sum(axis=1).clip(max=k - 1)
        # whole minutes between events, zero a fifth of the time (ties)
        gaps = rng.exponential(2 * 24 * 60, total).astype(np.int64)
        gaps[rng.random(total) < 0.2] = 0
        gaps[is_first] = rng.integers(0, 365 * 24 * 60, n_cases)
        minutes = np.cumsum(gaps)
        minutes -= np.repeat(minutes[first] - gaps[first], lengths)
        ts = t0 + minutes * 60_000_000
        order = np.argsort(ts, kind="stable")  # time order: cases interleave
        table = pa.table(
            {
                "case": pc.binary_join_element_wise(
                    "c", pc.cast(pa.array(case[order]), pa.string()), ""
                ),
                "activity": pa.DictionaryArray.from_arrays(
                    pa.array(act[order].astype(np.int32)), pa.array(ACTIVITIES)
                ).cast(pa.string()),
                "ts": pa.array(ts[order], pa.timestamp("us", tz="UTC")),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        take = min(table.num_rows, events - written)
        writer.write_table(table.slice(0, take), row_group_size=1_000_000)
        written += take
        case_no += n_cases
    if writer is not None:
        writer.close()
    return written


PM4PY = """
import contextlib, io, json, os, resource, time, warnings
warnings.simplefilter("ignore")
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
with contextlib.redirect_stdout(io.StringIO()):
    import pm4py
{prepare}
load = [os.getloadavg()[0]]
s, c = time.perf_counter(), time.process_time()
df = prepare({log!r})
prep_s, prep_c = time.perf_counter() - s, time.process_time() - c
times = {{}}
for again in ("", "_again"):
    load.append(os.getloadavg()[0])
    s, c = time.perf_counter(), time.process_time()
    dfg, starts, ends = pm4py.discover_dfg(df)
    perf, _, _ = pm4py.discover_performance_dfg(df)
    times["dfg_seconds" + again], times["dfg_cpu" + again] = (
        time.perf_counter() - s, time.process_time() - c)
    s, c = time.perf_counter(), time.process_time()
    variants = pm4py.get_variants(df)
    times["variants_seconds" + again], times["variants_cpu" + again] = (
        time.perf_counter() - s, time.process_time() - c)
load.append(os.getloadavg()[0])
rows = [{{"source": a, "target": b, "frequency": int(n),
          "mean_seconds": float(perf[(a, b)]["mean"]),
          "median_seconds": float(perf[(a, b)]["median"])}} for (a, b), n in dfg.items()]
pq.write_table(pa.Table.from_pylist(rows), {out!r} + "/pm4py_dfg.parquet")
pq.write_table(pa.table({{"variant": [" > ".join(v) for v in variants],
                          "cases": [int(c) for c in variants.values()]}}),
               {out!r} + "/pm4py_variants.parquet")
json.dump({{"starts": {{k: int(v) for k, v in starts.items()}},
           "ends": {{k: int(v) for k, v in ends.items()}}}},
          open({out!r} + "/pm4py_ends.json", "w"))
print(json.dumps({{**{{k: round(v, 3) for k, v in times.items()}},
                  "prepare_seconds": round(prep_s, 3), "prepare_cpu": round(prep_c, 3),
                  "load": load, "events": len(df),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

# The frame pm4py is given, and joinedup too in the like-for-like comparison: the log
# read from the file and sorted by case, time and file order, with pm4py's column names.
PREPARE = """
def prepare(log):
    t = pq.read_table(log)
    df = t.append_column("ord", pa.array(range(t.num_rows))).to_pandas()
    df = df.sort_values(["case", "ts", "ord"], kind="stable").reset_index(drop=True)
    return df.rename(columns={"case": "case:concept:name", "activity": "concept:name",
                              "ts": "time:timestamp"})[["case:concept:name", "concept:name",
                                                        "time:timestamp"]]
"""

# joinedup's public call on that same frame, graph and variants apart as pm4py's are,
# each twice: the first call in a fresh process also loads the compiled kernels (C, or
# Numba's with JOINEDUP_NATIVE=0).
FRAME = """
import json, os, resource, time
import pyarrow as pa, pyarrow.parquet as pq
from joinedup import journeys
{prepare}
cols = dict(case_col="case:concept:name", activity_col="concept:name",
            time_col="time:timestamp")
s, c = time.perf_counter(), time.process_time()
df = prepare({log!r})
prep_s, prep_c = time.perf_counter() - s, time.process_time() - c
load, times = [], {{}}
for again in ("", "_again"):
    load.append(os.getloadavg()[0])
    s, c = time.perf_counter(), time.process_time()
    graph = journeys.discover_log(df, variants=False, **cols)
    times["dfg_seconds" + again], times["dfg_cpu" + again] = (
        time.perf_counter() - s, time.process_time() - c)
    s, c = time.perf_counter(), time.process_time()
    variants = journeys.discover_log(df, graph=False, **cols)
    times["variants_seconds" + again], times["variants_cpu" + again] = (
        time.perf_counter() - s, time.process_time() - c)
load.append(os.getloadavg()[0])
pq.write_table(graph.dfg, {out!r} + "/frame_dfg.parquet")
pq.write_table(variants.variants.select(["variant", "cases"]), {out!r} + "/frame_variants.parquet")
json.dump({{"starts": {{r["activity"]: r["cases"] for r in graph.starts.to_pylist()}},
           "ends": {{r["activity"]: r["cases"] for r in graph.ends.to_pylist()}}}},
          open({out!r} + "/frame_ends.json", "w"))
from joinedup.journeys import _kernels
print(json.dumps({{**{{k: round(v, 3) for k, v in times.items()}},
                  "prepare_seconds": round(prep_s, 3), "prepare_cpu": round(prep_c, 3),
                  "kernels": _kernels.BACKEND,
                  "load": load, "events": graph.events, "cases": graph.cases,
                  "variants": variants.variants.num_rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

# joinedup's public call on the file, graph and variants at once, as `journeys dfg LOG
# --variants V` makes it: read, order, graph, variants.
FILE = """
import json, os, resource, time
import pyarrow.parquet as pq
from joinedup import journeys
load = [os.getloadavg()[0]]
s, c = time.perf_counter(), time.process_time()
m = journeys.discover_log({log!r}, case_col="case", activity_col="activity", time_col="ts")
took_s, took_c = time.perf_counter() - s, time.process_time() - c
load.append(os.getloadavg()[0])
pq.write_table(m.dfg, {out!r} + "/file_dfg.parquet")
pq.write_table(m.variants.select(["variant", "cases"]), {out!r} + "/file_variants.parquet")
json.dump({{"starts": {{r["activity"]: r["cases"] for r in m.starts.to_pylist()}},
           "ends": {{r["activity"]: r["cases"] for r in m.ends.to_pylist()}}}},
          open({out!r} + "/file_ends.json", "w"))
print(json.dumps({{"file_seconds": round(took_s, 3), "file_cpu": round(took_c, 3),
                  "load": load, "events": m.events,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

JOINEDUP = """
import json, os, resource, tempfile, time
# Whatever the engine prints goes to a file: the parent reads the pipe only at the end, so
# a long run that fills it would block (as a 100M-event run did). The result line goes
# to the saved stdout.
result_fd = os.dup(1)
log_fd = os.open({out!r} + "/joinedup-output.txt", os.O_WRONLY | os.O_CREAT)
os.dup2(log_fd, 1)
os.dup2(log_fd, 2)
import pyarrow.parquet as pq
from pathlib import Path
from joinedup.engine import connect
from joinedup.journeys import _dfg
from joinedup.journeys._log import stage_log
spill = {spill!r}
tmp = tempfile.TemporaryDirectory(dir=spill) if spill else None
db = Path(tmp.name) / "bench.duckdb" if tmp else None
load = [os.getloadavg()[0]]
with connect("duckdb", db) as engine:
    if {memory_limit!r}:
        # A cap well below the data, so the run shows it works out of core.
        engine.raw.execute("SET memory_limit = " + repr({memory_limit!r}))
    s, c = time.perf_counter(), time.process_time()
    staged = stage_log(engine, {log!r}, case_col="case", activity_col="activity", time_col="ts")
    stage_s, stage_c = time.perf_counter() - s, time.process_time() - c
    in_memory = staged.rows <= _dfg.IN_MEMORY_ROWS and not {in_engine!r}
    s, c = time.perf_counter(), time.process_time()
    if in_memory:
        ordered = _dfg.read_ordered(engine, staged.table)
        result = _dfg.map_of(ordered, with_variants=False)
    else:
        result = _dfg.discover(engine, staged.table, variants=False, keep=True, in_memory_rows=0)
    dfg_s, dfg_c = time.perf_counter() - s, time.process_time() - c
    # variants reuse the sorted events (in memory) or the ordered steps (in the engine)
    s, c = time.perf_counter(), time.process_time()
    variants = _dfg.variants_of(ordered) if in_memory else _dfg._variants(engine, result.cases)
    var_s, var_c = time.perf_counter() - s, time.process_time() - c
load.append(os.getloadavg()[0])
pq.write_table(result.dfg, {out!r} + "/joinedup_dfg.parquet")
pq.write_table(variants.select(["variant", "cases"]), {out!r} + "/joinedup_variants.parquet")
json.dump({{"starts": {{r["activity"]: r["cases"] for r in result.starts.to_pylist()}},
           "ends": {{r["activity"]: r["cases"] for r in result.ends.to_pylist()}}}},
          open({out!r} + "/joinedup_ends.json", "w"))
os.write(result_fd, (json.dumps({{
    "path": "in-memory" if in_memory else "in-engine",
    "stage_seconds": round(stage_s, 3), "stage_cpu": round(stage_c, 3),
    "dfg_seconds": round(dfg_s, 3), "variants_seconds": round(var_s, 3),
    "dfg_cpu": round(dfg_c, 3), "variants_cpu": round(var_c, 3), "load": load,
    "events": staged.rows, "cases": result.cases,
    "edges": result.dfg.num_rows, "variants": variants.num_rows,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}) + "\\n").encode())
"""


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Children started in this block get these environment variables."""
    held = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in held.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


def _total(reported: dict[str, object], read: str) -> float:
    """CPU seconds from the file to graph and variants: the read, then both steps."""
    return sum(float(str(reported[f"{step}_cpu"])) for step in (read, "dfg", "variants"))


def _report(
    staged: dict[str, Any],
    pm: dict[str, Any],
    frame: dict[str, Any],
    numba: dict[str, Any],
    cold: dict[str, Any],
    file: dict[str, Any],
    pm_mb: float,
    frame_mb: float,
    file_mb: float,
) -> None:
    """Print the comparison: CPU seconds (wall in brackets), and the ratios."""

    def both(d: dict[str, Any], step: str, again: str = "") -> str:
        return f"{d[f'{step}_cpu{again}']:.3f} ({d[f'{step}_seconds{again}']:.3f})"

    def ratio(step: str, again: str) -> str:
        cpu, wall = f"{step}_cpu{again}", f"{step}_seconds{again}"
        return f"{pm[cpu] / frame[cpu]:.1f}x CPU, {pm[wall] / frame[wall]:.1f}x wall"

    pad = " " * 22

    def first(d: dict[str, Any]) -> str:
        return (
            f"DFG+durations {both(d, 'dfg')} s, variants {both(d, 'variants')} s: "
            f"{pm['dfg_cpu'] / d['dfg_cpu']:.1f}x and "
            f"{pm['variants_cpu'] / d['variants_cpu']:.1f}x CPU"
        )

    print(
        f"{pad}Numba fallback (JOINEDUP_NATIVE=0), first calls: cold cache (the loops "
        f"compiled) {first(cold)}; warm cache {first(numba)}",
        flush=True,
    )
    for again, label in (("", "first calls"), ("_again", "second calls")):
        print(
            f"{pad}same frame ({frame['kernels']} kernels), {label}: DFG+durations pm4py "
            f"{both(pm, 'dfg', again)} s, "
            f"joinedup {both(frame, 'dfg', again)} s: {ratio('dfg', again)}; variants pm4py "
            f"{both(pm, 'variants', again)} s, joinedup {both(frame, 'variants', again)} s: "
            f"{ratio('variants', again)}",
            flush=True,
        )
    pm_file = sum(pm[f"{k}_cpu"] for k in ("prepare", "dfg", "variants"))
    pm_wall = sum(pm[f"{k}_seconds"] for k in ("prepare", "dfg", "variants"))
    print(
        f"{pad}from the file (pm4py read+sort {both(pm, 'prepare')} s, then both): pm4py "
        f"{pm_file:.3f} ({pm_wall:.3f}) s, joinedup discover_log {both(file, 'file')} s: "
        f"{pm_file / file['file_cpu']:.1f}x CPU, {pm_wall / file['file_seconds']:.1f}x wall; "
        f"staged in the engine: {_total(staged, 'stage'):.3f} CPU s, "
        f"{pm_file / _total(staged, 'stage'):.1f}x CPU",
        flush=True,
    )
    print(
        f"{pad}peak MB pm4py {pm_mb:,.0f}, joinedup frame {frame_mb:,.0f}, file {file_mb:,.0f}; "
        f"load {pm['load'][0]:.1f}-{pm['load'][-1]:.1f} / {frame['load'][0]:.1f}-"
        f"{frame['load'][-1]:.1f} / {file['load'][0]:.1f}-{file['load'][-1]:.1f}; identical "
        "results (staged, frame and file against pm4py)",
        flush=True,
    )


def _same(out: Path, ours_: str = "joinedup") -> None:
    """Assert joinedup's results (files ``<ours_>_*``) equal pm4py's."""
    ours = {
        (r["source"], r["target"]): r
        for r in pq.read_table(out / f"{ours_}_dfg.parquet").to_pylist()
    }
    theirs = {
        (r["source"], r["target"]): r for r in pq.read_table(out / "pm4py_dfg.parquet").to_pylist()
    }
    assert ours.keys() == theirs.keys(), "different directly-follows pairs"
    for key, r in ours.items():
        p = theirs[key]
        assert r["frequency"] == p["frequency"], key
        for col in ("mean_seconds", "median_seconds"):
            assert abs(r[col] - p[col]) <= 1e-9 * max(1.0, abs(p[col])), (key, col)
    ov = pq.read_table(out / f"{ours_}_variants.parquet").to_pylist()
    pv = pq.read_table(out / "pm4py_variants.parquet").to_pylist()
    assert {r["variant"]: r["cases"] for r in ov} == {r["variant"]: r["cases"] for r in pv}
    oe = json.loads((out / f"{ours_}_ends.json").read_text())
    pe = json.loads((out / "pm4py_ends.json").read_text())
    assert oe == pe, "different start or end activities"


EPISODES = """
import json, time
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
from joinedup import ingest, journeys
from joinedup.journeys._score import score_placement
from joinedup.synth import SynthConfig, generate
from joinedup.workspace import Workspace
root = Path({out!r})
synth = generate(root / "synth", SynthConfig(people={size}, seed={seed}))
names = {{"benefits": ["DWP"], "tax": ["HMRC"], "council": ["council"], "health": ["GP surgery"]}}
report = {{"people": {size}, "seed": {seed}}}
with Workspace(root / "ws") as ws:
    for contract in synth.contracts:
        ingest.load(contract, ws)
    rec = pq.read_table(root / "synth" / "truth" / "records.parquet").select(
        ["org", "local_person_ref", "person_id"])
    rec = rec.append_column("match_probability", pa.array([1.0] * rec.num_rows))
    ws.engine.write("links", rec, mode="replace")
    truth = pq.read_table(root / "synth" / "truth" / "events.parquet")
    for label, settings in (("with_note_names", journeys.EpisodeSettings(org_names=names)),
                            ("without_note_names", journeys.EpisodeSettings())):
        s = time.perf_counter()
        built = journeys.episodes(ws, settings)
        took = time.perf_counter() - s
        c = score_placement(ws.engine, truth)
        e = score_placement(ws.engine, truth, contacts_only=False)
        report[label] = {{"build_seconds": round(took, 2), "events": built.linked_events,
                         "episodes": built.episodes, "true_needs": c.needs,
                         "contacts": c.contacts, "contact_accuracy": round(c.accuracy, 4),
                         "pair_precision": round(c.pair_precision, 4),
                         "pair_recall": round(c.pair_recall, 4),
                         "event_accuracy": round(e.accuracy, 4)}}
print(json.dumps(report))
"""


def episodes_main(args: list[str]) -> None:
    """Episode placement against the synthetic truth, for populations of the given sizes."""
    sizes = [int(a) for a in args if not a.startswith("--")] or [600, 3000]
    measures: list[Measure] = []
    for size in sorted(sizes):
        for seed in (7, 11):
            with tempfile.TemporaryDirectory(prefix="joinedup-bench-", dir="/tmp") as tmp:
                m = run_child("episodes", size, EPISODES.format(out=tmp, size=size, seed=seed))
            measures.append(m)
            for label in ("with_note_names", "without_note_names"):
                r = m.reported[label]
                print(
                    f"{size:>7,} people seed {seed:>2} {label:<19} contacts "
                    f"{r['contacts']:>7,}  right {r['contact_accuracy']:.1%}  pairs P "
                    f"{r['pair_precision']:.3f} R {r['pair_recall']:.3f}  events right "
                    f"{r['event_accuracy']:.1%}  build {r['build_seconds']:.1f} s",
                    flush=True,
                )
    print(f"results: {save('journeys_episodes', measures)}")


def main(args: list[str]) -> None:
    if "--help" in args or "-h" in args:
        print(__doc__)
        return
    if "--episodes" in args:
        episodes_main(args)
        return
    only = "--only-joinedup" in args
    in_engine = "--in-engine" in args
    limit = ""
    if "--memory-limit" in args:
        i = args.index("--memory-limit")
        limit = args[i + 1]
        args = args[:i] + args[i + 2 :]
    sizes = [int(a) for a in args if not a.startswith("--")] or [1_000_000, 10_000_000]
    measures: list[Measure] = []
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="joinedup-bench-", dir="/tmp") as tmp:
            out = Path(tmp)
            log = out / "log.parquet"
            t = time.perf_counter()
            n = generate(log, size)
            made = time.perf_counter() - t
            spill = str(out) if size > 20_000_000 else None
            code = JOINEDUP.format(
                log=str(log), out=tmp, spill=spill, memory_limit=limit, in_engine=in_engine
            )
            try:
                j = run_child("joinedup", n, code)
            except RuntimeError as exc:
                said = out / "joinedup-output.txt"
                tail = said.read_text(errors="replace")[-3000:] if said.exists() else ""
                raise RuntimeError(f"{exc}\n{tail}") from None
            j.reported.update(
                generate_seconds=round(made, 1), memory_limit=limit or None, spilled=bool(spill)
            )
            measures.append(j)
            r = j.reported
            line = (
                f"{n:>12,} events  joinedup ({r['path']}): stage {r['stage_seconds']:.1f} s, "
                f"DFG+durations {r['dfg_seconds']:.2f} s ({r['dfg_cpu']:.2f} CPU), variants "
                f"{r['variants_seconds']:.2f} s ({r['variants_cpu']:.2f} CPU), peak "
                f"{j.peak_mb:,.0f} MB ({r['cases']:,} cases, {r['variants']:,} variants; "
                f"load {r['load'][0]:.1f}-{r['load'][1]:.1f})"
            )
            print(line, flush=True)
            if only:
                continue
            p = run_child("pm4py", n, PM4PY.format(log=str(log), out=tmp, prepare=PREPARE))
            frame = FRAME.format(log=str(log), out=tmp, prepare=PREPARE)
            with (
                tempfile.TemporaryDirectory(prefix="joinedup-numba-", dir=tmp) as cache,
                _environment(NUMBA_CACHE_DIR=cache, JOINEDUP_NATIVE="0"),
            ):
                cold = run_child("joinedup-frame-numba-cold-cache", n, frame)
                _same(out, "frame")
                numba = run_child("joinedup-frame-numba", n, frame)
                _same(out, "frame")
            f = run_child("joinedup-frame", n, frame)
            w = run_child("joinedup-file", n, FILE.format(log=str(log), out=tmp))
            measures += [p, cold, numba, f, w]
            for ours in ("joinedup", "frame", "file"):
                _same(out, ours)
            _report(
                r,
                p.reported,
                f.reported,
                numba.reported,
                cold.reported,
                w.reported,
                p.peak_mb,
                f.peak_mb,
                w.peak_mb,
            )
    print(f"results: {save('journeys_outofcore' if only else 'journeys', measures)}")


if __name__ == "__main__":
    main(sys.argv[1:])
