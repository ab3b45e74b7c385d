"""Shared helpers for the benchmarks: run a measured step in a child process.

Each measured step runs in a fresh Python process so that nothing is cached between
sizes. Peak memory is the largest total resident memory of that process and all its
children (worker processes included), sampled every 50 ms with psutil.
"""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Measure:
    """Wall time and peak memory of one step, and what the step reported."""

    name: str
    size: int
    seconds: float
    peak_mb: float
    reported: dict[str, object]


def run_child(name: str, size: int, code: str) -> Measure:
    """Run ``code`` in a new interpreter; it may print one JSON object on its last line."""
    start = time.perf_counter()
    # The child's output goes to temporary files, not pipes: a child that prints more
    # than a pipe holds (a progress bar, say) would otherwise block until it is read.
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out_f, stderr=err_f)
        peak = 0
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            peak = max(peak, _tree_rss(root))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{name} at {size:,} failed:\n{err}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    reported = json.loads(lines[-1]) if lines else {}
    return Measure(name, size, seconds, peak / 2**20, reported)


def _tree_rss(root: psutil.Process) -> int:
    """Resident bytes of a process and its descendants (0 for any that just ended)."""
    total = 0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def save(bench: str, measures: list[Measure]) -> Path:
    """Write the measures, with the machine they ran on, to bench/results/<bench>.json."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{bench}.json"
    doc = {
        "bench": bench,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": __import__("os").cpu_count(),
        },
        "measures": [asdict(m) for m in measures],
    }
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return out
