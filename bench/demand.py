"""Benchmark: notes per second of the shipped text model on 1M notes, with peak memory.

The notes are drawn from the synthetic note generator (so their lengths and vocabulary
are those of contact notes) and written once to a Parquet file; each measured step then
runs in a fresh process (``bench/_common.run_child``) that reads them and classifies
them in batches, so its peak memory belongs to that step alone.

Steps, in increasing size so each child's peak memory is its own:

- ``text-model``: ``TextModel.predict`` on 10k, 100k and 1M notes (one process);
- ``text-model-2proc``: the same 1M split over two worker processes, one per core;
- ``classify-file``: ``joinedup demand classify INPUT.csv`` end to end on 100k notes
  (CSV read, classify, CSV write);
- ``embedding-model``: the embedding model (the ``embeddings`` extra) on 5,000 notes, when
  the Python running the benchmark has the extra; the encoder is loaded and warmed up
  before the clock starts (its load time is reported apart).

Run: ``.venv/bin/python bench/demand.py [--sizes 10000,100000,1000000]
[--embedding-sizes 5000]``

``--workspace DIR`` instead times the pipeline's demand stage on a workspace the pipeline
built (``bench/pipeline.py --keep``, or the demo): ``demand.classify`` with the shipped
n-gram model and default settings, as ``joinedup demo`` calls it (``--workers 2``: the
notes read in two processes), in a child process
whose peak memory (worker processes included) is measured. It replaces the workspace's
``demand`` table: pass a copy. ``--save-table FILE.parquet`` writes the table after, in
event order, to compare one run's labels with another's row for row.

``--accuracy --people 5000`` instead measures quality, written to
``bench/results/demand-accuracy.json``: a synthetic population is generated and
ingested, ``links`` is filled from its truth (so the figures are demand's alone, not
linkage's), episodes are built, the workspace is classified with the default model
(timed) and scored against the truth (``demand evaluate --truth`` and ``value
attribution``); the hand-written test set is scored too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _common import Measure, run_child, save
from joinedup.demand import _embed

_PREDICT = """
import json, time
import pyarrow.parquet as pq
from joinedup.demand import load_model
notes = pq.read_table({path!r}).column("note").slice(0, {n}).to_pylist()
load = time.perf_counter()
model = load_model(embeddings={embeddings})
load = time.perf_counter() - load
if {embeddings}:
    model.predict(["warm up the encoder"])
start, cpu = time.perf_counter(), time.process_time()
review = 0
for i in range(0, len(notes), 50_000):
    pred = model.predict(notes[i:i + 50_000])
    review += pred.category.count("needs_review")
took, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({{"notes": len(notes), "load_seconds": round(load, 2),
                  "classify_seconds": round(took, 2),
                  "cpu_seconds": round(cpu, 2), "notes_per_second": round(len(notes) / took),
                  "notes_per_cpu_second": round(len(notes) / cpu), "needs_review": review}}))
"""

_PREDICT_2 = """
import json, time
from concurrent.futures import ProcessPoolExecutor
import pyarrow.parquet as pq

def work(args):
    path, lo, hi = args
    from joinedup.demand import load_model
    notes = pq.read_table(path).column("note").slice(lo, hi - lo).to_pylist()
    model = load_model(embeddings=False)
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(notes), 50_000):
        model.predict(notes[i:i + 50_000])
    return len(notes), time.perf_counter() - t, time.process_time() - cpu

if __name__ == "__main__":
    n = {n}
    half = n // 2
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(work, [({path!r}, 0, half), ({path!r}, half, n)]))
    took = time.perf_counter() - start
    print(json.dumps({{"notes": sum(p[0] for p in parts), "wall_seconds": round(took, 2),
                      "notes_per_second": round(n / took),
                      "worker_classify_seconds": [round(p[1], 2) for p in parts],
                      "worker_cpu_seconds": [round(p[2], 2) for p in parts]}}))
"""

_FILE = """
import json, time
from joinedup.demand import classify_file, load_model
start, cpu = time.perf_counter(), time.process_time()
counts = classify_file({src!r}, {out!r}, text_col="note", model=load_model(embeddings=False))
took, cpu = time.perf_counter() - start, time.process_time() - cpu
n = sum(counts.values())
print(json.dumps({{"notes": n, "seconds": round(took, 2), "cpu_seconds": round(cpu, 2),
                  "notes_per_second": round(n / took)}}))
"""


def make_notes(path: Path, n: int) -> float:
    """Write ``n`` generated notes to Parquet; returns the mean note length."""
    from joinedup.demand._corpus import CATEGORIES, generated

    per = -(-n // len(CATEGORIES))
    notes = [e.text for e in generated(per, seed=99)][:n]
    # Interleave categories, as a real export would be.
    notes = notes[::2] + notes[1::2]
    pq.write_table(pa.table({"note": notes}), path)
    return sum(map(len, notes)) / len(notes)


_ACCURACY = """
import json, shutil, time
import pyarrow as pa, pyarrow.parquet as pq
from joinedup import ingest, journeys, value
from joinedup.demand import classify, evaluate_labels, evaluate_truth, load_model
from joinedup.model import LINKS
from joinedup.synth import SynthConfig, generate
from joinedup.workspace import Workspace
root = {root!r}
pop = generate(root + "/pop", SynthConfig(people={people}, seed={seed}))
# How the synthetic notes name each organisation (as the journeys tests use).
names = {{"benefits": ["DWP"], "tax": ["HMRC"], "council": ["council"], "health": ["GP surgery"]}}
with Workspace(root + "/ws") as ws:
    for c in pop.contracts:
        ingest.load(c, ws)
    rec = pq.read_table(root + "/pop/truth/records.parquet",
                        columns=["org", "local_person_ref", "person_id"])
    rec = rec.append_column("match_probability", pa.array([1.0] * rec.num_rows))
    ws.engine.write("links", rec.cast(LINKS), mode="replace")
    # The pipeline's order: episodes first, so the rules know which contacts are one need.
    journeys.episodes(ws, journeys.EpisodeSettings(org_names=names))
    model = load_model(embeddings=False)
    start = time.perf_counter()
    summary = classify(ws, model=model)
    took = time.perf_counter() - start
    ev = evaluate_truth(ws, root + "/pop")
    att = value.attribution(ws, root + "/pop/truth/events.parquet")
hand = evaluate_labels({hand!r}, model=model)
print(json.dumps({{
    "people": {people}, "seed": {seed}, "contacts": summary.contacts,
    "classify_seconds": round(took, 2),
    "summary": summary.as_dict(),
    "truth": {{k: v for k, v in ev.as_dict().items() if k != "confusion"}},
    "value_attribution": {{"accuracy": round(att.accuracy, 4),
                           "precision": round(att.precision, 4),
                           "failures": att.failures, "agreement": round(att.agreement, 4)}},
    "hand_written": {{k: v for k, v in hand.as_dict().items() if k != "confusion"}},
}}))
"""


_WORKSPACE = """
import json, os, time
from joinedup import demand
from joinedup.workspace import Workspace
with Workspace({ws!r}) as ws:
    n = ws.engine.count(ws.engine.sql("SELECT 1 FROM events WHERE direction = 'in'"))
    start, cpu = time.perf_counter(), time.process_time()
    summary = demand.classify(ws, model=demand.load_model(embeddings=False),
                              settings=demand.load_settings(None), workers={workers})
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    children = os.times()
    if {table!r}:
        ws.engine.raw.execute(
            "COPY (SELECT * FROM demand ORDER BY event_id) TO '" + {table!r} + "'")
print(json.dumps({{"contacts": n, "classify_seconds": round(took, 2),
                  "cpu_seconds": round(cpu, 2),
                  "worker_cpu_seconds": round(children.children_user
                                              + children.children_system, 2),
                  "contacts_per_second": round(n / took),
                  "summary": summary.as_dict()}}))
"""


def workspace(path: Path, table: Path | None, workers: int) -> None:
    ws = path.resolve()
    if not (ws / "joinedup.duckdb").is_file():
        sys.exit(f"{ws} holds no joinedup.duckdb: give a workspace the pipeline built")
    code = _WORKSPACE.format(
        ws=str(ws), table=str(table.resolve()) if table else "", workers=workers
    )
    load = os.getloadavg()
    m = run_child(f"workspace-classify-{workers}proc", 0, code)
    m.reported["load_average_before"] = [round(x, 1) for x in load]
    m.reported["load_average_1min_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(m.__dict__, indent=1), flush=True)
    print(f"wrote {save('demand-workspace', [m])}")


def accuracy(people: int, seed: int) -> None:
    hand = Path(__file__).parents[1] / "tests" / "data" / "demand" / "handwritten.csv"
    with tempfile.TemporaryDirectory() as tmp:
        code = _ACCURACY.format(root=tmp, people=people, seed=seed, hand=str(hand))
        m = run_child("classify-and-score", people, code)
    print(json.dumps(m.__dict__, indent=1), flush=True)
    print(f"wrote {save('demand-accuracy', [m])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument(
        "--embedding-sizes",
        default="5000",
        help="notes for the embedding model (run with a Python that has the extra)",
    )
    ap.add_argument("--file-size", type=int, default=100_000)
    ap.add_argument("--accuracy", action="store_true", help="measure quality, not speed")
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workspace", type=Path, help="time demand.classify on this workspace")
    ap.add_argument("--save-table", type=Path, help="with --workspace: the demand table after")
    ap.add_argument("--workers", type=int, default=1, help="with --workspace: note readers")
    args = ap.parse_args()
    if args.workspace:
        workspace(args.workspace, args.save_table, args.workers)
        return
    if args.accuracy:
        accuracy(args.people, args.seed)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    emb_sizes = [int(s) for s in args.embedding_sizes.split(",") if s]
    measures: list[Measure] = []
    with tempfile.TemporaryDirectory() as tmp:
        notes = Path(tmp) / "notes.parquet"
        t = time.perf_counter()
        mean_len = make_notes(notes, max(sizes + emb_sizes))
        print(
            f"generated {max(sizes + emb_sizes):,} notes (mean {mean_len:.0f} chars) in "
            f"{time.perf_counter() - t:.0f} s",
            flush=True,
        )
        csv_in = Path(tmp) / "notes.csv"
        pq_table = pq.read_table(notes).slice(0, args.file_size)
        import pyarrow.csv as pacsv

        pacsv.write_csv(pq_table, csv_in)
        steps = [
            ("text-model", n, _PREDICT.format(path=str(notes), n=n, embeddings=False))
            for n in sizes
        ]
        if _embed.available():
            steps += [
                ("embedding-model", n, _PREDICT.format(path=str(notes), n=n, embeddings=True))
                for n in emb_sizes
            ]
        else:
            print(
                "embedding model skipped: the embeddings extra is not installed in "
                f"{sys.executable}",
                flush=True,
            )
        steps.append(
            (
                "classify-file",
                args.file_size,
                _FILE.format(src=str(csv_in), out=str(Path(tmp) / "out.csv")),
            )
        )
        steps.append(
            ("text-model-2proc", max(sizes), _PREDICT_2.format(path=str(notes), n=max(sizes)))
        )
        load = os.getloadavg()
        print(f"load average before: {load}", flush=True)
        for name, n, code in sorted(steps, key=lambda s: s[1]):
            m = run_child(name, n, code)
            m.reported["load_average_1min_after"] = round(os.getloadavg()[0], 1)
            measures.append(m)
            print(json.dumps(m.__dict__), flush=True)
    out = save("demand", measures)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
