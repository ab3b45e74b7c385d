"""The cost-shunting heat map: Altair (Vega-Lite), rendered to SVG by vl-convert."""

from __future__ import annotations

import altair as alt
import pyarrow as pa
import vl_convert as vlc


def _money(x: float) -> str:
    return f"£{x:,.0f}"


def heat_map_svg(matrix: pa.Table, unit_costs: str) -> str:
    """The matrix as a heat map: causing organisation down, absorbing across, coloured by
    the cost of the failure demand, each cell labelled with money and contacts."""
    rows = matrix.select(["caused_by_org", "absorbed_by_org", "contacts", "cost_gbp"]).to_pylist()
    for r in rows:
        r["label"] = f"{_money(r['cost_gbp'])} · {r['contacts']:,}"
    data = alt.Data(values=rows)
    causing = sorted({r["caused_by_org"] for r in rows})
    absorbing = sorted({r["absorbed_by_org"] for r in rows})
    base = alt.Chart(data).encode(
        x=alt.X("absorbed_by_org:N", title="absorbed by (pays)", sort=absorbing),
        y=alt.Y("caused_by_org:N", title="caused by", sort=causing),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("cost_gbp:Q", title="failure demand £", scale=alt.Scale(scheme="oranges")),
        tooltip=["caused_by_org:N", "absorbed_by_org:N", "contacts:Q", "cost_gbp:Q"],
    )
    text = base.mark_text(fontSize=10).encode(text="label:N")
    chart = (cells + text).properties(
        width=max(240, 110 * len(absorbing)),
        height=max(120, 40 * len(causing)),
        title=alt.Title(
            "Cost of failure demand: who causes it, who pays",
            subtitle=f"unit costs: {unit_costs}",
        ),
    )
    return str(vlc.vegalite_to_svg(chart.to_dict()))
