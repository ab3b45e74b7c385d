"""Disclosure control: primary and secondary suppression, rounding, dominance, markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joinedup.governance import (
    MARKER,
    AuditLog,
    DisclosureError,
    Dominance,
    OutputRules,
    disclose,
    tabulate,
)

from .attack import ranges, recovered, solved_by_algebra

EXACT = OutputRules(rounding_base=1)  # no rounding: the intruder's best case


def grid(values: list[list[int]]) -> pa.Table:
    rows = [
        {"org": f"o{i}", "cat": f"c{j}", "n": v}
        for i, row in enumerate(values)
        for j, v in enumerate(row)
    ]
    return pa.Table.from_pylist(rows)


def hide_primary_only(values: list[list[int]], threshold: int = 10) -> pa.Table:
    """What a naive writer would publish: small cells hidden, true totals shown."""
    a = np.array(values)
    rows = []
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            rows.append({"org": f"o{i}", "cat": f"c{j}", "n": None if v < threshold else v})
        rows.append({"org": f"o{i}", "cat": "Total", "n": int(a[i].sum())})
    for j in range(a.shape[1]):
        rows.append({"org": "Total", "cat": f"c{j}", "n": int(a[:, j].sum())})
    rows.append({"org": "Total", "cat": "Total", "n": int(a.sum())})
    return pa.Table.from_pylist(rows)


TABLE = [[3, 40, 55, 31], [20, 30, 12, 18], [44, 25, 60, 0], [15, 16, 17, 70]]


def test_small_counts_and_zeros_never_reach_the_output() -> None:
    out, notes = disclose(grid(TABLE), by=["org", "cat"], counts=["n"], rules=EXACT)
    rows = {(r["org"], r["cat"]): r for r in out.to_pylist()}
    for cell in [("o0", "c0"), ("o2", "c3")]:
        assert rows[cell]["n"] is None and rows[cell]["n_marker"] == MARKER
    assert all((r["n"] is None) == (r["n_marker"] == MARKER) for r in rows.values())
    assert all(r["n"] is None or r["n"] >= 10 for r in rows.values())
    assert MARKER in notes[0] and "under 10" in notes[0]


def test_naive_suppression_is_recovered_by_the_intruder() -> None:
    """The attack works: with only primary suppression both hidden cells come back."""
    naive = hide_primary_only(TABLE)
    assert set(solved_by_algebra(naive, ["org", "cat"], "n")) == {("o0", "c0"), ("o2", "c3")}
    assert set(recovered(naive, ["org", "cat"], "n")) == {("o0", "c0"), ("o2", "c3")}


def test_secondary_suppression_defeats_the_intruder() -> None:
    out, _ = disclose(grid(TABLE), by=["org", "cat"], counts=["n"], rules=EXACT, totals=True)
    assert out.column("n").null_count >= 4
    assert solved_by_algebra(out, ["org", "cat"], "n") == []
    assert recovered(out, ["org", "cat"], "n") == []


def test_two_zeros_in_a_row_do_not_pin_a_rectangle() -> None:
    """Non-negativity is an attack too: zeros on one row can fix the cells they pair with."""
    t = grid([[0, 0, 50, 60], [30, 40, 20, 25], [35, 45, 55, 65]])
    out, _ = disclose(t, by=["org", "cat"], counts=["n"], rules=EXACT, totals=True)
    assert recovered(out, ["org", "cat"], "n") == []


def test_one_dimension_needs_a_partner_too() -> None:
    t = pa.table({"org": ["a", "b", "c"], "n": [4, 30, 50]})
    out, _ = disclose(t, by=["org"], counts=["n"], rules=EXACT, totals=True)
    assert out.column("n").to_pylist() == [None, None, 50, 84]
    assert recovered(out, ["org"], "n") == []


def test_small_total_is_suppressed_with_its_row() -> None:
    t = grid([[2, 3], [40, 50], [60, 70]])
    out, _ = disclose(t, by=["org", "cat"], counts=["n"], rules=EXACT, totals=True)
    rows = {(r["org"], r["cat"]): r["n"] for r in out.to_pylist()}
    assert rows[("o0", "Total")] is None
    assert recovered(out, ["org", "cat"], "n") == []


@settings(max_examples=20, deadline=None)
@given(
    st.integers(2, 4).flatmap(
        lambda r: st.integers(2, 4).flatmap(
            lambda c: st.lists(
                st.lists(
                    st.one_of(st.integers(0, 12), st.integers(10, 90)), min_size=c, max_size=c
                ),
                min_size=r,
                max_size=r,
            )
        )
    )
)
def test_no_random_table_gives_a_cell_away(values: list[list[int]]) -> None:
    out, _ = disclose(grid(values), by=["org", "cat"], counts=["n"], rules=EXACT, totals=True)
    assert all(v is None or v >= 10 for v in out.column("n").to_pylist())
    assert recovered(out, ["org", "cat"], "n") == []


@settings(max_examples=8, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 12), st.integers(10, 60)), min_size=12, max_size=12))
def test_three_dimensions(values: list[int]) -> None:
    rows = [
        {"a": f"a{i}", "b": f"b{j}", "c": f"c{k}", "n": values[(i * 3 + j) * 2 + k]}
        for i in range(2)
        for j in range(3)
        for k in range(2)
    ]
    out, _ = disclose(
        pa.Table.from_pylist(rows), by=["a", "b", "c"], counts=["n"], rules=EXACT, totals=True
    )
    assert recovered(out, ["a", "b", "c"], "n") == []


def test_counts_are_rounded_to_the_base() -> None:
    out, notes = disclose(grid(TABLE), by=["org", "cat"], counts=["n"], totals=True)
    shown = [v for v in out.column("n").to_pylist() if v is not None]
    assert shown and all(v % 5 == 0 for v in shown)
    assert any("nearest 5" in n for n in notes)


def test_missing_combinations_are_zeros_and_shown_as_markers() -> None:
    t = pa.table({"org": ["a", "a", "b"], "cat": ["x", "y", "x"], "n": [30, 40, 50]})
    out, _ = disclose(t, by=["org", "cat"], counts=["n"])
    rows = {(r["org"], r["cat"]): r for r in out.to_pylist()}
    assert rows[("b", "y")]["n_marker"] == MARKER and rows[("b", "y")]["n"] is None


def test_zeros_may_be_shown_when_the_rules_say_so() -> None:
    t = pa.table({"org": ["a", "b", "c"], "n": [0, 30, 50]})
    out, _ = disclose(t, by=["org"], counts=["n"], rules=OutputRules(suppress_zeros=False))
    assert out.column("n").to_pylist() == [0, 30, 50]


def test_inline_markers_are_text() -> None:
    out, _ = disclose(grid(TABLE), by=["org", "cat"], counts=["n"], markers="inline")
    col = out.column("n").to_pylist()
    assert out.schema.field("n").type == pa.string()
    assert MARKER in col and "3" not in col and "0" not in col


def payments() -> pa.Table:
    rows = []
    for org, people in {"a": 12, "b": 15}.items():
        for p in range(people):
            rows.append({"org": org, "person": f"{org}{p}", "cost": 10.0})
    # in org c one person accounts for almost all of the money
    rows += [{"org": "c", "person": f"c{p}", "cost": 1.0} for p in range(11)]
    rows.append({"org": "c", "person": "big", "cost": 5000.0})
    return pa.Table.from_pylist(rows)


def test_tabulate_counts_and_largest_contributions() -> None:
    t = tabulate(payments(), by=["org"], money=["cost"], unit="person")
    got = {r["org"]: r for r in t.to_pylist()}
    assert got["c"]["n"] == 12 and got["c"]["units"] == 12
    assert got["c"]["cost"] == pytest.approx(5011.0)
    assert got["c"]["cost_top"] == pytest.approx(5001.0)
    assert got["a"]["cost_top"] == pytest.approx(20.0)


def test_dominated_money_is_suppressed() -> None:
    t = tabulate(payments(), by=["org"], money=["cost"], unit="person")
    out, notes = disclose(
        t, by=["org"], counts=["n"], money=["cost"], units="units", rules=EXACT, totals=True
    )
    cost = dict(zip(out.column("org").to_pylist(), out.column("cost").to_pylist(), strict=True))
    assert cost["c"] is None
    # the total is dominated by the same person, so it goes too and c cannot be derived
    assert sum(v is None for v in cost.values()) >= 2
    assert all(hi - lo > 1 for lo, hi in ranges(out, ["org"], "cost").values())
    assert "90%" in notes[0]
    relaxed = OutputRules(rounding_base=1, dominance=Dominance(share=1.0))
    out2, _ = disclose(t, by=["org"], counts=["n"], money=["cost"], units="units", rules=relaxed)
    assert out2.column("cost").null_count == 0


def test_money_without_its_top_column_is_refused() -> None:
    t = pa.table({"org": ["a", "b"], "n": [20, 30], "cost": [1.0, 2.0]})
    with pytest.raises(DisclosureError, match="tabulate"):
        disclose(t, by=["org"], counts=["n"], money=["cost"])


@pytest.mark.parametrize(
    ("table", "kwargs", "message"),
    [
        (pa.table({"org": ["a"], "n": [1]}), {"by": ["org"], "counts": ["x"]}, "not in the table"),
        (
            pa.table({"org": ["a", "a"], "n": [20, 30]}),
            {"by": ["org"], "counts": ["n"]},
            "more than one row",
        ),
        (
            pa.table({"org": ["a", "b"], "n": [-20, 30]}),
            {"by": ["org"], "counts": ["n"]},
            "negative",
        ),
        (
            pa.table({"org": ["a", "b"], "n": ["x", "y"]}),
            {"by": ["org"], "counts": ["n"]},
            "not numbers",
        ),
        (pa.table({"org": ["a", "b"], "n": [1, 2]}), {"by": ["org"]}, "name the count"),
    ],
)
def test_bad_tables_are_refused(table: pa.Table, kwargs: dict, message: str) -> None:
    with pytest.raises(DisclosureError, match=message):
        disclose(table, **kwargs)


def test_turning_control_off_needs_and_writes_the_audit_log(tmp_path: Path) -> None:
    t = grid(TABLE)
    with pytest.raises(DisclosureError, match="audit log"):
        disclose(t, by=["org", "cat"], counts=["n"], enabled=False)
    log = AuditLog(tmp_path)
    out, notes = disclose(
        t, by=["org", "cat"], counts=["n"], enabled=False, audit=log, who="ana", output="export.csv"
    )
    assert out.column("n").to_pylist() == t.column("n").to_pylist()
    assert "turned off" in notes[0]
    [entry] = list(log.entries())
    assert entry.what == "disclosure.off" and entry.who == "ana"
    assert entry.details["output"] == "export.csv"
    assert log.verify().ok


def test_applying_control_can_be_audited(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    disclose(grid(TABLE), by=["org", "cat"], counts=["n"], audit=log, who="ana")
    [entry] = list(log.entries(what="disclosure"))
    assert entry.details["suppressed"] >= 4


def test_larger_table_is_protected_quickly() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 80, size=(12, 11)).tolist()
    out, _ = disclose(grid(values), by=["org", "cat"], counts=["n"], rules=EXACT, totals=True)
    assert recovered(out, ["org", "cat"], "n") == []


def _published(values: np.ndarray, hidden: np.ndarray) -> pa.Table:
    """The 2-D cube (totals included) as the intruder sees it."""
    rows = []
    r, c = values.shape
    for i in range(r):
        for j in range(c):
            rows.append(
                {
                    "org": "Total" if i == r - 1 else f"o{i}",
                    "cat": "Total" if j == c - 1 else f"c{j}",
                    "n": None if hidden[i, j] else int(values[i, j]),
                }
            )
    return pa.Table.from_pylist(rows)


def test_a_bridge_between_two_rectangles_is_caught_by_the_attack_step() -> None:
    """Every line holds 0 or 2+ hidden cells, yet the cell joining two hidden rectangles
    is fixed by the totals: the line rule alone is not enough."""
    from joinedup.governance._suppress import Cube, add_margins, complete_lines, protect

    interior = np.arange(16, dtype=float).reshape(4, 4) + 20
    pattern = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)]:
        pattern[i, j] = True
    cube = Cube((5, 5), {"n": add_margins(interior).ravel()}, frozenset({"n"}))
    from joinedup.governance._suppress import cube_lines

    cube.lines = cube_lines((5, 5))
    values = cube.values["n"].reshape(5, 5)
    only_lines = pattern.ravel().copy()
    assert not complete_lines(cube, only_lines, cube.values["n"])  # nothing to add
    assert solved_by_algebra(_published(values, pattern), ["org", "cat"], "n") == [("o1", "c2")]
    safe = protect(cube, pattern.ravel(), cube.values["n"]).reshape(5, 5)
    assert safe.sum() > pattern.sum()
    assert recovered(_published(values, safe), ["org", "cat"], "n") == []


def test_empty_table_and_empty_labels() -> None:
    empty = pa.table({"org": pa.array([], pa.string()), "n": pa.array([], pa.int64())})
    out, _ = disclose(empty, by=["org"], counts=["n"])
    assert out.num_rows == 0 and out.schema.field("n").type == pa.int64()
    out, _ = disclose(empty, by=["org"], counts=["n"], totals=True)
    assert out.to_pylist() == [{"org": "Total", "n": None, "n_marker": MARKER}]
    labelled = pa.table({"org": ["a", None, "b"], "n": [30, 40, 50]})
    out, _ = disclose(labelled, by=["org"], counts=["n"])
    assert out.column("n").to_pylist() == [30, 50, 40]  # the empty label sorts last


def test_only_an_administrator_may_turn_control_off(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from joinedup.governance import AccessDenied, Role, User

    log = AuditLog(tmp_path)
    ana = User("ana", "benefits", Role.ANALYST, datetime.now(UTC))
    root = User("root", "benefits", Role.ADMINISTRATOR, datetime.now(UTC))
    with pytest.raises(AccessDenied, match="may not turn disclosure control off"):
        disclose(grid(TABLE), by=["org", "cat"], counts=["n"], enabled=False, audit=log, who=ana)
    disclose(grid(TABLE), by=["org", "cat"], counts=["n"], enabled=False, audit=log, who=root)
    disclose(grid(TABLE), by=["org", "cat"], counts=["n"], who=ana)  # on: anyone
    assert [(e.who, e.what) for e in log.entries()] == [("root", "disclosure.off")]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 2).flatmap(
        lambda ndim: st.tuples(
            st.lists(st.integers(2, 5), min_size=ndim, max_size=ndim),
            st.randoms(use_true_random=False),
        )
    )
)
def test_the_cycle_search_agrees_with_linear_programming(
    drawn: tuple[list[int], object],
) -> None:
    """For one- and two-dimensional tables of counts, the search for a balancing cycle
    finds one exactly when the linear programmes find two or more whole values for the
    cell, so it can stand in for them (they still decide whatever it does not show)."""
    import random

    from joinedup.governance._suppress import Cube, _movable, _range, add_margins, cube_lines

    dims, rnd = drawn
    assert isinstance(rnd, random.Random)
    interior = np.array(
        [rnd.choice([0, 0, 1, 2, 5, 30]) for _ in range(int(np.prod(dims)))], dtype=float
    ).reshape(dims)
    shape = tuple(d + 1 for d in dims)
    cube = Cube(shape, {"n": add_margins(interior).ravel()}, frozenset({"n"}))
    cube.lines = cube_lines(shape)
    hidden = np.array([rnd.random() < 0.5 for _ in range(cube.size)])
    for cell in np.flatnonzero(hidden):
        got = _range(cube, hidden, "n", int(cell))
        assert got is not None
        low, high = got
        free = np.floor(high + 1e-6) - np.ceil(low - 1e-6) >= 1
        assert _movable(cube, hidden, int(cell)) == free, (cell, low, high)


def test_a_directly_follows_graph_of_sixty_activities_is_protected_in_seconds() -> None:
    """A process map: 60 x 60 pairs, most never seen (zeros) or seen a few times."""
    import time

    rng = np.random.default_rng(7)
    values = np.where(rng.random((60, 60)) < 0.6, 0, rng.integers(1, 200, size=(60, 60)))
    started = time.perf_counter()
    out, _ = disclose(grid(values.tolist()), by=["org", "cat"], counts=["n"], rules=EXACT)
    assert time.perf_counter() - started < 20  # 1.2 s on the shared machine; minutes before
    shown = [v for v in out.column("n").to_pylist() if v is not None]
    assert shown and min(shown) >= 10


def test_a_statistic_that_reveals_a_small_count_is_withheld() -> None:
    """A share of 150 episodes off the main paths is 2%: 3 episodes. It is withheld, the
    service's other figures are not, and the counts behind it are never published."""
    table = pa.table(
        {
            "service": ["a", "b", "c"],
            "episodes": [150, 200, 60],
            "tail_share": [3 / 150, 0.4, 0.0],
            "off": [3, 80, 0],
            "on": [147, 120, 60],
            "orgs_per_need": [1.2, 1.5, 1.1],
        }
    )
    out, notes = disclose(
        table,
        by=["service"],
        counts=["episodes"],
        keep=["tail_share", "orgs_per_need"],
        rests_on={"tail_share": ["off", "on"]},
    )
    rows = {r["service"]: r for r in out.to_pylist()}
    assert rows["a"]["tail_share"] is None and rows["a"]["tail_share_marker"] == MARKER
    assert rows["a"]["orgs_per_need"] == 1.2 and rows["a"]["episodes"] == 150
    assert rows["b"]["tail_share"] == 0.4 and rows["c"]["tail_share"] == 0.0
    assert "off" not in out.column_names and "on" not in out.column_names
    assert any("tail_share is also withheld" in n for n in notes)
    with pytest.raises(DisclosureError, match="not kept"):
        disclose(table, by=["service"], counts=["episodes"], rests_on={"tail_share": ["off"]})
