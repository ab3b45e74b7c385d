"""Benchmark: ingest of a large CSV export with validation, against DuckDB's own read.

For each size, one CSV file shaped like the benefits department's export (ten columns,
day-first dates, channel codes, free-text notes; one row in a thousand with an unknown
channel code and one in 997 with an impossible date) is written with DuckDB's COPY. Then,
each in a fresh process, on the same file:

- ``duckdb``: DuckDB's own ``CREATE TABLE … AS SELECT * FROM read_csv(file)`` (type
  sniffing, no validation) into a new database file, with DuckDB's default settings: the
  file's ten columns stored, compressed, as the ingest stores the events table;
- ``duckdb_unordered``: the same with ``preserve_insertion_order = false``, the setting
  the ingest uses for its own big write: how fast DuckDB reads the file at best;
- ``ingest``: ``joinedup.ingest.load`` with the export's data contract — hash the file,
  read it, type and check every field, quarantine bad rows with their reasons, write
  ``events``, measure quality — into a new workspace, as one transaction.

Each child reports its own wall time (excluding interpreter start-up), the CPU time of
all its threads over the same span, and its own peak resident memory (``ru_maxrss``).
The ratio the issue sets a target for is ingest time over ``duckdb`` time;
``ratio_unordered`` is over ``duckdb_unordered`` time; ``ratio_cpu`` is ingest CPU time
over ``duckdb`` CPU time, which other work on a shared machine disturbs far less than
wall time (it still counts time lost to contended caches).

``--memory-limit`` sets DuckDB's ``memory_limit`` in every child: for the ingest through
the engine's own setting (``JOINEDUP_DUCKDB_MEMORY_LIMIT``), as a user would. Beyond it
DuckDB spills to disk. The load average at the start of each step is recorded, since
other work on the machine slows a run.

    .venv/bin/python bench/ingest.py                 # 1M and 10M rows
    .venv/bin/python bench/ingest.py --sizes 1000000 # one size
    .venv/bin/python bench/ingest.py --sizes 10000000 --memory-limit 1500MB
    .venv/bin/python bench/ingest.py --data /tmp/ingest-data   # keep the CSV files there

With ``--data DIR`` each CSV file is written to DIR once and used again by later runs
(its name carries the row count and a fingerprint of the code that writes it, so a
change to that code writes a new one); without it the files go in a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import Measure, run_child, save

CONTRACT = """\
org: benefits
source: bench-contacts
format: csv
timezone: Europe/London
frequency: adhoc
events:
  file: contacts.csv
  fields:
    event_id: {column: Contact ID}
    local_person_ref: {column: Claimant ID}
    case_ref: {column: Claim Ref}
    occurred_at: {column: Contact Date, type: timestamp, format: '%d/%m/%Y %H:%M'}
    channel:
      column: Channel
      codes: {TEL: phone, WEB: web, LTR: letter, F2F: face_to_face, CHAT: webchat, EML: email}
    direction: {column: Direction, codes: {Inbound: in, Outbound: out}}
    activity: {column: Contact Type}
    service: {column: Benefit}
    note: {column: Adviser Notes}
    outcome: {column: Outcome}
"""

GENERATE = """
import duckdb, sys
rows, path = int(sys.argv[1]), sys.argv[2]
con = duckdb.connect()
con.execute(f'''
COPY (
  SELECT
    'CT' || lpad(CAST(i AS VARCHAR), 10, '0') AS "Contact ID",
    'CLM' || lpad(CAST(hash(i) % 5000000 AS VARCHAR), 7, '0') AS "Claimant ID",
    'BEN/' || lpad(CAST(hash(i * 7) % 20000000 AS VARCHAR), 8, '0') AS "Claim Ref",
    CASE WHEN i % 997 = 0 THEN '31/02/2025 10:00'
         ELSE strftime(TIMESTAMP '2024-01-01' + INTERVAL (i % 31536000) SECOND,
                       '%d/%m/%Y %H:%M') END AS "Contact Date",
    CASE WHEN i % 1000 = 0 THEN 'FAX'
         ELSE ['TEL', 'WEB', 'LTR', 'F2F', 'CHAT', 'EML'][1 + i % 6] END AS "Channel",
    CASE WHEN i % 3 = 0 THEN 'Outbound' ELSE 'Inbound' END AS "Direction",
    ['New claim', 'Payment query', 'Change of circumstances', 'Complaint'][1 + i % 4]
      AS "Contact Type",
    ['Universal Credit', 'PIP', 'Pension Credit'][1 + i % 3] AS "Benefit",
    'Caller asked about '
      || ['their payment', 'a letter', 'a decision', 'an appointment'][1 + i % 4]
      || ', reference ' || CAST(i % 100000 AS VARCHAR) AS "Adviser Notes",
    ['resolved', 'pending', 'referred'][1 + i % 3] AS "Outcome"
  FROM range({rows}) t(i)
) TO '{path}' (HEADER, DELIMITER ',')
''')
"""

RAW = """
import duckdb, json, resource, sys, time
path, db, limit, ordered = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "ordered"
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
if limit:
    con.execute(f"SET memory_limit = '{limit}'")
if not ordered:
    con.execute("SET preserve_insertion_order = false")
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
start, used = time.perf_counter(), cpu()
con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{path}')")
n = con.execute("SELECT count(*) FROM raw").fetchone()[0]
seconds, used = time.perf_counter() - start, cpu() - used
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": n, "seconds": seconds, "cpu_seconds": used, "peak_mb": peak}))
"""

INGEST = """
import json, os, resource, sys, time
contract, folder, limit = sys.argv[1], sys.argv[2], sys.argv[3]
if limit:
    os.environ["JOINEDUP_DUCKDB_MEMORY_LIMIT"] = limit
from joinedup import ingest
from joinedup.workspace import Workspace
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
with Workspace(folder) as ws:
    start, used = time.perf_counter(), cpu()
    res = ingest.load(contract, ws)
    seconds, used = time.perf_counter() - start, cpu() - used
    assert res.rows_in == res.loaded + res.quarantined
    assert ws.count("events") == res.loaded
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": res.rows_in, "loaded": res.loaded, "quarantined": res.quarantined,
                  "seconds": seconds, "cpu_seconds": used, "peak_mb": peak}))
"""


def _child(name: str, size: int, code: str, *args: str) -> Measure:
    """Run a step in a fresh interpreter, with its arguments after ``-c``."""
    argv = ", ".join(repr(a) for a in args)
    return run_child(name, size, f"import sys; sys.argv[1:] = [{argv}]\n{code}")


def _csv_path(folder: Path, size: int) -> Path:
    """Where ``--data`` keeps the CSV file of ``size`` rows written by ``GENERATE``."""
    folder.mkdir(parents=True, exist_ok=True)
    made_by = hashlib.sha256(GENERATE.encode()).hexdigest()[:12]
    return folder / f"contacts-{size}-{made_by}.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    parser.add_argument("--memory-limit", default="", help="DuckDB memory_limit, e.g. 1500MB.")
    parser.add_argument(
        "--data", type=Path, help="Keep the CSV files in this folder and use them again."
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="joinedup-bench-ingest-"))
    measures: list[Measure] = []
    try:
        for size in sorted(args.sizes):
            folder = work / str(size)
            folder.mkdir()
            csv_path = _csv_path(args.data, size) if args.data else folder / "contacts.csv"
            made = "reused"
            if not csv_path.exists():
                start = time.perf_counter()
                _child("generate", size, GENERATE, str(size), str(csv_path) + ".part")
                Path(str(csv_path) + ".part").rename(csv_path)
                made = f"made in {time.perf_counter() - start:.0f} s"
            mb = csv_path.stat().st_size / 1e6
            (folder / "contract.yaml").write_text(
                CONTRACT.replace("file: contacts.csv", f"file: {csv_path}"), encoding="utf-8"
            )
            load = {}
            raws = []
            for name, order in (("duckdb", "ordered"), ("duckdb_unordered", "unordered")):
                load[name] = os.getloadavg()[0]
                db = folder / f"{name}.duckdb"
                raws.append(
                    _child(name, size, RAW, str(csv_path), str(db), args.memory_limit, order)
                )
                db.unlink()
            raw, fast = raws
            load["ingest"] = os.getloadavg()[0]
            ing = _child(
                "ingest",
                size,
                INGEST,
                str(folder / "contract.yaml"),
                str(folder / "ws"),
                args.memory_limit,
            )
            r, f, i = raw.reported, fast.reported, ing.reported
            ratio = float(i["seconds"]) / float(r["seconds"])  # type: ignore[arg-type]
            ratio_fast = float(i["seconds"]) / float(f["seconds"])  # type: ignore[arg-type]
            ratio_cpu = float(i["cpu_seconds"]) / float(r["cpu_seconds"])  # type: ignore[arg-type]
            print(
                f"{size:>11,} rows ({mb:,.0f} MB, {made}): "
                f"duckdb read_csv {r['seconds']:.1f} s ({size / float(r['seconds']):,.0f} rows/s, "  # type: ignore[arg-type]
                f"peak {r['peak_mb']:,.0f} MB); unordered {f['seconds']:.1f} s; "
                f"ingest {i['seconds']:.1f} s "
                f"({size / float(i['seconds']):,.0f} rows/s, peak {i['peak_mb']:,.0f} MB, "  # type: ignore[arg-type]
                f"{i['quarantined']:,} quarantined); ratio {ratio:.2f} "
                f"({ratio_fast:.2f} against the unordered read); CPU {i['cpu_seconds']:.1f} s "
                f"against {r['cpu_seconds']:.1f} s, ratio {ratio_cpu:.2f}",
                flush=True,
            )
            for m in (raw, fast, ing):
                measures.append(
                    Measure(
                        m.name,
                        size,
                        float(m.reported["seconds"]),  # type: ignore[arg-type]
                        float(m.reported["peak_mb"]),  # type: ignore[arg-type]
                        {
                            **m.reported,
                            "csv_mb": round(mb, 1),
                            "ratio": round(ratio, 3),
                            "ratio_unordered": round(ratio_fast, 3),
                            "ratio_cpu": round(ratio_cpu, 3),
                            "memory_limit": args.memory_limit or None,
                            "load_average": round(load[m.name], 2),
                        },
                    )
                )
            if not args.keep:
                shutil.rmtree(folder)
        out = save("ingest", measures)
        print(f"results in {out}")
        print(json.dumps({"cpus": os.cpu_count()}))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
