"""Cell suppression on a table with all its margins: primary rules, then secondary.

A table of ``k`` dimensions is held as a cube of shape ``(n_1 + 1, …, n_k + 1)`` where the
last index on each axis is the total over that axis, so every margin (row, column and
grand totals) is a cell like any other. A *line* is the cells along one axis with the
other indices fixed; its last cell is the sum of the others. Protection assumes every
margin is known to whoever reads the output, whether or not it is printed.

Secondary suppression runs in two steps until nothing changes:

1. **Lines.** A line holding exactly one suppressed cell gives that cell away by
   subtraction, so its smallest non-zero unsuppressed cell (a total only if nothing
   else is left) is suppressed with it.
2. **Attack.** Even with two or more suppressions in every line a cell can be pinned by
   combining lines, or by the fact that counts and money are never negative (two zeros
   on one row pin a whole rectangle). For every suppressed cell and every value column,
   two linear programmes find the smallest and largest value the cell can take given
   everything published; if that range holds a single whole count (or, for money, a
   single amount), a further cell is suppressed next to it.

Suppressing a cell only removes a constraint, so a range never narrows as suppression
grows: each cell needs checking once, and the loop ends (at worst with every cell
suppressed). This is the classical approach of iterative complementary suppression with
an audit by linear programming (Hundepool et al., *Statistical Disclosure Control*,
Wiley 2012, ch. 4); it does not search for the least costly pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog  # type: ignore[import-untyped, unused-ignore]
from scipy.sparse import coo_matrix, csr_matrix  # type: ignore[import-untyped, unused-ignore]

#: Largest cube (cells including margins) the attack step is run on.
MAX_CELLS = 20_000


@dataclass
class Cube:
    """Values of a table and its margins, flattened, with the lines that add up."""

    shape: tuple[int, ...]
    #: value column -> flat array of every cell (margins included)
    values: dict[str, np.ndarray]
    #: value columns that are whole counts (the others are money)
    integral: frozenset[str]
    #: one row per line: flat indices of the line's cells, its total last
    lines: list[np.ndarray] = field(default_factory=list)
    #: the lines as a sparse matrix, built on first use
    matrix: csr_matrix | None = None
    #: the lines through each cell, built on first use
    by_cell: dict[int, list[np.ndarray]] | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def is_total(self) -> np.ndarray:
        """True for a cell that is a margin on any axis."""
        idx = np.indices(self.shape).reshape(len(self.shape), -1)
        last = np.array(self.shape).reshape(-1, 1) - 1
        return np.asarray((idx == last).any(axis=0))


def cube_lines(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Every line of a cube: along each axis, for every position on the other axes."""
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    lines: list[np.ndarray] = []
    for axis in range(len(shape)):
        moved = np.moveaxis(flat, axis, -1).reshape(-1, shape[axis])
        lines.extend(moved)
    return lines


def add_margins(interior: np.ndarray) -> np.ndarray:
    """The cube of ``interior`` with a total appended on every axis."""
    cube = interior.astype(np.float64)
    for axis in range(cube.ndim):
        total = cube.sum(axis=axis, keepdims=True)
        cube = np.concatenate([cube, total], axis=axis)
    return cube


def complete_lines(cube: Cube, suppressed: np.ndarray, order: np.ndarray) -> bool:
    """Step 1: no line may hold exactly one suppressed cell. True if anything changed."""
    changed = False
    totals = cube.is_total()
    through: dict[int, list[int]] = {}
    for n, line in enumerate(cube.lines):
        for c in line:
            through.setdefault(int(c), []).append(n)

    def cost(cell: int, current: int) -> tuple[int, bool, float]:
        # Prefer a cell whose other lines already hold a suppression: it closes a
        # cycle instead of opening new lines that each need a partner of their own.
        opened = sum(
            1 for n in through[cell] if n != current and not suppressed[cube.lines[n]].any()
        )
        return (opened, bool(totals[cell]), float(order[cell]))

    again = True
    while again:
        again = False
        for n, line in enumerate(cube.lines):
            hidden = suppressed[line]
            if hidden.sum() != 1:
                continue
            if hidden.all():  # a line of one cell: nothing can partner it
                continue
            best = min((int(c) for c in line[~hidden]), key=lambda c: cost(c, n))
            suppressed[best] = True
            again = changed = True
    return changed


def _matrix(cube: Cube) -> csr_matrix:
    """The adding-up equations of the cube: one row per line, +1 for each inner cell of
    the line and -1 for its total, so that ``A @ values == 0``."""
    if cube.matrix is None:
        rows: list[int] = []
        cols: list[int] = []
        coef: list[float] = []
        for r, line in enumerate(cube.lines):
            rows.extend([r] * len(line))
            cols.extend(int(c) for c in line)
            coef.extend([1.0] * (len(line) - 1) + [-1.0])
        cube.matrix = coo_matrix((coef, (rows, cols)), shape=(len(cube.lines), cube.size)).tocsr()
    return cube.matrix


def _range(
    cube: Cube, suppressed: np.ndarray, column: str, cell: int
) -> tuple[float, float] | None:
    """The smallest and largest value ``cell`` can take in ``column`` given what is
    published (every unsuppressed cell) and that values are never negative."""
    a = _matrix(cube)
    unknown = np.flatnonzero(suppressed)
    a_u = a[:, unknown]
    used = np.flatnonzero(a_u.getnnz(axis=1))  # lines that involve a hidden cell
    a_u = a_u[used]
    vals = cube.values[column]
    rhs = -(a[used][:, ~suppressed] @ vals[~suppressed])
    objective = np.zeros(len(unknown))
    objective[int(np.searchsorted(unknown, cell))] = 1.0
    low = linprog(objective, A_eq=a_u, b_eq=rhs, bounds=(0, None), method="highs")
    high = linprog(-objective, A_eq=a_u, b_eq=rhs, bounds=(0, None), method="highs")
    if low.status == 3 or high.status == 3:  # unbounded: cannot be pinned from above
        return (float(low.fun) if low.status == 0 else 0.0, float("inf"))
    if not (low.success and high.success):
        return None
    return float(low.fun), float(-high.fun)


def _signs(shape: tuple[int, ...]) -> np.ndarray:
    """+1 or -1 per cell: -1 to the power of the number of axes on which it is a total.

    With values multiplied by these signs, every line of a one- or two-dimensional cube
    sums to zero, so adding +t and -t around an alternating rectangle of cells (or to
    any two cells of a one-dimensional table) keeps every line adding up.
    """
    idx = np.indices(shape).reshape(len(shape), -1)
    last = np.array(shape).reshape(-1, 1) - 1
    return np.asarray((-1.0) ** (idx == last).sum(axis=0))


def _movable(cube: Cube, suppressed: np.ndarray, cell: int) -> bool:
    """True if ``cell`` is shown to have other possible values without linear programming:
    a move by one (any amount, for money) around an alternating cycle of suppressed cells
    that keeps every line adding up and every value at least zero, in every value column.
    False means "not shown this way": the linear programmes then decide.

    With the signs of :func:`_signs`, a one- or two-dimensional cube is a closed table
    whose lines all sum to zero; a two-dimensional one is then a bipartite graph (rows
    and columns as nodes, suppressed cells as edges) whose balanced moves are cycles
    alternating up and down, found here by a breadth-first search. The programmes solve
    one cell at a time over every suppressed cell; on a 60 x 60 directly-follows graph,
    most of it zeros, they took minutes, while nearly every cell lies on such a cycle.
    """
    ndim = len(cube.shape)
    if ndim > 2:
        return False
    signs = _signs(cube.shape)
    for column, vals in cube.values.items():
        # a whole count must be able to fall by one; money by any amount
        floor = 1.0 - 1e-9 if column in cube.integral else 1e-12
        can_fall = vals >= floor
        if not any(_cycle(cube.shape, suppressed, signs, can_fall, cell, up) for up in (1.0, -1.0)):
            return False
    return True


def _cycle(
    shape: tuple[int, ...],
    suppressed: np.ndarray,
    signs: np.ndarray,
    can_fall: np.ndarray,
    cell: int,
    up: float,
) -> bool:
    """Whether ``cell`` can move by ``up`` (+1 or -1, in the signed values) with other
    suppressed cells balancing it and no value falling below zero."""
    # In the signed values a cell rises by +1 or falls by -1; its own value changes by
    # that times its sign, and may fall only if it is at least one.
    rise_ok = suppressed & ((signs > 0) | can_fall)  # signed value +1 allowed
    fall_ok = suppressed & ((signs < 0) | can_fall)  # signed value -1 allowed
    if not (rise_ok if up > 0 else fall_ok)[cell]:
        return False
    same, opposite = (rise_ok, fall_ok) if up > 0 else (fall_ok, rise_ok)
    same, opposite = same.copy(), opposite.copy()
    same[cell] = opposite[cell] = False
    if len(shape) == 1:
        return bool(opposite.any())
    same, opposite = same.reshape(shape), opposite.reshape(shape)
    a, b = np.unravel_index(cell, shape)
    # From column b, an opposite move reaches a row; from a row, a same move reaches a
    # column; reaching row a closes the cycle.
    seen_rows = np.zeros(shape[0], dtype=bool)
    seen_cols = np.zeros(shape[1], dtype=bool)
    cols = np.zeros(shape[1], dtype=bool)
    cols[b] = seen_cols[b] = True
    while cols.any():
        rows = opposite[:, cols].any(axis=1) & ~seen_rows
        if rows[a]:
            return True
        seen_rows |= rows
        cols = same[rows, :].any(axis=0) & ~seen_cols
        seen_cols |= cols
    return False


def _pinned_at_zero(cube: Cube, suppressed: np.ndarray, cell: int) -> bool:
    """True if ``cell`` is in a line whose total is published and whose suppressed cells
    add up to zero in some value column: none can be negative, so each is zero. (Where
    a table is mostly zeros, as a process map is, this is the common case, and it needs
    no linear programme.)"""
    if cube.by_cell is None:
        cube.by_cell = {}
        for line in cube.lines:
            for c in line:
                cube.by_cell.setdefault(int(c), []).append(line)
    for line in cube.by_cell.get(cell, []):
        if suppressed[line[-1]]:
            continue
        hidden = line[:-1][suppressed[line[:-1]]]
        if any(float(vals[hidden].sum()) == 0.0 for vals in cube.values.values()):
            return True
    return False


def recoverable(cube: Cube, suppressed: np.ndarray, cell: int) -> bool:
    """Whether any value column of ``cell`` can be worked out from what is published."""
    if _movable(cube, suppressed, cell):
        return False
    if _pinned_at_zero(cube, suppressed, cell):
        return True
    for column, vals in cube.values.items():
        got = _range(cube, suppressed, column, cell)
        if got is None:
            return True  # the programme failed: be cautious and protect further
        low, high = got
        if column in cube.integral:
            # one whole number in [low, high] means the count is known
            if np.floor(high + 1e-6) - np.ceil(low - 1e-6) < 1:
                return True
        elif high - low <= 1e-6 * max(1.0, abs(float(vals[cell]))):
            return True
    return False


def protect(cube: Cube, primary: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Secondary suppression: extend ``primary`` until no suppressed cell is recoverable.

    ``order`` ranks cells by how little it costs to suppress them (smaller first).
    """
    suppressed = primary.copy()
    if not suppressed.any():
        return suppressed
    cube.lines = cube.lines or cube_lines(cube.shape)
    totals = cube.is_total()
    neighbours: dict[int, set[int]] = {}
    for line in cube.lines:
        for c in line:
            neighbours.setdefault(int(c), set()).update(int(x) for x in line)
    checked: set[int] = set()
    while True:
        complete_lines(cube, suppressed, order)
        if cube.size > MAX_CELLS:
            return suppressed
        pending = [int(c) for c in np.flatnonzero(suppressed) if int(c) not in checked]
        if not pending:
            return suppressed
        for cell in pending:
            if not recoverable(cube, suppressed, cell):
                checked.add(cell)
                continue
            near = [c for c in neighbours[cell] if not suppressed[c]]
            if not near:  # its lines are all hidden: look further out
                near = [int(c) for c in np.flatnonzero(~suppressed)]
            if not near:  # nothing is published at all
                checked.add(cell)
                continue
            candidates = sorted(near, key=lambda i: (bool(totals[i]), order[i]))
            for cand in candidates:
                suppressed[cand] = True
                if not recoverable(cube, suppressed, cell):
                    break
                suppressed[cand] = False
            else:
                suppressed[candidates[0]] = True  # no single cell is enough: widen and retry
            break  # lines may now hold one suppression: start the round again
