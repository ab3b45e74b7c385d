"""Directed graphs drawn with Altair: the organisation-level flow and the process map.

Vega-Lite has no graph or Sankey mark, so the positions are computed here and the marks
(curved edges, arrowheads, nodes, labels) are drawn by Vega-Lite from plain data: an
edge's thickness is its count, its colour the time it takes, and an arrowhead halfway
along it shows the direction. Two edges between the same pair in opposite directions
bend to opposite sides, so both stay visible.

The layered layout is a small version of Sugiyama's method (Sugiyama, Tagawa and Toda,
1981): break cycles by reversing back edges found by a depth-first search that follows
the heaviest edges first, place each node one layer after its furthest predecessor
(longest path), then order each layer by the mean position of its neighbours (the
barycentre heuristic) over a few sweeps to cut crossings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import altair as alt

from joinedup.report import _charts
from joinedup.report._charts import Chart

Point = tuple[float, float]


@dataclass(frozen=True)
class Edge:
    """One published edge: a count (already disclosure-controlled) and a time in days."""

    source: str
    target: str
    count: int
    days: float | None


def layers(
    nodes: Sequence[str], edges: Sequence[Edge], first: str | None = None
) -> list[list[str]]:
    """Nodes in layers, left to right, each layer ordered to cut crossings."""
    out: dict[str, list[tuple[str, int]]] = {n: [] for n in nodes}
    for e in edges:
        if e.source != e.target:
            out[e.source].append((e.target, e.count))
    for n in out:
        out[n].sort(key=lambda t: (-t[1], t[0]))
    # Depth-first search, heaviest edges first; an edge to a node still on the stack
    # closes a cycle and is left out of the layering (it is still drawn).
    forward: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    weight = {n: sum(c for _, c in out[n]) for n in nodes}
    roots = sorted(nodes, key=lambda n: (n != first, -weight[n], n))
    for root in roots:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack.pop()
            if i < len(out[node]):
                stack.append((node, i + 1))
                nxt = out[node][i][0]
                if nxt not in state:
                    forward.add((node, nxt))
                    state[nxt] = 1
                    stack.append((nxt, 0))
                elif state[nxt] == 2:
                    forward.add((node, nxt))
            else:
                state[node] = 2
    # Longest path from the sources of the acyclic part.
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in forward:
        preds[b].append(a)
        succs[a].append(b)
    level: dict[str, int] = {}
    indegree = {n: len(preds[n]) for n in nodes}
    ready = sorted(n for n in nodes if indegree[n] == 0)
    while ready:
        n = ready.pop(0)
        level[n] = max((level[p] + 1 for p in preds[n]), default=0)
        for s in sorted(succs[n]):
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    groups: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for n in nodes:  # first appearance keeps the input's order as the starting order
        groups[level[n]].append(n)
    neighbours: dict[str, list[str]] = {n: preds[n] + succs[n] for n in nodes}
    for sweep in range(4):
        order = range(1, len(groups)) if sweep % 2 == 0 else range(len(groups) - 2, -1, -1)
        for i in order:
            pos = {n: k for g in groups for k, n in enumerate(g)}
            ref = i - 1 if sweep % 2 == 0 else i + 1
            side = set(groups[ref])

            def centre(n: str, pos: dict[str, int] = pos, side: set[str] = side) -> float:
                near = [pos[m] for m in neighbours[n] if m in side]
                return sum(near) / len(near) if near else pos[n]

            groups[i].sort(key=centre)
    return groups


def _bezier(p0: Point, p1: Point, bend: float, steps: int = 16) -> list[Point]:
    """A quadratic curve from ``p0`` to ``p1`` bowed ``bend`` of its length to the left
    of its direction (so a reverse edge bows the other way)."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 + bend * dy, (y0 + y1) / 2 - bend * dx
    return [
        (
            (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1,
            (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1,
        )
        for t in (i / steps for i in range(steps + 1))
    ]


def _loop(p: Point, radius: float, steps: int = 16) -> list[Point]:
    """A small loop above a node, for an edge from a node to itself."""
    x, y = p
    cx, cy = x, y - radius
    return [
        (cx + radius * math.sin(a), cy + radius * math.cos(a))
        for a in (2 * math.pi * i / steps for i in range(steps + 1))
    ]


def _heading(points: list[Point]) -> tuple[Point, float]:
    """The middle of a drawn edge and the angle (degrees clockwise from up, in screen
    coordinates) an arrowhead there must turn to point along it."""
    mid = len(points) // 2
    (xa, ya), (xb, yb) = points[mid - 1], points[mid + 1]
    return points[mid], math.degrees(math.atan2(xb - xa, -(yb - ya))) % 360


def draw(
    positions: dict[str, Point],
    edges: Sequence[Edge],
    *,
    title: str,
    count_title: str,
    width: float,
    height: float,
    label_at: dict[str, Point] | None = None,
    bend: float = 0.18,
) -> Chart:
    """Draw a directed graph whose node positions (in pixels, y down) are given.

    Labels go just right of each node, or centred on ``label_at``'s points; a label
    ``"org: activity"`` is set on two lines. An edge with no time (from the start or to
    the end of a need) is grey.
    """
    lines: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    for k, e in enumerate(edges):
        p0, p1 = positions[e.source], positions[e.target]
        pts = _loop(p0, 14) if e.source == e.target else _bezier(p0, p1, bend)
        common = {
            "count": e.count,
            "days": round(e.days, 1) if e.days is not None else None,
            "name": f"{e.source} → {e.target}",
        }
        for i, (x, y) in enumerate(pts):
            lines.append({"edge": k, "i": i, "x": x, "y": y, **common})
        (hx, hy), angle = _heading(pts)
        heads.append({"x": hx, "y": hy, "angle": angle, "edge": k, **common})
    nodes = []
    for n, (x, y) in positions.items():
        lx, ly = (label_at or {}).get(n, (x + 9, y))
        org, sep, act = n.partition(": ")
        nodes.append(
            {
                "node": n,
                "x": x,
                "y": y,
                "lx": lx,
                "ly": ly,
                "label": f"{org}{sep}\n{act}" if sep else n,
            }
        )
    xs = alt.Scale(domain=[0, width], range=[0, width], nice=False, zero=False)
    ys = alt.Scale(domain=[0, height], range=[0, height], nice=False, zero=False)
    top = max((e.count for e in edges), default=1)
    timed = [e.days for e in edges if e.days is not None]
    days = alt.Scale(
        scheme="viridis", reverse=True, domain=[min(timed, default=0), max(timed, default=1)]
    )
    tip = [
        alt.Tooltip("name:N", title="from → to"),
        alt.Tooltip("count:Q", title=count_title),
        alt.Tooltip("days:Q", title="median days"),
    ]
    xenc = alt.X("x:Q", scale=xs, axis=None)
    yenc = alt.Y("y:Q", scale=ys, axis=None)
    size = alt.Size(
        "count:Q",
        scale=alt.Scale(domain=[0, top], range=[1, 14]),
        title=count_title,
        legend=alt.Legend(orient="bottom"),
    )
    # Edges with a time are coloured by it; edges without one (from the start or to the
    # end of a need) are drawn grey in a layer of their own.
    timed_layer = (
        alt.Chart(alt.Data(values=[r for r in lines if r["days"] is not None] or lines[:0]))
        .mark_line(opacity=0.8, strokeCap="round")
        .encode(
            x=xenc,
            y=yenc,
            detail="edge:N",
            order="i:Q",
            size=size,
            color=alt.Color(
                "days:Q",
                title="median days",
                scale=days,
                legend=alt.Legend(orient="bottom", type="gradient", gradientLength=180),
            ),
            tooltip=tip,
        )
    )
    untimed_layer = (
        alt.Chart(alt.Data(values=[r for r in lines if r["days"] is None]))
        .mark_line(opacity=0.8, strokeCap="round", color="#b1b4b6")
        .encode(x=xenc, y=yenc, detail="edge:N", order="i:Q", size=size, tooltip=tip)
    )
    head_layer = (
        alt.Chart(alt.Data(values=heads))
        .mark_point(shape="triangle-up", filled=True, opacity=1, size=70, color="#0b0c0c")
        .encode(
            x=xenc,
            y=yenc,
            angle=alt.Angle("angle:Q", scale=alt.Scale(domain=[0, 360], range=[0, 360])),
            tooltip=tip,
        )
    )
    node_layer = (
        alt.Chart(alt.Data(values=nodes))
        .mark_circle(size=110, color="#0b0c0c", opacity=1)
        .encode(x=xenc, y=yenc, tooltip=["node:N"])
    )
    label_layer = (
        alt.Chart(alt.Data(values=nodes))
        .mark_text(
            align="center" if label_at else "left",
            baseline="middle",
            lineBreak="\n",
            fontSize=12 if label_at else 11,
            fontWeight="bold" if label_at else "normal",
            color="#0b0c0c",
            limit=150,
        )
        .encode(
            x=alt.X("lx:Q", scale=xs, axis=None),
            y=alt.Y("ly:Q", scale=ys, axis=None),
            text="label:N",
        )
    )
    layers = [timed_layer] if any(r["days"] is not None for r in lines) else []
    if any(r["days"] is None for r in lines):
        layers.append(untimed_layer)
    chart = cast(
        alt.LayerChart, alt.layer(*layers, head_layer, node_layer, label_layer)
    ).properties(width=width, height=height)
    rows = [[e.source, e.target, e.count, e.days and round(e.days, 1)] for e in edges]
    return _charts.render(
        chart, title, ["from", "to", count_title, "median days"], rows, measures=("median days",)
    )


def layered_positions(
    groups: list[list[str]], *, column: float, row: float, margin: Point = (24.0, 24.0)
) -> tuple[dict[str, Point], float, float]:
    """Pixel positions for layers laid out top to bottom, each centred across, with room
    on the right of the widest layer for labels."""
    widest = max((len(g) for g in groups), default=1)
    width = 2 * margin[0] + column * max(widest - 1, 0) + 150
    height = 2 * margin[1] + row * max(len(groups) - 1, 0)
    pos: dict[str, Point] = {}
    for i, g in enumerate(groups):
        left = margin[0] + column * (widest - len(g)) / 2
        for k, n in enumerate(g):
            pos[n] = (left + k * column, margin[1] + i * row)
    return pos, width, height


def ring_positions(
    nodes: Sequence[str], *, radius: float
) -> tuple[dict[str, Point], dict[str, Point], float]:
    """Nodes evenly round a circle (the first at the top), their labels just outside it,
    and the size of the square that holds them."""
    size = 2 * radius + 160
    c = size / 2

    def at(i: int, r: float) -> Point:
        a = 2 * math.pi * i / len(nodes)
        return c + r * math.sin(a), c - r * math.cos(a)

    pos = {n: at(i, radius) for i, n in enumerate(nodes)}
    # Centred labels sit outside the ring: pushed sideways by half their width (about
    # 7 pixels a character at 12 pixels bold) where the ring's side is to the left or right.
    labels = {}
    for i, n in enumerate(nodes):
        lx, ly = at(i, radius + 24)
        side = math.sin(2 * math.pi * i / len(nodes))
        labels[n] = (lx + side * 3.5 * len(n), ly)
    return pos, labels, size
