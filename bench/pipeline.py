"""Benchmark: the whole pipeline, end to end, on DuckDB and on local Spark.

For each size (people; about nine contacts each) and each engine, one fresh process runs
what ``joinedup demo`` runs — synth, ingest of the four exports, pseudonymise, link,
journeys, demand, value, report — in a new workspace, timing every stage (wall clock, and
the CPU seconds of the process and of every process it started, finished or still
running, such as Spark's JVM, which other work on the machine disturbs far less). A
thread in that process samples the resident memory of the process and everything it starts
(Spark's JVM included) every 50 ms, so each stage has its own peak; the parent samples
the whole run the same way. A stage that fails ends that run; the failure and its
message are recorded rather than hidden, so the table shows how far each engine gets.

Growth from one size to the next is the ratio of times over the ratio n log n predicts:
1.0 means cost grows as n log n, below 1 more slowly, above 1 faster. It is given for
the whole run and for each stage.

    .venv/bin/python bench/pipeline.py                                # 10k, 100k, 1M; both
    .venv/bin/python bench/pipeline.py --sizes 10000 --engines spark  # one run
    .venv/bin/python bench/pipeline.py --sizes 1000000 --engines duckdb --keep /tmp/ws1m

Results go to bench/results/pipeline.json (``--out`` for another name): a run replaces
the measures of the engines and sizes it ran and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import RESULTS, Measure, run_child, save

STAGES = ("synth", "ingest", "pseudonymise", "link", "journeys", "demand", "value", "report")

CHILD = """
import json, os, secrets, threading, time
from pathlib import Path
import psutil

root, people, engine = Path({root!r}), {people}, {engine!r}
seconds, cpu_seconds, peak_mb, failed = {{}}, {{}}, {{}}, None

me = psutil.Process()

def cpu():
    # this process, its finished (waited-for) children (worker pools included) and the
    # ones still running (Spark's JVM and its Python workers): a child that finishes
    # between two readings moves from the running sum into the finished one.
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    try:
        live = me.children(recursive=True)
    except psutil.NoSuchProcess:
        live = []
    for p in live:
        try:
            c = p.cpu_times()
            # with the processes it has itself waited for (Spark's Python workers)
            total += c.user + c.system + c.children_user + c.children_system
        except psutil.NoSuchProcess:
            pass
    return total
high = [0]

def sample():
    while True:
        total = 0
        try:
            procs = [me, *me.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = [me]
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        high[0] = max(high[0], total)
        time.sleep(0.05)

threading.Thread(target=sample, daemon=True).start()

def timed(stage, fn):
    global failed
    if failed:
        return None
    high[0] = 0
    start, start_cpu = time.perf_counter(), cpu()
    try:
        out = fn()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        failed = {{"stage": stage, "error": f"{{type(exc).__name__}}: {{first}}",
                   "after_seconds": round(time.perf_counter() - start, 1)}}
        return None
    seconds[stage] = round(time.perf_counter() - start, 2)
    cpu_seconds[stage] = round(cpu() - start_cpu, 2)
    peak_mb[stage] = round(high[0] / 2**20)
    return out

if engine == "spark":
    from joinedup.engine._spark import shared_session
    # Local Spark: driver and executors share one JVM, so it gets the memory.
    timed("spark start", lambda: shared_session(conf={{"spark.driver.memory": {memory!r}}}))

from joinedup import demand, ingest, journeys, link, privacy, report, synth, value
from joinedup.synth import SynthConfig
from joinedup.workspace import Workspace

made = timed("synth", lambda: synth.generate(root / "synth", SynthConfig(people=people, seed=1)))
counts = {{}}
if made is not None:
    counts.update(people=made.people, contacts=made.contacts, events=sum(made.events.values()))
with Workspace(root / "ws", engine=engine) as ws:
    loads = timed("ingest", lambda: [ingest.load(c, ws) for c in made.contracts])
    secret = secrets.token_bytes(32)
    orgs = sorted({{r.org for r in loads}}) if loads else []
    # As the demo does: each organisation's encodings written to a file, linked from disk.
    hub = root / "encodings"
    hub.mkdir(exist_ok=True)
    encoded = timed(
        "pseudonymise",
        lambda: [
            privacy.pseudonymise(ws, org=o, secret=secret, out=hub / f"{{o}}.parquet").path
            for o in orgs
        ],
    )
    linked = timed("link", lambda: link.link(encoded, workspace=ws))
    timed("journeys", lambda: journeys.episodes(ws))
    timed("demand", lambda: demand.classify(ws, workers=2))  # this child is spawn-safe
    timed("value", lambda: value.ledger(ws))
    timed("report", lambda: report.build(ws, root / "ws" / "report.html"))
    for table in ("events", "people", "links", "episodes", "demand"):
        if ws.engine.has_table(table):
            counts["rows_" + table] = ws.count(table)
    if linked is not None:
        counts["link_pairs_scored"] = linked.pairs_scored
print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak_mb,
                  "failed": failed,
                  "counts": counts, "load_1min_end": round(os.getloadavg()[0], 1)}}))
"""


def run(people: int, engine: str, memory: str, keep: Path | None = None) -> Measure:
    """One pipeline run in a fresh process; ``keep``: build there and leave it (the
    workspace is ``keep/ws``, e.g. for ``bench/web.py --workspace``)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=False)
    root = keep or Path(tempfile.mkdtemp(prefix=f"joinedup-pipeline-{engine}-"))
    try:
        code = CHILD.format(root=str(root), people=people, engine=engine, memory=memory)
        load = round(os.getloadavg()[0], 1)
        m = run_child(f"pipeline-{engine}", people, code)
        m.reported["load_1min_start"] = load
        return m
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _nlogn(small: int, big: int) -> float:
    return (big * math.log(big)) / (small * math.log(small))


def growth(small: Measure, big: Measure) -> dict[str, float]:
    """Measured time ratio over the n log n ratio (1.0: exactly n log n), for the whole
    run (``total``, when both runs finished) and for each stage both runs finished."""
    predicted = _nlogn(small.size, big.size)
    out: dict[str, float] = {}
    if not small.reported.get("failed") and not big.reported.get("failed"):
        out["total"] = round((big.seconds / small.seconds) / predicted, 2)
    small_rep: dict[str, Any] = small.reported
    big_rep: dict[str, Any] = big.reported
    s_sec, b_sec = small_rep.get("seconds", {}), big_rep.get("seconds", {})
    for stage in STAGES:
        if s_sec.get(stage) and stage in b_sec:
            out[stage] = round((b_sec[stage] / s_sec[stage]) / predicted, 2)
    return out


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--spark-memory", default="6g", help="local Spark's driver memory")
    parser.add_argument("--out", default="pipeline", help="results file name in bench/results")
    parser.add_argument(
        "--keep",
        type=Path,
        help="a new folder to build in and leave behind (one engine and size only)",
    )
    args = parser.parse_args()
    if args.keep and len(args.sizes) * len(args.engines) > 1:
        parser.error("--keep takes one size and one engine")
    commit = _commit()
    measures: list[Measure] = []
    for engine in args.engines:
        done: list[Measure] = []
        for size in sorted(args.sizes):
            m = run(size, engine, args.spark_memory, args.keep)
            m.reported["commit"] = commit
            m.reported["when"] = datetime.now(UTC).isoformat(timespec="minutes")
            measures.append(m)
            done.append(m)
            rep: dict[str, Any] = m.reported
            secs, peaks = rep.get("seconds", {}), rep.get("peak_mb", {})
            cpus = rep.get("cpu_seconds", {})
            stages = ", ".join(
                f"{k} {v:.1f}s ({cpus.get(k, 0):.0f} CPU s)/{peaks.get(k, 0)}MB"
                for k, v in secs.items()
            )
            fail = rep.get("failed")
            print(
                f"{engine:6} {size:>9,} people: {m.seconds:7.1f}s, peak {m.peak_mb:7.0f} MB"
                f" | {stages}" + (f" | FAILED at {fail['stage']}: {fail['error']}" if fail else ""),
                flush=True,
            )
            if len(done) > 1:
                g = growth(done[-2], done[-1])
                m.reported["growth_vs_nlogn"] = g
                print(f"       growth {done[-2].size:,} -> {size:,} (x n log n): {g}", flush=True)
            if fail:
                break  # a larger size would fail the same way
    path = save(args.out, _merged(args.out, measures))
    print(json.dumps({"saved": str(path)}))


def _merged(name: str, measures: list[Measure]) -> list[Measure]:
    """The new measures, and the earlier ones in the results file for other engines and
    sizes (each carries the time and commit it was measured at)."""
    path = RESULTS / f"{name}.json"
    new = {(m.name, m.size) for m in measures}
    kept: list[Measure] = []
    if path.exists():
        for old in json.loads(path.read_text(encoding="utf-8")).get("measures", []):
            if (old["name"], old["size"]) not in new:
                kept.append(Measure(**old))
    return sorted([*kept, *measures], key=lambda m: (m.name, m.size))


if __name__ == "__main__":
    main()
