"""The graph layout and drawing behind the flow charts."""

from __future__ import annotations

import pytest

from joinedup.report._graph import Edge, draw, layered_positions, layers, ring_positions


def _level(groups: list[list[str]]) -> dict[str, int]:
    return {n: i for i, g in enumerate(groups) for n in g}


def test_a_chain_is_one_node_per_layer() -> None:
    edges = [Edge("a", "b", 5, 1.0), Edge("b", "c", 5, 1.0)]
    assert layers(["c", "b", "a"], edges, first="a") == [["a"], ["b"], ["c"]]


def test_every_edge_of_an_acyclic_graph_points_down_the_layers() -> None:
    edges = [
        Edge("s", "a", 9, None),
        Edge("s", "b", 3, None),
        Edge("a", "c", 4, 2.0),
        Edge("b", "c", 2, 2.0),
        Edge("c", "d", 7, 1.0),
        Edge("a", "d", 1, 9.0),
    ]
    level = _level(layers(["s", "a", "b", "c", "d"], edges, first="s"))
    assert all(level[e.source] < level[e.target] for e in edges)
    assert level["d"] == 3  # one past its furthest predecessor


def test_a_cycle_is_broken_against_its_lightest_edge() -> None:
    edges = [Edge("a", "b", 10, 1.0), Edge("b", "c", 8, 1.0), Edge("c", "a", 2, 1.0)]
    level = _level(layers(["a", "b", "c"], edges, first="a"))
    assert level == {"a": 0, "b": 1, "c": 2}


def test_layers_are_ordered_to_avoid_crossings() -> None:
    # x1 feeds y1 and x2 feeds y2; listed crossed, they come out parallel.
    edges = [Edge("x1", "y1", 5, 1.0), Edge("x2", "y2", 5, 1.0)]
    groups = layers(["x1", "x2", "y2", "y1"], edges)
    assert groups[0].index("x1") == groups[1].index("y1")


def test_positions_are_distinct_and_inside_the_picture() -> None:
    groups = [["s"], ["a", "b", "c"], ["d"]]
    pos, width, height = layered_positions(groups, column=100, row=50)
    assert len(set(pos.values())) == 5
    assert all(0 <= x <= width and 0 <= y <= height for x, y in pos.values())
    ring, labels, size = ring_positions(["p", "q", "r", "t"], radius=100)
    assert len(set(ring.values())) == 4 and set(labels) == set(ring)
    assert all(0 < x < size and 0 < y < size for x, y in ring.values())


def test_draw_keeps_the_edges_as_its_table() -> None:
    pos, labels, size = ring_positions(["p", "q"], radius=80)
    edges = [Edge("p", "q", 40, 2.25), Edge("q", "p", 15, None), Edge("p", "p", 10, 1.0)]
    chart = draw(pos, edges, title="t", count_title="n", width=size, height=size, label_at=labels)
    assert chart.rows == [["p", "q", 40, 2.2], ["q", "p", 15, None], ["p", "p", 10, 1.0]]
    assert chart.svg.startswith("<svg") and 'aria-label="t"' in chart.svg
    # Opposite edges bow to opposite sides, so both are visible.
    marks = chart.spec["layer"]
    assert {m["mark"]["type"] for m in marks} >= {"line", "point", "circle", "text"}


@pytest.mark.parametrize("n", [1, 2, 7])
def test_ring_of_any_size(n: int) -> None:
    pos, _, _ = ring_positions([f"o{i}" for i in range(n)], radius=50)
    assert len(pos) == n
