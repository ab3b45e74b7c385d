"""The cost-shunting heat map: Altair (Vega-Lite), rendered to SVG by vl-convert.

It draws the matrix as published (:mod:`joinedup.value._published`): a withheld cell
is labelled with the marker and left uncoloured, and the footnotes go under the title.
"""

from __future__ import annotations

import textwrap

import altair as alt
import vl_convert as vlc

from joinedup.governance import MARKER
from joinedup.governance._disclosure import TOTAL
from joinedup.value._published import PublishedMatrix


def _money(x: float) -> str:
    return f"£{x:,.0f}"


def heat_map_svg(matrix: PublishedMatrix) -> str:
    """The matrix as a heat map: causing organisation down, absorbing across, with a
    ``Total`` row and column; coloured by the cost of the failure demand, each cell
    labelled with money and contacts, or the marker where withheld."""
    rows = []
    for c in matrix.cells:
        margin = TOTAL in (c.caused_by_org, c.absorbed_by_org)
        rows.append(
            {
                "caused_by_org": c.caused_by_org,
                "absorbed_by_org": c.absorbed_by_org,
                "contacts": c.contacts,
                # Margins are labelled but not coloured: they would swamp the scale.
                "cost_gbp": None if margin else c.cost_gbp,
                "label": MARKER
                if c.contacts is None or c.cost_gbp is None
                else f"{_money(c.cost_gbp)} · {c.contacts:,}",
            }
        )
    data = alt.Data(values=rows)

    def order(key: str) -> list[str]:
        names = sorted({str(r[key]) for r in rows} - {TOTAL})
        return [*names, TOTAL] if rows else names

    causing, absorbing = order("caused_by_org"), order("absorbed_by_org")
    base = alt.Chart(data).encode(
        x=alt.X("absorbed_by_org:N", title="absorbed by (pays)", sort=absorbing),
        y=alt.Y("caused_by_org:N", title="caused by", sort=causing),
    )
    coloured = any(r["cost_gbp"] is not None for r in rows)
    cells = base.mark_rect().encode(
        color=alt.Color(
            "cost_gbp:Q",
            title="failure demand £",
            scale=alt.Scale(scheme="oranges"),
            legend=alt.Legend() if coloured else None,
        ),
        tooltip=["caused_by_org:N", "absorbed_by_org:N", "label:N"],
    )
    text = base.mark_text(fontSize=10).encode(text="label:N")
    notes = [line for note in matrix.notes for line in textwrap.wrap(note, 100)]
    chart = (cells + text).properties(
        width=max(240, 110 * len(absorbing)),
        height=max(120, 40 * len(causing)),
        title=alt.Title(
            "Cost of failure demand: who causes it, who pays",
            subtitle=[f"unit costs: {matrix.unit_costs}", *notes],
        ),
    )
    return str(vlc.vegalite_to_svg(chart.to_dict()))
