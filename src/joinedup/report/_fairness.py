"""The fairness section: failure-demand rate, and the classifier's errors, by group of
people, with intervals, from :func:`joinedup.demand.audit`.

Groups come only from what the workspace holds:

- **age band**, from the date of birth in the organisations' person records, joined to
  contacts through ``links`` (a person's most common date of birth; age on the last day
  of the data);
- **digital channel use**, from each person's own contacts (the audit's rule);
- **disability**, only where a synthetic population's ground truth is kept in the
  workspace (a demonstration: no organisation's export carries it).

Classifier errors need labels to compare against: the synthetic ground truth where the
workspace keeps it, otherwise analysts' corrections once there are enough of them. With
neither, the section shows rates only; with no group at all, it is absent.

The counts behind every rate (failure and value contacts; errors and correct labels)
pass disclosure control; a rate is shown only where both its counts are published.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import altair as alt
import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.report import _charts
from joinedup.report._charts import Chart
from joinedup.report._figures import Figures
from joinedup.report._publish import Published
from joinedup.report._sections import Section
from joinedup.report._stages import _present, _publish_grid, _rows
from joinedup.workspace import Workspace

#: Corrections needed before the classifier's errors are measured against them.
MIN_CORRECTIONS = 50
ATTRIBUTES = {"age_band": "age band", "disability": "disability", "digital": "channel use"}


def _age_band(age: int) -> str:
    # The bands the synthetic population and the fairness findings use.
    for upper, band in ((25, "16-24"), (35, "25-34"), (50, "35-49"), (65, "50-64")):
        if age < upper:
            return band
    return "65+"


def _age_on(dob: date, day: date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _truth_dir(ws: Workspace) -> Path | None:
    """The synthetic population's ground truth, if the workspace made and keeps one."""
    if not any(r["command"] == "synth" and r["status"] == "ok" for r in ws.runs()):
        return None
    for run in ws.runs():
        if run["command"] == "synth" and run["outputs"].get("truth"):
            candidate = Path(str(run["outputs"]["truth"]))
            if not candidate.is_absolute():  # recorded relative to the workspace
                candidate = ws.path / candidate
            break
    else:
        candidate = ws.path / "synth" / "truth"  # where the demo writes it
    need = ("people.parquet", "records.parquet", "events.parquet")
    return candidate if all((candidate / n).is_file() for n in need) else None


def _groups(ws: Workspace, day: date, truth: Path | None) -> pa.Table | None:
    """One row per linked person: their age band and, from a synthetic truth, disability."""
    dobs = _rows(
        ws,
        "SELECT l.person_id, p.date_of_birth AS dob FROM people p JOIN links l "
        "ON l.org = p.org AND l.local_person_ref = p.local_person_ref "
        "WHERE p.date_of_birth IS NOT NULL",
    )
    if not dobs:
        return None
    by_person: dict[str, Counter[date]] = {}
    for r in dobs:
        by_person.setdefault(r["person_id"], Counter())[r["dob"]] += 1
    people = sorted(by_person)
    cols: dict[str, list[Any]] = {
        "person_id": people,
        "age_band": [_age_band(_age_on(by_person[p].most_common(1)[0][0], day)) for p in people],
    }
    if truth is not None:
        links = {
            (r["org"], r["local_person_ref"]): r["person_id"]
            for r in ws.read("links").select(["org", "local_person_ref", "person_id"]).to_pylist()
        }
        true_of = pq.read_table(truth / "records.parquet").to_pylist()
        disabled = dict(
            zip(
                *pq.read_table(truth / "people.parquet", columns=["person_id", "disability"])
                .to_pydict()
                .values(),
                strict=True,
            )
        )
        votes: dict[str, Counter[bool]] = {}
        for r in true_of:
            linked = links.get((r["org"], r["local_person_ref"]))
            if linked is not None and disabled.get(r["person_id"]) is not None:
                votes.setdefault(linked, Counter())[bool(disabled[r["person_id"]])] += 1
        cols["disability"] = [
            ("yes" if votes[p].most_common(1)[0][0] else "no") if p in votes else None
            for p in people
        ]
    return pa.table(cols)


def fairness(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    if not (_present(ws, "demand") and _present(ws, "links")) or fig.period is None:
        return None
    if fig.filters.active:
        # The audit covers every contact in the workspace: leave it out of a filtered view.
        return Section("fairness", "Fairness: who bears failure demand", {"left_out": True})
    from joinedup import demand

    truth = _truth_dir(ws)
    groups = _groups(ws, date.fromisoformat(fig.period[1]), truth)
    by = ["digital"]
    if groups is not None:
        by = ["age_band", *(["disability"] if "disability" in groups.column_names else []), *by]
    with tempfile.TemporaryDirectory(prefix="joinedup-fairness-") as tmp:
        path = Path(tmp) / "groups.parquet"
        if groups is not None:
            pq.write_table(groups, path)
        # Rates over every contact; errors (next) only over contacts with a label to check.
        rates = demand.audit(ws, by=by, groups=path if groups is not None else None)
        errors, against = None, None
        labels = _labels(ws, Path(tmp), truth)
        if labels is not None:
            errors = demand.audit(
                ws, by=by, groups=path if groups is not None else None, truth=labels[0]
            )
            against = labels[1]
    rows = _publish_rates(pub, rates, errors)
    if not rows:
        return None
    charts = [_rate_chart(rows, rates.overall["failure_rate"])]
    if errors is not None and any(r.get("error_rate") is not None for r in rows):
        charts.append(_error_chart(rows, errors.overall["error_rate"]))
    return Section(
        "fairness",
        "Fairness: who bears failure demand",
        {
            "left_out": False,
            "rows": rows,
            "overall": rates.overall["failure_rate"],
            "overall_error": errors.overall["error_rate"] if errors is not None else None,
            "against": against,
            "gap": rates.gap,
            "attributes": [ATTRIBUTES[b] for b in by],
        },
        charts,
    )


def _labels(ws: Workspace, tmp: Path, truth: Path | None) -> tuple[Path, str] | None:
    """A folder the audit reads true labels from, and what they are."""
    if truth is not None:
        return truth, "the synthetic population's ground truth"
    corrections = ws.read("label_corrections")
    if corrections.num_rows < MIN_CORRECTIONS:
        return None
    # The latest correction of each contact stands.
    latest: dict[str, str] = {}
    for r in sorted(corrections.to_pylist(), key=lambda r: r["corrected_at"]):
        latest[r["event_id"]] = r["demand_type"]
    folder = tmp / "labels"
    folder.mkdir()
    table = pa.table({"event_id": list(latest), "demand_type": list(latest.values())})
    pq.write_table(table, folder / "events.parquet")
    return folder, f"{len(latest):,} analysts' corrections"


def _publish_rates(pub: Published, rates: Any, errors: Any) -> list[dict[str, Any]]:
    def key(attribute: str, group: str) -> str:
        return f"{attribute}\x1f{group}"

    counts = {}
    for r in rates.rows:
        v, _, _ = r.metrics["failure_rate"]
        failure = round(v * r.contacts)
        counts[key(r.attribute, r.group)] = {"failure": failure, "value": r.contacts - failure}
    safe = _publish_grid(pub, counts)
    safe_err: dict[str, dict[str, Any]] = {}
    by_key = {}
    if errors is not None:
        err_counts = {}
        for r in errors.rows:
            e, _, _ = r.metrics["error_rate"]
            wrong = round(e * r.contacts)
            err_counts[key(r.attribute, r.group)] = {"errors": wrong, "correct": r.contacts - wrong}
            by_key[key(r.attribute, r.group)] = r
        safe_err = _publish_grid(pub, err_counts)
    out = []
    for r in rates.rows:
        k = key(r.attribute, r.group)
        f, v = safe.get(k, {}).get("failure"), safe.get(k, {}).get("value")
        if f is None or v is None:
            continue
        rate, low, high = r.metrics["failure_rate"]
        row: dict[str, Any] = {
            "attribute": ATTRIBUTES.get(r.attribute, r.attribute),
            "group": r.group,
            "contacts": f + v,
            "failure_rate": rate,
            "low": low,
            "high": high,
            "flag": any(flag.startswith("failure_rate") for flag in r.flags),
            "error_rate": None,
        }
        e = by_key.get(k)
        w, c = safe_err.get(k, {}).get("errors"), safe_err.get(k, {}).get("correct")
        if e is not None and w is not None and c is not None:
            er, el, eh = e.metrics["error_rate"]
            row.update(
                error_rate=er,
                error_low=el,
                error_high=eh,
                false_positive=e.metrics["false_positive_rate"][0],
                false_negative=e.metrics["false_negative_rate"][0],
                error_flag=any(flag.startswith("error_rate") for flag in e.flags),
            )
        out.append(row)
    return out


def _interval_chart(
    rows: list[dict[str, Any]], *, value: str, low: str, high: str, overall: float, axis: str
) -> alt.LayerChart:
    data = [
        {
            "group": f"{r['attribute']}: {r['group']}",
            "attribute": r["attribute"],
            "rate": r[value],
            "low": r[low],
            "high": r[high],
        }
        for r in rows
        if r.get(value) is not None
    ]
    order = [d["group"] for d in data]
    y = alt.Y("group:N", sort=order, title=None)
    interval = (
        alt.Chart(alt.Data(values=data))
        .mark_rule(strokeWidth=2)
        .encode(
            y=y,
            x=alt.X("low:Q", title=axis, axis=alt.Axis(format="%")),
            x2="high:Q",
            color=alt.Color("attribute:N", title=None),
        )
    )
    point = (
        alt.Chart(alt.Data(values=data))
        .mark_point(filled=True, size=70)
        .encode(
            y=y,
            x="rate:Q",
            color=alt.Color("attribute:N", title=None),
            tooltip=[
                "group:N",
                alt.Tooltip("rate:Q", format=".1%"),
                alt.Tooltip("low:Q", format=".1%"),
                alt.Tooltip("high:Q", format=".1%"),
            ],
        )
    )
    centre = (
        alt.Chart(alt.Data(values=[{"overall": overall}]))
        .mark_rule(color="#505a5f", strokeDash=[4, 3])
        .encode(x="overall:Q")
    )
    return (interval + point + centre).properties(width=480, height=max(60, 24 * len(data)))


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 1)


def _rate_chart(rows: list[dict[str, Any]], overall: float) -> Chart:
    chart = _interval_chart(
        rows,
        value="failure_rate",
        low="low",
        high="high",
        overall=overall,
        axis="failure-demand rate (95% interval; dashed: all contacts)",
    )
    return _charts.render(
        chart,
        "Failure-demand rate by group, with 95% intervals",
        ["group", "contacts", "rate %", "lower %", "upper %"],
        [
            [
                f"{r['attribute']}: {r['group']}",
                r["contacts"],
                _pct(r["failure_rate"]),
                _pct(r["low"]),
                _pct(r["high"]),
            ]
            for r in rows
        ],
        measures=("rate %", "lower %", "upper %"),
    )


def _error_chart(rows: list[dict[str, Any]], overall: float) -> Chart:
    shown = [r for r in rows if r.get("error_rate") is not None]
    chart = _interval_chart(
        shown,
        value="error_rate",
        low="error_low",
        high="error_high",
        overall=overall,
        axis="classifier error rate, value or failure (95% interval)",
    )
    return _charts.render(
        chart,
        "Classifier error rate by group, with 95% intervals",
        ["group", "error %", "lower %", "upper %", "false failure %", "missed failure %"],
        [
            [
                f"{r['attribute']}: {r['group']}",
                _pct(r["error_rate"]),
                _pct(r["error_low"]),
                _pct(r["error_high"]),
                _pct(r["false_positive"]),
                _pct(r["false_negative"]),
            ]
            for r in shown
        ],
        measures=("error %", "lower %", "upper %", "false failure %", "missed failure %"),
    )
