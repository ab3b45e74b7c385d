"""Benchmark the value stage: the ledger and cost-shunting matrix on millions of
classified contacts, and the exact Shapley split for 12 organisations.

Contacts, their classification and need episodes are generated directly in DuckDB (not
by the synthetic population, which would take far longer than the thing measured), then
``value.ledger`` runs in a fresh process per size so its peak memory is its own.

    .venv/bin/python bench/value.py            # 1M and 10M contacts
    .venv/bin/python bench/value.py --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import duckdb

from _common import Measure, run_child, save
from joinedup.workspace import DB_FILE, Workspace

ORGS = ["benefits", "tax", "council", "health", "housing", "police", "education", "transport"]
CHANNELS = ["phone", "web", "letter", "face_to_face", "webchat", "email"]
CATEGORIES_VALUE = ["service", "info", "change", "help"]
CATEGORIES_FAILURE = ["chase", "error", "clarify", "repeat", "misrouted", "duplicate", "complaint"]
CONTACTS_PER_EPISODE = 4


def _list(items: list[str]) -> str:
    return "[" + ", ".join(f"'{x}'" for x in items) + "]"


def make_workspace(path: Path, contacts: int) -> None:
    """A workspace holding ``contacts`` classified contacts and their need episodes."""
    Workspace(path).close()  # the standard tables
    con = duckdb.connect(str(path / DB_FILE))
    n_org, n_ch = len(ORGS), len(CHANNELS)
    nv, nf = len(CATEGORIES_VALUE), len(CATEGORIES_FAILURE)
    fail_cat, value_cat = _list(CATEGORIES_FAILURE), _list(CATEGORIES_VALUE)
    con.execute(
        f"""
        CREATE TEMP TABLE g AS
        SELECT i,
               {_list(ORGS)}[1 + (hash(i * 10 + 1) % {n_org})::INT] AS org,
               {_list(CHANNELS)}[1 + (hash(i * 10 + 2) % {n_ch})::INT] AS channel,
               (hash(i * 10 + 3) % 100) < 40 AS failure,
               (hash(i * 10 + 4) % 100) < 65 AS own_fault,
               {_list(ORGS)}[1 + (hash(i * 10 + 5) % {n_org})::INT] AS other_org,
               TIMESTAMPTZ '2025-01-01 00:00:00+00'
                   + to_seconds((hash(i * 10 + 6) % (540 * 86400))::BIGINT) AS occurred_at
        FROM range({contacts}) t(i)
        """
    )
    con.execute(
        """
        INSERT INTO events (event_id, org, service, channel, occurred_at, direction)
        SELECT 'e' || i, org, org || ' service ' || (i % 3)::VARCHAR, channel, occurred_at, 'in'
        FROM g
        """
    )
    con.execute(
        f"""
        INSERT INTO demand
        SELECT 'e' || i,
               CASE WHEN failure THEN 'failure' ELSE 'value' END,
               CASE WHEN failure THEN {fail_cat}[1 + (hash(i * 10 + 7) % {nf})::INT]
                    ELSE {value_cat}[1 + (hash(i * 10 + 7) % {nv})::INT] END,
               0.5 + (hash(i * 10 + 8) % 500) / 1000.0,
               'bench',
               CASE WHEN failure THEN CASE WHEN own_fault THEN org ELSE other_org END END,
               org
        FROM g
        """
    )
    k = CONTACTS_PER_EPISODE
    con.execute(
        f"""
        INSERT INTO episode_events (event_id, episode_id, person_id, position)
        SELECT 'e' || i, 'n' || (i // {k}), 'p' || (i // {k}), (i % {k})::INT FROM g
        """
    )
    con.execute(
        f"""
        INSERT INTO episodes (episode_id, person_id, started_at, ended_at, end_reason)
        SELECT 'n' || (i // {k}), 'p' || (i // {k}), min(occurred_at), max(occurred_at),
               CASE WHEN hash((i // {k}) * 10 + 9) % 10 < 9 THEN 'met' ELSE 'quiet' END
        FROM g GROUP BY i // {k}
        """
    )
    con.close()


LEDGER_CHILD = """
import json, os, time
# Anything a library prints goes nowhere; only the result line reaches the parent.
out = os.dup(1)
quiet = os.open(os.devnull, os.O_WRONLY)
os.dup2(quiet, 1)
os.dup2(quiet, 2)
from joinedup.workspace import Workspace
from joinedup import value
with Workspace({path!r}, create=False) as ws:
    start = time.perf_counter()
    res = value.ledger(ws)
    seconds = time.perf_counter() - start
    os.write(out, (json.dumps({{
        "load_average_1min": round(os.getloadavg()[0], 1),
        "ledger_seconds": round(seconds, 2),
        "ledger_rows": res.table.num_rows,
        "matrix_cells": res.matrix.num_rows,
        "contacts": int(sum(res.table.column("contacts").to_pylist())),
        "cost_gbp": round(res.total_cost_gbp, 2),
        "failure_cost_gbp": round(res.failure_cost_gbp, 2),
        "unit_costs": res.unit_costs,
    }}) + "\\n").encode())
"""

SHAPLEY_CHILD = """
import json, time
import numpy as np
from joinedup.value import shapley
from joinedup.value._gainshare import fix_game
rng = np.random.default_rng(12)
orgs = [f"org{i:02d}" for i in range(12)]
savings = dict(zip(orgs, rng.uniform(1e4, 1e6, 12).tolist()))
game = fix_game(savings, orgs[0], 2.5e6)
times = []
for _ in range(5):
    start = time.perf_counter()
    phi = shapley(orgs, game)
    times.append(time.perf_counter() - start)
total = sum(phi.values())
print(json.dumps({
    "orgs": 12, "coalitions": 4096, "best_seconds": round(min(times), 4),
    "worst_seconds": round(max(times), 4),
    "efficiency_gap": abs(total - game(frozenset(orgs))),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    measures: list[Measure] = []
    measures.append(run_child("shapley_exact_12_orgs", 12, SHAPLEY_CHILD))
    print(json.dumps(measures[-1].reported), flush=True)
    for size in sorted(args.sizes):
        folder = Path(tempfile.mkdtemp(prefix="joinedup-bench-value-"))
        try:
            make_workspace(folder / "ws", size)
            m = run_child("ledger_and_matrix", size, LEDGER_CHILD.format(path=str(folder / "ws")))
            measures.append(m)
            print(size, f"{m.seconds:.1f}s", f"{m.peak_mb:.0f} MB", json.dumps(m.reported))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(save("value", measures))


if __name__ == "__main__":
    main()
