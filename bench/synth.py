"""Benchmark: synthetic population, people per second and peak memory by size.

    python bench/synth.py                 # 10k, 100k and 1M people
    python bench/synth.py 10000 100000    # chosen sizes

Each size runs in its own process (so its peak memory is its own) and writes into a
temporary folder that is removed afterwards. Results go to bench/results/synth.json.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import Measure, run_child, save

CHILD = """
import json, os, resource, time
from pathlib import Path
from joinedup.synth import SynthConfig, generate
cfg = SynthConfig(people={size}, seed=1)
load = os.getloadavg()[0]
start = time.perf_counter()
result = generate(Path({out!r}), cfg)
took = time.perf_counter() - start
# CPU of this process and of the worker processes it waited for: unlike wall time, it
# hardly moves when other work shares the machine.
cpu = sum(
    r.ru_utime + r.ru_stime
    for r in (resource.getrusage(resource.RUSAGE_SELF),
              resource.getrusage(resource.RUSAGE_CHILDREN))
)
print(json.dumps({{"people": result.people, "contacts": result.contacts,
                  "failure_share": round(result.failure_share, 4),
                  "generate_seconds": round(took, 2),
                  "cpu_seconds": round(cpu, 1),
                  "load_1min_start": round(load, 1),
                  "load_1min": round(os.getloadavg()[0], 1)}}))
"""


def main(sizes: list[int]) -> None:
    measures: list[Measure] = []
    for size in sorted(sizes):
        with tempfile.TemporaryDirectory(prefix="joinedup-bench-") as tmp:
            m = run_child("synth", size, CHILD.format(size=size, out=str(Path(tmp) / "s")))
        measures.append(m)
        rate = size / m.seconds
        cpu = float(str(m.reported.get("cpu_seconds", 0)))
        print(
            f"{size:>10,} people  {m.seconds:8.1f} s  {rate:9,.0f} people/s  "
            f"CPU {cpu:7.1f} s ({cpu / size * 1e6:4.0f} us a person)  "
            f"peak {m.peak_mb:7,.0f} MB  contacts {m.reported.get('contacts', 0):,}  "
            f"failure share {m.reported.get('failure_share')}  "
            f"load {m.reported.get('load_1min_start')} -> {m.reported.get('load_1min')}",
            flush=True,
        )
    print(f"results: {save('synth', measures)}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000])
