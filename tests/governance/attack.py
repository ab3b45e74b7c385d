"""An intruder who tries to work out suppressed cells from a published table.

Independent of joinedup's own suppression code: it reads only the published table with
its ``Total`` rows, writes the adding-up constraints, and uses linear algebra and linear
programming (values are never negative) to bound each hidden cell.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.linalg import null_space
from scipy.optimize import linprog

TOTAL = "Total"


def constraints(
    table: pa.Table, by: list[str], column: str
) -> tuple[list[tuple[Any, ...]], dict[tuple[Any, ...], float | None], list[list[Any]]]:
    """Cells, their published values (None if hidden) and the lines that add up."""
    rows = table.to_pylist()
    value = {tuple(r[b] for b in by): r[column] for r in rows}
    cells = list(value)
    levels = [sorted({c[d] for c in cells if c[d] != TOTAL}) for d in range(len(by))]
    lines = []
    for d in range(len(by)):
        others = [[*lv, TOTAL] for i, lv in enumerate(levels) if i != d]
        for fixed in itertools.product(*others):

            def cell(level: Any, fixed: tuple[Any, ...] = fixed, d: int = d) -> tuple[Any, ...]:
                f = list(fixed)
                f.insert(d, level)
                return tuple(f)

            lines.append([cell(lv) for lv in levels[d]] + [cell(TOTAL)])
    return cells, value, lines


def _system(
    table: pa.Table, by: list[str], column: str
) -> tuple[list[tuple[Any, ...]], np.ndarray, np.ndarray]:
    cells, value, lines = constraints(table, by, column)
    hidden = [c for c in cells if value[c] is None]
    pos = {c: i for i, c in enumerate(hidden)}
    a = np.zeros((len(lines), len(hidden)))
    b = np.zeros(len(lines))
    for r, line in enumerate(lines):
        for k, c in enumerate(line):
            sign = -1.0 if k == len(line) - 1 else 1.0
            if c in pos:
                a[r, pos[c]] += sign
            else:
                b[r] -= sign * float(value[c])  # type: ignore[arg-type]
    return hidden, a, b


def solved_by_algebra(table: pa.Table, by: list[str], column: str) -> list[tuple[Any, ...]]:
    """Hidden cells whose value the published totals fix exactly (no non-negativity)."""
    hidden, a, _ = _system(table, by, column)
    if not hidden:
        return []
    basis = null_space(a) if a.size else np.eye(len(hidden))
    return [c for i, c in enumerate(hidden) if np.allclose(basis[i], 0, atol=1e-9)]


def ranges(
    table: pa.Table, by: list[str], column: str
) -> dict[tuple[Any, ...], tuple[float, float]]:
    """The smallest and largest value of each hidden cell, knowing values are >= 0."""
    hidden, a, b = _system(table, by, column)
    out = {}
    for i, c in enumerate(hidden):
        obj = np.zeros(len(hidden))
        obj[i] = 1
        lo = linprog(obj, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        hi = linprog(-obj, A_eq=a, b_eq=b, bounds=(0, None), method="highs")
        assert lo.status == 0
        out[c] = (lo.fun, np.inf if hi.status == 3 else -hi.fun)
    return out


def recovered(table: pa.Table, by: list[str], column: str) -> list[tuple[Any, ...]]:
    """Hidden counts the intruder pins to a single whole number."""
    return [
        c
        for c, (lo, hi) in ranges(table, by, column).items()
        if np.floor(hi + 1e-6) - np.ceil(lo - 1e-6) < 1
    ]
