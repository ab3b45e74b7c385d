"""Charts for the report and the web service: Vega-Lite specifications built with Altair,
rendered to SVG offline by vl-convert so a report needs no network and no browser.

Every chart carries the rows it was drawn from, so pages can show a table alternative
beside it for screen-reader users (WCAG 2.2, non-text content).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import vl_convert
from markupsafe import escape

# Colours from the GOV.UK Design System palette, which public-sector readers know.
PALETTE = ["#1d70b8", "#f47738", "#00703c", "#912b88", "#d4351c", "#505a5f", "#28a197"]
FONT = "Arial, Helvetica, sans-serif"


@dataclass
class Chart:
    """A chart as SVG, its Vega-Lite specification, and the table it was drawn from."""

    title: str
    svg: str
    spec: dict[str, Any]
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    #: Columns that are measures (rates, money, days), not disclosure-controlled counts.
    measures: frozenset[str] = frozenset()


AnyChart = alt.Chart | alt.LayerChart | alt.FacetChart


def _config(chart: AnyChart) -> AnyChart:
    return chart.configure(font=FONT).configure_view(stroke=None).configure_range(category=PALETTE)


def render(
    chart: AnyChart,
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    measures: tuple[str, ...] = (),
) -> Chart:
    """Render an Altair chart to SVG and keep its data as a table."""
    spec = json.loads(_config(chart).to_json())
    svg = vl_convert.vegalite_to_svg(vl_spec=spec)
    svg = svg[svg.index("<svg") :]
    # A role and a label make the picture announce itself; the table carries the detail.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)
    return Chart(title, svg, spec, columns, rows, frozenset(measures))


def _attr(text: str) -> str:
    # Escaped as the templates escape it, so the label matches the figure's caption.
    return str(escape(text))


def stacked_bars(
    rows: list[dict[str, Any]],
    *,
    category: str,
    stack: str,
    value: str,
    title: str,
    value_title: str,
) -> Chart:
    """Horizontal bars of ``value`` per ``category``, stacked by ``stack``."""
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", title=None, sort="ascending"),
            x=alt.X(f"sum({value}):Q", title=value_title),
            color=alt.Color(f"{stack}:N", title=stack.replace("_", " ")),
            tooltip=[f"{category}:N", f"{stack}:N", f"{value}:Q"],
        )
        .properties(width=560, height=max(60, 34 * len({r[category] for r in rows})))
    )
    table = [[r[category], r[stack], r[value]] for r in rows]
    return render(chart, title, [category, stack, value], table)


def lines(
    rows: list[dict[str, Any]], *, x: str, series: str, value: str, title: str, value_title: str
) -> Chart:
    """One line per ``series`` of ``value`` over ``x`` (an ordered label such as a month)."""
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:O", title=None),
            y=alt.Y(f"{value}:Q", title=value_title),
            color=alt.Color(f"{series}:N", title=series.replace("_", " ")),
            tooltip=[f"{x}:O", f"{series}:N", f"{value}:Q"],
        )
        .properties(width=560, height=220)
    )
    table = [[r[x], r[series], r[value]] for r in rows]
    return render(chart, title, [x, series, value], table)
