"""Benchmark: plain Splink, joinedup plaintext and joinedup privacy mode on the same data.

    python bench/linkage.py                  # 10k and 100k people
    python bench/linkage.py 10000 100000 1000000
    python bench/linkage.py 100000           # adds to the results; other sizes are kept
    python bench/linkage.py 1000000 --steps make_people,pseudonymise,blocking_pairs

For each population size one set of four organisations' people files is made with the
synthetic population's identity generator and its realistic disagreements (nicknames,
typos, maiden names, swapped or missing dates of birth, old postcodes, missing
identifiers); each person is held by each organisation with the share the full
synthetic population shows (benefits 72%, tax 56%, council 64%, health 50%). Journeys
are skipped: linkage needs people only, and this reaches 100k people in a minute.

Then, each in its own process (wall time and peak memory are its own):

- ``splink_plain``: Splink's own comparison library on the plain files (lower-cased),
  blocking on the same combinations of values joinedup's keys are made of and training
  EM on three of them, as Splink's documentation advises for large data;
- ``joinedup_plain``: ``link.link(..., plaintext=True)`` on the plain files;
- ``pseudonymise``: the four organisations encoding their files (keyed);
- ``joinedup_privacy``: ``link.link`` on the encoded files;
- ``blocking_pairs``: for each of the model's blocking rules, the pairs of records of
  different organisations it lets through, counted from key frequencies: the work
  Splink's scoring has to do at this size, and how it grows;
- ``dice_kernel``: Dice comparisons per second of the compiled kernel
  (``link/_dice.py``) over all pairs of 20,000 x 20,000 surname filters, on one thread
  and on two, against the machine's popcount limit measured on the same words (the AND
  and popcount of every pair and nothing else); beside it the kernel on 20 million
  candidate pairs given as index arrays, on a 2,000 x 2,000 block written out as a
  matrix, and the same Dice in SQL on DuckDB (Splink's comparison-level form).

Precision, recall and F1 are pairwise, against the truth. Results go to
bench/results/linkage.json; the linkage section of docs/benchmarks.md reports them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import RESULTS, Measure, run_child, save

THREADS = 2
STEPS = [
    "make_people",
    "splink_plain",
    "joinedup_plain",
    "pseudonymise",
    "joinedup_privacy",
    "blocking_pairs",
    "dice_kernel",
]
#: Filters a side in the all-pairs kernel measure: 20,000 x 20,000 = 400 million pairs.
KERNEL_SIDE = 20_000

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
    import resource
    # CPU seconds of this step and of the processes it waited for (pseudonymising's
    # helpers): on a shared machine, the time the work itself took.
    cpu = sum(getattr(resource.getrusage(w), f) for w in
              (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))
    d = {{**d, "cpu_seconds": round(cpu, 1), "load_1min": round(os.getloadavg()[0], 1)}}
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
    # The same combinations of values joinedup's blocking keys are made of (in plain
    # text), so both score the same kind of pairs: single values (a date of birth, a
    # postcode) make blocks of thousands at a million people.
    blocking_rules_to_generate_predictions=[
        block_on("date_of_birth", "substr(surname, 1, 1)"),
        block_on("date_of_birth", "substr(forename, 1, 1)"),
        block_on("surname", "year(date_of_birth)", "substr(forename, 1, 1)"),
        block_on("forename", "surname"),
        block_on("substr(forename, 1, 2)", "surname", "split_part(postcode, ' ', 1)"),
        block_on("postcode", "year(date_of_birth)"),
        block_on("postcode", "substr(forename, 1, 1)"),
        block_on("postcode", "substr(surname, 1, 1)"),
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
    for rule in (
        block_on("date_of_birth", "substr(surname, 1, 1)"),
        block_on("substr(forename, 1, 2)", "surname", "split_part(postcode, ' ', 1)"),
        block_on("postcode", "year(date_of_birth)"),
    ):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
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

BLOCKING = """
import duckdb
from joinedup.link import _inputs
from joinedup.link._model import Field, blocking_rules
out = {out!r}
orgs = ["benefits", "tax", "council", "health"]
parties = _inputs.load([f"{{out}}/{{o}}.enc.parquet" for o in orgs], plaintext=False)
tables = _inputs.harmonise(parties)
fields = [Field(n, k) for n, k in _inputs.shared_fields(parties).items()]
rules = blocking_rules(fields, set(tables[0].column_names))
con = duckdb.connect()
con.execute("SET threads = {threads}")
for p, t in zip(parties, tables):
    con.register(f"t_{{p.org}}", t.append_column("org_", [[p.org] * t.num_rows]))
con.execute("CREATE TABLE e AS " + " UNION ALL ".join(f"SELECT * FROM t_{{o}}" for o in orgs))
# Pairs of records of different organisations that each rule's key lets through, counted
# from key frequencies (no pairs are made): what Splink has to score at this size, at
# most (a rule's further conditions, such as the whole name agreeing, are not applied).
pairs = {{}}
for rule in rules:
    left, right = (side.strip()[2:] for side in rule.split(" AND ")[0].split("="))
    pairs[rule] = con.execute(f'''
        WITH l AS (SELECT {{left}} AS k, org_, count(*) AS n FROM e WHERE {{left}} IS NOT NULL
                   GROUP BY ALL),
             r AS (SELECT {{right}} AS k, org_, count(*) AS n FROM e WHERE {{right}} IS NOT NULL
                   GROUP BY ALL)
        SELECT coalesce(sum(l.n * r.n), 0) FROM l JOIN r ON l.k = r.k AND l.org_ < r.org_
    ''').fetchone()[0]
report({{"records": sum(t.num_rows for t in tables), "pairs_by_rule": pairs,
    "pairs_all_rules_with_repeats": sum(pairs.values())}})
"""

KERNEL = """
import json, time, os
import duckdb, numba, numpy as np, psutil
import pyarrow as pa, pyarrow.parquet as pq
from joinedup.link._dice import Filters, and_popcount, count_at_least, dice_block, dice_pairs
from joinedup.link._model import _dice
out = {out!r}
# Surname filters of two organisations, repeated to {side:,} a side: the kernel's speed
# depends on the number of pairs, not on which names they are.
def side(org):
    t = pq.read_table(f"{{out}}/{{org}}.enc.parquet")
    t = t.filter(t["surname__pop"].is_valid())
    f = Filters.from_table(t, "surname")
    reps = -(-{side} // len(f))
    return Filters(np.tile(f.words, (reps, 1))[: {side}], np.tile(f.pops, reps)[: {side}])
a, b = side("benefits"), side("tax")
pairs = len(a) * len(b)

def best(fn, n, runs=3):
    fn()  # the first call compiles (or loads the cached machine code)
    top = 0.0
    for _ in range(runs):
        t = time.perf_counter(); fn(); top = max(top, n / (time.perf_counter() - t))
    return round(top)

rates = {{}}
for threads in (1, {threads}):
    numba.set_num_threads(threads)
    rates[threads] = dict(
        count=best(lambda: count_at_least(a, b, 0.8), pairs),
        limit=best(lambda: and_popcount(a, b), pairs),
    )
# Candidate pairs given as index arrays (as blocking yields them): 20 million pairs
# drawn at random, so every pair gathers its two filters from anywhere in the sides.
rng = np.random.default_rng(1)
i = rng.integers(0, len(a), 20_000_000); j = rng.integers(0, len(b), 20_000_000)
pairs_rate = best(lambda: dice_pairs(a, b, i, j), len(i))
# A block of 2,000 x 2,000 written out as a matrix of float64.
sa, sb = Filters(a.words[:2000], a.pops[:2000]), Filters(b.words[:2000], b.pops[:2000])
block_rate = best(lambda: dice_block(sa, sb), 4_000_000)

# The same Dice as the SQL of Splink's comparison levels, on DuckDB: all pairs of 2,000
# x 2,000 (a cross join; its rate per pair does not depend on the square's size).
def table(f, n):
    cols = {{f"surname__bf{{w}}": pa.array(f.words[:n, w].view(np.int64)) for w in range(8)}}
    cols["surname__pop"] = pa.array(f.pops[:n])
    return pa.table(cols)
con = duckdb.connect()
con.execute("SET threads = {threads}")
con.register("a", table(a, 2000))
con.register("b", table(b, 2000))
cols = [f"surname__bf{{w}}" for w in range(8)] + ["surname__pop"]
sel = ", ".join([f"a.{{c}} AS {{c}}_l" for c in cols] + [f"b.{{c}} AS {{c}}_r" for c in cols])
dice = _dice("surname", 8)
sql = f"SELECT count(*) FILTER (WHERE {{dice}} >= 0.8) FROM (SELECT {{sel}} FROM a, b)"
duck_rate = best(lambda: con.execute(sql).fetchone(), 4_000_000, runs=2)
assert con.execute(sql).fetchone()[0] == count_at_least(sa, sb, 0.8)

freq = psutil.cpu_freq()
mhz = (freq.max or freq.current) if freq else 0.0
cores = os.cpu_count() or 1
report({{"pairs_all_pairs": pairs, "threads": {threads},
    "kernel_comparisons_per_second": rates[{threads}]["count"],
    "kernel_comparisons_per_second_one_thread": rates[1]["count"],
    "popcount_limit_comparisons_per_second": rates[{threads}]["limit"],
    "popcount_limit_comparisons_per_second_one_thread": rates[1]["limit"],
    "kernel_share_of_popcount_limit": round(
        rates[{threads}]["count"] / rates[{threads}]["limit"], 3),
    "kernel_candidate_pairs_per_second": pairs_rate,
    "kernel_block_matrix_per_second": block_rate,
    "duckdb_sql_comparisons_per_second": duck_rate,
    "cpu_mhz": mhz, "cores": cores,
    # A nominal bound: one 64-bit POPCNT per cycle per core, 8 words a pair. Some cores
    # issue several a cycle, and vector popcounts beat it: the measured limit is the one
    # to read.
    "nominal_one_popcnt_per_cycle_comparisons_per_second": round(cores * mhz * 1e6 / 8)}})
"""


def _earlier(plan: list[tuple[str, int]]) -> list[Measure]:
    """Measures kept from the last results that this run does not repeat, so that a run
    at one size (100,000 alone, say) adds to the file rather than replacing it."""
    path = RESULTS / "linkage.json"
    if not path.exists():
        return []
    doc = json.loads(path.read_text(encoding="utf-8"))
    sizes = {size for _, size in plan}
    kernel = any(name == "dice_kernel" for name, _ in plan)
    return [
        Measure(**m)
        for m in doc["measures"]
        # The kernel is measured once, at the smallest size run: a new one replaces the old.
        if m["size"] not in sizes and not (kernel and m["name"] == "dice_kernel")
    ]


def _plan(sizes: list[int], steps: list[str]) -> list[tuple[str, int]]:
    """The (step, size) pairs a run over ``sizes`` measures, in order."""
    out = []
    for size in sorted(sizes):
        out += [(n, size) for n in steps if n != "dice_kernel" or size == min(sizes)]
    return out


def main(sizes: list[int], steps: list[str] = STEPS) -> None:
    plan = _plan(sizes, steps)
    measures: list[Measure] = _earlier(plan)
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="joinedup-bench-link-") as tmp:
            code = {
                "make_people": MAKE.format(size=size, out=tmp),
                "splink_plain": SPLINK.format(out=tmp, threads=THREADS),
                "joinedup_plain": JOINEDUP.format(out=tmp, keyed=False, threads=THREADS),
                "pseudonymise": ENCODE.format(out=tmp),
                "joinedup_privacy": JOINEDUP.format(out=tmp, keyed=True, threads=THREADS),
                "blocking_pairs": BLOCKING.format(out=tmp, threads=THREADS),
                "dice_kernel": KERNEL.format(out=tmp, threads=THREADS, side=KERNEL_SIDE),
            }
            for name, at in plan:
                if at != size:
                    continue
                log = str(Path(tmp) / f"{name}.log")
                m = run_child(name, size, PRELUDE.format(log=log) + code[name])
                measures.append(m)
                print(
                    f"{size:>9,} {name:<17} {m.seconds:8.1f} s  peak {m.peak_mb:7,.0f} MB  "
                    f"{json.dumps(m.reported)}",
                    flush=True,
                )
                save("linkage", sorted(measures, key=lambda m: (m.size, STEPS.index(m.name))))
    print(f"results: {RESULTS / 'linkage.json'}")


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = STEPS
    if "--steps" in args:
        # e.g. --steps make_people,pseudonymise,blocking_pairs: the pairs blocking yields
        # at a size where the linkage runs themselves would not fit the machine.
        i = args.index("--steps")
        chosen = args[i + 1].split(",")
        unknown = set(chosen) - set(STEPS)
        if unknown:
            sys.exit(f"unknown steps {sorted(unknown)}; steps are {', '.join(STEPS)}")
        chosen = [n for n in STEPS if n in chosen]
        del args[i : i + 2]
    main([int(a) for a in args] or [10_000, 100_000], chosen)
