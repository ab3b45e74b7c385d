"""Benchmark: plain Splink, joinedup plaintext and joinedup privacy mode on the same data.

    python bench/linkage.py                  # 10k and 100k people
    python bench/linkage.py 10000 100000 1000000

For each population size one set of four organisations' people files is made with the
synthetic population's identity generator and its realistic disagreements (nicknames,
typos, maiden names, swapped or missing dates of birth, old postcodes, missing
identifiers); each person is held by each organisation with the share the full
synthetic population shows (benefits 72%, tax 56%, council 64%, health 50%). Journeys
are skipped: linkage needs people only, and this reaches 100k people in a minute.

Then, each in its own process (wall time and peak memory are its own):

- ``splink_plain``: Splink's own comparison library on the plain files (lower-cased),
  blocking and training as Splink's documentation does it;
- ``joinedup_plain``: ``link.link(..., plaintext=True)`` on the plain files;
- ``pseudonymise``: the four organisations encoding their files (keyed);
- ``joinedup_privacy``: ``link.link`` on the encoded files;
- ``dice_kernel``: Dice comparisons per second of the SQL kernel on DuckDB (all pairs of
  5,000 × 5,000 surname filters), beside NumPy's popcount throughput and the machine's
  scalar popcount limit (one 64-bit popcount per cycle per core).

Precision, recall and F1 are pairwise, against the truth. Results go to
bench/results/linkage.json; docs/benchmarks/linkage.md reports them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import Measure, run_child, save

THREADS = 2

# Every child writes its chatter (Splink's and DuckDB's) to a log file, not to the pipe
# the parent reads only when the child ends: a full pipe would block the child forever.
PRELUDE = """
import os, sys, json, traceback
_out = os.fdopen(os.dup(1), "w")
_err = os.fdopen(os.dup(2), "w")
_log = os.open({log!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.dup2(_log, 1)
os.dup2(_log, 2)
def report(d):
    d = {{**d, "load_1min": round(os.getloadavg()[0], 1)}}
    _out.write(json.dumps(d) + "\\n")
    _out.flush()
def _hook(kind, exc, tb):
    _err.write("".join(traceback.format_exception(kind, exc, tb))[-4000:])
    _err.flush()
sys.excepthook = _hook
"""

MAKE = """
import json, random, time
from datetime import date
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
from joinedup.synth import SynthConfig
from joinedup.synth._identity import make_identity
from joinedup.synth._records import org_record
cfg = SynthConfig()
share = {{"benefits": 0.72, "tax": 0.56, "council": 0.64, "health": 0.50}}
holds = {{"benefits": "nino", "tax": "nino", "council": "none", "health": "nhs"}}
rng = random.Random(11)
rows = {{o: [] for o in share}}
truth = []
for i in range({size}):
    who = make_identity(rng, f"P{{i:08d}}", cfg.start)
    for org in share:
        if rng.random() < share[org]:
            ref = f"{{org[:3].upper()}}{{len(rows[org]) * 7919 % 10**9:09d}}"
            r = org_record(rng, org, ref, who, cfg.identity_errors[org], holds[org])
            council = org == "council"
            rows[org].append(dict(
                org=org, local_person_ref=ref, forename=r.forename,
                surname=r.surname.upper() if council else r.surname,
                date_of_birth=r.date_of_birth, sex=None if council else r.sex,
                postcode=r.postcode, address=r.address, nino=r.nino, nhs_number=r.nhs_number,
            ))
            truth.append((org, ref, who.person_id))
out = Path({out!r})
from joinedup.model import PEOPLE
schema = pa.schema([f for f in PEOPLE if f.name != "source"])
for org, rs in rows.items():
    pq.write_table(pa.Table.from_pylist(rs, schema=schema), out / f"{{org}}.parquet")
pq.write_table(pa.table(dict(zip(["org", "local_person_ref", "person_id"], zip(*truth)))),
               out / "truth.parquet")
report({{o: len(r) for o, r in rows.items()}})
"""

SPLINK = """
import json, time, logging, duckdb
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from joinedup import link
out = {out!r}
orgs = ["benefits", "tax", "council", "health"]
start = time.perf_counter()
con = duckdb.connect()
con.execute("SET threads = {threads}")
db = DuckDBAPI(con)
tables = []
for org in orgs:
    t = pq.read_table(f"{{out}}/{{org}}.parquet").drop_columns(["org"])
    # Splink's advice: clean before linking; lower-case and trim the text fields.
    for c in ("forename", "surname", "postcode", "address"):
        i = t.column_names.index(c)
        t = t.set_column(i, c, pc.utf8_trim_whitespace(pc.utf8_lower(t.column(c))))
    tables.append(db.register(t, dataset_display_name=org))
settings = SettingsCreator(
    link_type="link_only",
    unique_id_column_name="local_person_ref",
    comparisons=[
        cl.NameComparison("forename"),
        cl.NameComparison("surname"),
        cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
        cl.ExactMatch("sex"),
        cl.PostcodeComparison("postcode"),
        cl.JaroWinklerAtThresholds("address"),
        cl.ExactMatch("nino"),
        cl.ExactMatch("nhs_number"),
    ],
    blocking_rules_to_generate_predictions=[
        block_on("date_of_birth"),
        block_on("surname", "year(date_of_birth)"),
        block_on("substr(forename, 1, 2)", "surname"),
        block_on("postcode"),
        block_on("address"),
        block_on("nino"),
        block_on("nhs_number"),
    ],
)
linker = Linker(tables, settings, log_level=logging.ERROR)
linker.training.estimate_probability_two_random_records_match(
    [block_on("nino"), block_on("nhs_number"), block_on("date_of_birth", "forename", "surname")],
    recall=0.7,
)
linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=42, num_chunks=1)
error = None
try:
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("substr(forename, 1, 2)", "surname")
    )
    pred = linker.inference.predict(threshold_match_probability=0.01)
    clusters = linker.clustering.cluster_using_single_best_links(
        pred, duplicate_free_datasets=orgs, threshold_match_probability=0.5
    )
    links = con.execute(
        f"SELECT source_dataset AS org, local_person_ref, cluster_id AS person_id "
        f"FROM {{clusters.physical_name}}"
    ).arrow()
    links = links.read_all() if hasattr(links, "read_all") else links
    pairs = con.execute(f"SELECT count(*) FROM {{pred.physical_name}}").fetchone()[0]
except ValueError as exc:
    error = str(exc).splitlines()[0]
seconds = time.perf_counter() - start
if error:
    report({{"error": error, "link_seconds": round(seconds, 2)}})
else:
    e = link.evaluate(f"{{out}}/truth.parquet", links)
    report({{"link_seconds": round(seconds, 2), "pairs_scored": pairs,
        "precision": e.precision, "recall": e.recall, "f1": e.f1}})
"""

JOINEDUP = """
import json, time
from joinedup import link, privacy
out = {out!r}
orgs = ["benefits", "tax", "council", "health"]
secret = b"benchmark-secret-0123456789abcdef"
start = time.perf_counter()
if {keyed}:
    files = [f"{{out}}/{{o}}.enc.parquet" for o in orgs]
else:
    files = [f"{{out}}/{{o}}.parquet" for o in orgs]
res = link.link(files, plaintext=not {keyed}, config=link.LinkSettings(threads={threads}))
seconds = time.perf_counter() - start
e = link.evaluate(f"{{out}}/truth.parquet", res.links)
report({{"link_seconds": round(seconds, 2), "pairs_scored": res.pairs_scored,
    "threshold": res.threshold, "estimated_precision": res.estimated_precision,
    "estimated_recall": res.estimated_recall, "timings": res.timings,
    "precision": e.precision, "recall": e.recall, "f1": e.f1}})
"""

ENCODE = """
import json, time
from joinedup import privacy
out = {out!r}
secret = b"benchmark-secret-0123456789abcdef"
start = time.perf_counter()
n = 0
for o in ["benefits", "tax", "council", "health"]:
    r = privacy.pseudonymise(f"{{out}}/{{o}}.parquet", org=o, secret=secret,
                             out=f"{{out}}/{{o}}.enc.parquet")
    n += r.table.num_rows
took = time.perf_counter() - start
report({{"records": n, "records_per_second": round(n / took)}})
"""

KERNEL = """
import json, time, os
import duckdb, numpy as np, psutil
import pyarrow.parquet as pq
out = {out!r}
a = pq.read_table(f"{{out}}/benefits.enc.parquet").slice(0, 5000)
b = pq.read_table(f"{{out}}/tax.enc.parquet").slice(0, 5000)
cols = [f"surname__bf{{w}}" for w in range(8)] + ["surname__pop"]
a = a.select(cols).filter(a["surname__pop"].is_valid())
b = b.select(cols).filter(b["surname__pop"].is_valid())
con = duckdb.connect()
con.execute("SET threads = {threads}")
con.register("a", a)
con.register("b", b)
terms = " + ".join(
    f"CAST(bit_count(a.surname__bf{{w}} & b.surname__bf{{w}}) AS INTEGER)" for w in range(8)
)
dice = f"2.0 * ({{terms}}) / (a.surname__pop + b.surname__pop)"
sql = f"SELECT count(*) FILTER (WHERE {{dice}} >= 0.8) FROM a, b"
con.execute(sql).fetchone()
best = 0.0
for _ in range(3):
    t = time.perf_counter(); con.execute(sql).fetchone(); s = time.perf_counter() - t
    best = max(best, a.num_rows * b.num_rows / s)
# NumPy: AND and popcount of all pairs' words, row block by row block (one core).
wa = np.stack([a[c].to_numpy() for c in cols[:8]], axis=1).view(np.uint64)
wb = np.stack([b[c].to_numpy() for c in cols[:8]], axis=1).view(np.uint64)
t = time.perf_counter(); n = 0
for i in range(0, 1000):
    np.bitwise_count(wa[i] & wb).sum(axis=1); n += wb.shape[0]
np_rate = n / (time.perf_counter() - t)
big = np.random.default_rng(1).integers(0, 2**63, size=20_000_000, dtype=np.int64).view(np.uint64)
t = time.perf_counter()
np.bitwise_count(big).sum()
pop_words = big.size / (time.perf_counter() - t)
freq = psutil.cpu_freq()
mhz = (freq.max or freq.current) if freq else 0.0
cores = os.cpu_count() or 1
limit = cores * mhz * 1e6 / 8  # one 64-bit popcount per cycle per core, 8 words a pair
report({{"duckdb_comparisons_per_second": round(best),
    "numpy_comparisons_per_second_one_core": round(np_rate),
    "numpy_popcount_words_per_second_one_core": round(pop_words),
    "cpu_mhz": mhz, "cores": cores, "scalar_popcount_limit_comparisons_per_second": round(limit),
    "pairs": a.num_rows * b.num_rows}})
"""


def main(sizes: list[int]) -> None:
    measures: list[Measure] = []
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="joinedup-bench-link-") as tmp:
            steps = [
                ("make_people", MAKE.format(size=size, out=tmp)),
                ("splink_plain", SPLINK.format(out=tmp, threads=THREADS)),
                ("joinedup_plain", JOINEDUP.format(out=tmp, keyed=False, threads=THREADS)),
                ("pseudonymise", ENCODE.format(out=tmp)),
                ("joinedup_privacy", JOINEDUP.format(out=tmp, keyed=True, threads=THREADS)),
                ("dice_kernel", KERNEL.format(out=tmp, threads=THREADS)),
            ]
            for name, code in steps:
                if name == "dice_kernel" and size != min(sizes):
                    continue
                log = str(Path(tmp) / f"{name}.log")
                m = run_child(name, size, PRELUDE.format(log=log) + code)
                measures.append(m)
                print(
                    f"{size:>9,} {name:<17} {m.seconds:8.1f} s  peak {m.peak_mb:7,.0f} MB  "
                    f"{json.dumps(m.reported)}",
                    flush=True,
                )
            save("linkage", measures)
    print(f"results: {save('linkage', measures)}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
