"""The journeys section: needs across organisations, how long they take, and the paths
they follow (the organisation-level flow, the activity process map, the top variants).

Every count shown passes disclosure control through
:func:`joinedup.report._publish.grid`; a time (a median or a percentile) is shown only
for a group whose count is shown. Process maps come from
:func:`joinedup.journeys.process_map`; under a dashboard filter they cover the needs with
at least one contact the filter keeps, as every other figure of the section does.
Large tables are cut to their biggest rows plus an "all others" row before control, so
the control stays quick and the total stays true.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from joinedup.journeys import ProcessMap
from joinedup.report import _charts, _graph
from joinedup.report._charts import Chart
from joinedup.report._figures import Figures
from joinedup.report._graph import Edge
from joinedup.report._publish import Published
from joinedup.report._sections import Section
from joinedup.report._stages import _present, _publish_grid, _rows
from joinedup.workspace import Workspace

#: End-to-end time bins, in days: (label, lower bound inclusive).
BINS: list[tuple[str, float]] = [
    ("< 1 day", 0),
    ("1–7 days", 1),
    ("1–2 weeks", 7),
    ("2–4 weeks", 14),
    ("4–6 weeks", 28),
    ("6–8 weeks", 42),
    ("8–13 weeks", 56),
    ("13+ weeks", 91),
]
#: Edges of the activity map considered for publication (the rest are one "other" row).
MAP_EDGES = 40
#: Edges drawn at most, so the map stays readable; the table lists every published one.
MAP_DRAWN = 24
TOP_VARIANTS = 10
#: Workspaces with up to this many linked events have their process maps drawn in
#: memory (about 60 bytes an event while it is read and sorted); larger ones in the engine.
MAPS_IN_MEMORY = 40_000_000
_LABELS = "_rp_labels"
START, END = "(start)", "(end)"
OTHER = "all others"


def journeys(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    if not _present(ws, "episodes"):
        return None
    # With filters, the needs are those with at least one contact the filters keep.
    chosen, kept = "episodes", None
    if fig.filters.active:
        kept = (
            "SELECT ee.episode_id FROM episode_events ee JOIN events e USING (event_id) "
            f"WHERE {fig.filters.where('e')}"
        )
        chosen = f"(SELECT * FROM episodes WHERE episode_id IN ({kept}))"
    stats = _rows(
        ws,
        "SELECT coalesce(need_type, 'unknown') AS need, count(*) AS needs, "
        "count(*) FILTER (WHERE end_reason = 'met' AND contacts = 1) AS first_contact, "
        "count(*) FILTER (WHERE array_length(orgs) > 1) AS multi_org, "
        "quantile_cont(elapsed_seconds, [0.5, 0.85, 0.95]) AS q, "
        f"avg(handoffs) AS mean_handoffs FROM {chosen} AS ep GROUP BY ALL ORDER BY need",
    )
    if not stats:
        return None
    cells = {
        r["need"]: {
            "needs": int(r["needs"]),
            "first": int(r["first_contact"]),
            "multi": int(r["multi_org"]),
        }
        for r in stats
    }
    safe = _publish_grid(pub, cells)
    overall = _rows(
        ws,
        "SELECT median(elapsed_seconds) / 86400.0 AS median_days, count(*) AS n "
        f"FROM {chosen} AS ep",
    )[0]
    total = safe.get("Total", {})
    pub.extra["median_days"] = overall["median_days"] if (overall["n"] or 0) >= 10 else None
    needs, first = total.get("needs"), total.get("first")
    pub.extra["first_contact_share"] = first / needs if needs and first is not None else None
    # Times and means are shown only for needs whose count is published.
    detail = {
        r["need"]: {
            "median_days": _days(r["q"][0]),
            "p85_days": _days(r["q"][1]),
            "p95_days": _days(r["q"][2]),
            "mean_handoffs": r["mean_handoffs"],
        }
        for r in stats
        if safe.get(r["need"], {}).get("needs") is not None and r["q"]
    }
    charts = [c for c in (_needs_chart(safe), _time_chart(ws, chosen, pub)) if c]
    pm, flow = _maps(ws, kept)
    variants: list[dict[str, Any]] = []
    if pm.events:
        charts.extend(c for c in (_org_flow(flow, pub), _process_map(pm, pub)) if c)
        variants = _variants(pm, pub)
        if variants:
            charts.append(_variants_chart(variants))
    # Service shapes describe whole services; they are left out of a filtered view.
    shapes = [] if fig.filters.active else _shapes(ws)
    return Section(
        "journeys",
        "Journeys: needs across organisations",
        {
            "by_need": safe,
            "detail": detail,
            "shapes": shapes,
            "variants": variants,
        },
        charts,
    )


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 86400.0


def _needs_chart(safe: dict[str, dict[str, Any]]) -> Chart | None:
    bar = [
        {"need": n, "measure": "needs met at first contact", "needs": v["first"]}
        for n, v in safe.items()
        if n != "Total" and v.get("first") is not None
    ] + [
        {"need": n, "measure": "needs involving several organisations", "needs": v["multi"]}
        for n, v in safe.items()
        if n != "Total" and v.get("multi") is not None
    ]
    if not bar:
        return None
    chart = (
        alt.Chart(alt.Data(values=bar))
        .mark_bar()
        .encode(
            y=alt.Y("need:N", title=None),
            x=alt.X("needs:Q", title="needs"),
            color=alt.Color("measure:N", title=None),
            yOffset="measure:N",
            tooltip=["need:N", "measure:N", "needs:Q"],
        )
        .properties(width=560)
    )
    return _charts.render(
        chart,
        "Needs met at first contact, and needs that involved several organisations",
        ["need", "measure", "needs"],
        [[b["need"], b["measure"], b["needs"]] for b in bar],
    )


def _time_chart(ws: Workspace, chosen: str, pub: Published) -> Chart | None:
    """How long needs take from first contact to their end (met or abandoned)."""
    cases = " ".join(
        f"WHEN elapsed_seconds >= {lo * 86400} THEN {i}"
        for i, (_, lo) in reversed(list(enumerate(BINS)))
    )
    rows = _rows(
        ws,
        f"SELECT CASE {cases} END AS bin, count(*) AS n FROM {chosen} AS ep "
        "WHERE elapsed_seconds IS NOT NULL GROUP BY ALL",
    )
    if not rows:
        return None
    # One column, not split by how the need ended: a split withholds whole bins where
    # few needs were abandoned.
    safe = _publish_grid(pub, {BINS[int(r["bin"])][0]: {"needs": int(r["n"])} for r in rows})
    order = [label for label, _ in BINS]
    bars = [
        {"time": label, "needs": v}
        for label in order
        if (v := safe.get(label, {}).get("needs")) is not None
    ]
    if not bars:
        return None
    chart = (
        alt.Chart(alt.Data(values=bars))
        .mark_bar(color="#1d70b8")
        .encode(
            x=alt.X(
                "time:O",
                scale=alt.Scale(domain=order),
                title="time from first contact to the end of the need",
                axis=alt.Axis(labelAngle=0, labelLimit=70),
            ),
            y=alt.Y("needs:Q", title="needs"),
            tooltip=["time:O", "needs:Q"],
        )
        .properties(width=560, height=220)
    )
    return _charts.render(
        chart,
        "End-to-end time: needs by the time from first contact to their end",
        ["time", "needs"],
        [[b["time"], b["needs"]] for b in bars],
    )


def _maps(ws: Workspace, episodes: str | None) -> tuple[ProcessMap, ProcessMap]:
    """The activity-level and organisation-level process maps of the episodes
    ``episodes`` selects (all when None): the same figures as
    :func:`joinedup.journeys.process_map` by activity and by organisation.

    An activity's label names its organisation, so the organisation-level log is the
    activity-level one with each label replaced by its organisation: the log is read
    from the engine once, each event as a small label code (at a million people that is
    20 million events), sorted once, and both maps drawn from it in memory. A log too
    large to hold, or one the in-memory path cannot take (a missing time), goes to
    :func:`joinedup.journeys.process_map`, which works in the engine.
    """
    from joinedup import journeys as stage

    drawn = None
    if ws.count("episode_events") <= MAPS_IN_MEMORY:
        try:
            drawn = _maps_in_memory(ws, episodes)
        finally:
            ws.engine.drop_temp(_LABELS)
    if drawn is not None:
        return drawn
    return (
        stage.process_map(ws, by="activity", episodes=episodes),
        stage.process_map(ws, by="org", episodes=episodes),
    )


def _maps_in_memory(ws: Workspace, episodes: str | None) -> tuple[ProcessMap, ProcessMap] | None:
    import numpy as np
    import pyarrow as pa

    from joinedup.journeys._dfg import map_of
    from joinedup.journeys._map import numbered_labels
    from joinedup.journeys._ordered import Ordered, order

    # Labels as journeys.process_map makes them, numbered in label order.
    ws.engine.stage(_LABELS, numbered_labels())
    labels = ws.engine.to_arrow(
        ws.engine.sql(f"SELECT DISTINCT code, label, org FROM {_LABELS} ORDER BY code")
    )
    codes = labels.column("code").to_pylist()
    if len(set(codes)) != len(codes):  # one label from two organisations
        return None
    where = f"WHERE ee.episode_id IN ({episodes})" if episodes is not None else ""
    log = ws.engine.to_arrow(
        ws.engine.sql(
            f"SELECT ee.episode_id AS case_id, l.code AS activity, "
            "epoch_us(e.occurred_at) AS us, CAST(ee.position AS BIGINT) AS ord "
            "FROM episode_events ee JOIN events e ON e.event_id = ee.event_id "
            f"JOIN {_LABELS} l ON l.org = e.org AND l.activity IS NOT DISTINCT FROM e.activity "
            f"{where}"
        )
    )
    names = labels.column("label").combine_chunks()
    coded = pa.chunked_array(
        [pa.DictionaryArray.from_arrays(c, names) for c in log.column("activity").chunks],
        pa.dictionary(pa.int32(), pa.string()),
    )
    ordered = order(log.set_column(1, "activity", coded))
    del log, coded
    if ordered is None:
        return None
    by_activity = map_of(ordered)
    orgs = sorted(set(labels.column("org").to_pylist()))
    org_of = np.array([orgs.index(o) for o in labels.column("org").to_pylist()], np.int32)
    # The codes index the label table as it was read; map them through to organisations.
    label_no = {n: i for i, n in enumerate(names.to_pylist())}
    by_label = np.array([org_of[label_no[n]] for n in ordered.names.to_pylist()], np.int32)
    by_org = Ordered(
        codes=by_label[ordered.codes],
        us=ordered.us,
        first=ordered.first,
        names=pa.array(orgs, pa.string()),
    )
    return by_activity, map_of(by_org, with_variants=False)


def _org_flow(flow: ProcessMap, pub: Published) -> Chart | None:
    """Hand-offs between organisations, from the organisation-level process map."""
    orgs = sorted(
        {r["source"] for r in flow.dfg.to_pylist()} | {r["target"] for r in flow.dfg.to_pylist()}
    )
    handoffs = [r for r in flow.dfg.to_pylist() if r["source"] != r["target"]]
    if not handoffs or len(orgs) < 2:
        return None
    # One row per pair, not an organisation-by-organisation grid: the grid's diagonal
    # (an organisation to itself) is no hand-off, and as a zero it would be protected
    # by withholding real pairs.
    cells = {f"{r['source']}\x1f{r['target']}": {"n": int(r["frequency"])} for r in handoffs}
    safe = _publish_grid(pub, cells)
    edges = [
        Edge(r["source"], r["target"], v, _days(r["median_seconds"]))
        for r in handoffs
        if (v := safe.get(f"{r['source']}\x1f{r['target']}", {}).get("n")) is not None
    ]
    if not edges:
        return None
    pos, labels, size = _graph.ring_positions(orgs, radius=150)
    return _graph.draw(
        pos,
        sorted(edges, key=lambda e: (e.source, e.target)),
        title="Hand-offs between organisations: the next event of a need was at another "
        "organisation (thickness: how often; colour: median days between)",
        count_title="hand-offs",
        width=size,
        height=size,
        label_at=labels,
        bend=0.12,
    )


def _process_map(pm: ProcessMap, pub: Published) -> Chart | None:
    """The activity-level directly-follows graph: its most frequent published edges."""
    candidates = [
        (r["source"], r["target"], int(r["frequency"]), _days(r["median_seconds"]))
        for r in pm.dfg.to_pylist()
    ]
    candidates += [(START, r["activity"], int(r["cases"]), None) for r in pm.starts.to_pylist()]
    candidates += [(r["activity"], END, int(r["cases"]), None) for r in pm.ends.to_pylist()]
    candidates.sort(key=lambda c: (-c[2], c[0], c[1]))
    top, rest = candidates[:MAP_EDGES], candidates[MAP_EDGES:]
    cells = {f"{s}\x1f{t}": {"n": n} for s, t, n, _ in top}
    if rest:
        cells[OTHER] = {"n": sum(c[2] for c in rest)}
    safe = _publish_grid(pub, cells)
    edges = [
        Edge(s, t, v, d)
        for s, t, _, d in top
        if (v := safe.get(f"{s}\x1f{t}", {}).get("n")) is not None
    ][:MAP_DRAWN]
    if not edges:
        return None
    nodes = [START, *sorted({n for e in edges for n in (e.source, e.target)} - {START, END})]
    nodes += [END] if any(e.target == END for e in edges) else []
    if not any(e.source == START for e in edges):
        nodes.remove(START)
    groups = _graph.layers(nodes, edges, first=START if START in nodes else None)
    if END in nodes:  # the end is always the last column, on its own
        for g in groups:
            if END in g:
                g.remove(END)
        groups = [g for g in groups if g] + [[END]]
    pos, width, height = _graph.layered_positions(groups, column=165, row=78)
    return _graph.draw(
        pos,
        edges,
        title=f"Process map: the {len(edges)} most frequent steps from one activity to the "
        "next within a need (thickness: how often; colour: median days between)",
        count_title="transitions",
        width=width,
        height=height,
    )


def _variants(pm: ProcessMap, pub: Published) -> list[dict[str, Any]]:
    rows = pm.variants.select(["variant", "cases"]).to_pylist()
    if not rows:
        return []
    top, rest = rows[:TOP_VARIANTS], rows[TOP_VARIANTS:]
    cells = {r["variant"]: {"needs": int(r["cases"])} for r in top}
    if rest:
        cells[OTHER] = {"needs": sum(int(r["cases"]) for r in rest)}
    safe = _publish_grid(pub, cells)
    total = safe.get("Total", {}).get("needs")
    out = []
    for rank, r in enumerate(top, start=1):
        v = safe.get(r["variant"], {}).get("needs")
        if v is None:
            continue
        steps = r["variant"].split(" > ")
        out.append(
            {
                "rank": rank,
                "variant": r["variant"],
                "steps": len(steps),
                "needs": v,
                "share": v / total if total else None,
            }
        )
    if rest and out:
        out.append(
            {
                "rank": None,
                "variant": f"{OTHER} ({len(rest):,} variants)",
                "steps": None,
                "needs": safe.get(OTHER, {}).get("needs"),
                "share": None,
            }
        )
    return out


def _variants_chart(variants: list[dict[str, Any]]) -> Chart:
    shown = [v for v in variants if v["rank"] is not None]
    data = [{"variant": f"{v['rank']}. {_short(v['variant'])}", "needs": v["needs"]} for v in shown]
    chart = (
        alt.Chart(alt.Data(values=data))
        .mark_bar(color="#1d70b8")
        .encode(
            y=alt.Y("variant:N", sort=None, title=None, axis=alt.Axis(labelLimit=330)),
            x=alt.X("needs:Q", title="needs"),
            tooltip=["variant:N", "needs:Q"],
        )
        .properties(width=260, height=max(60, 26 * len(data)), padding={"left": 60})
    )
    return _charts.render(
        chart,
        "The most common paths (variants) a need took, activity by activity",
        ["rank", "variant", "needs"],
        [[v["rank"], v["variant"], v["needs"]] for v in shown],
        measures=("rank",),
    )


def _short(variant: str) -> str:
    """A variant as its activities without the organisation repeated on every step."""
    out, last = [], None
    for step in variant.split(" > "):
        org, _, act = step.partition(": ")
        out.append(step if org != last else act)
        last = org
    return " › ".join(out)


def _shapes(ws: Workspace) -> list[dict[str, Any]]:
    from joinedup import journeys as stage

    try:
        table = stage.service_shapes(ws)
    except Exception:  # the journeys stage may not offer shapes on this workspace
        return []
    keep = ("service", "shape", "episodes", "variant_entropy", "orgs_per_need")
    return [
        {k: r.get(k) for k in keep if k in r}
        for r in table.to_pylist()
        if (r.get("episodes") or 0) >= 10
    ]
