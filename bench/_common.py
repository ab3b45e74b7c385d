"""Shared helpers for the benchmarks: run a measured step in a child process.

Each measured step runs in a fresh Python process so that its peak resident memory
(``ru_maxrss`` of the child) belongs to that step alone and nothing is cached between
sizes.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

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
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of RUSAGE_CHILDREN is the largest of all children so far; a smaller child
    # after a larger one would show the larger figure, so steps run in increasing size.
    peak_mb = max(peak_kb, before) / 1024
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    reported = json.loads(lines[-1]) if lines else {}
    return Measure(name, size, seconds, peak_mb, reported)


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
