"""The fairness section: failure-demand rate, and the classifier's errors, by group of
people, with intervals: the figures of :func:`joinedup.demand.audit`, counted by the
engine so that a workspace of millions of contacts is never read into memory.

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

from datetime import date
from pathlib import Path
from statistics import NormalDist
from typing import Any

import altair as alt

from joinedup.demand import Audit
from joinedup.demand._audit import DIGITAL_CHANNELS, GroupRow, wilson
from joinedup.demand._taxonomy import NEEDS_REVIEW
from joinedup.report import _charts
from joinedup.report._charts import Chart
from joinedup.report._figures import Figures
from joinedup.report._publish import Published
from joinedup.report._sections import Section
from joinedup.report._stages import _lit, _present, _publish_grid, _rows
from joinedup.workspace import Workspace

#: Corrections needed before the classifier's errors are measured against them.
MIN_CORRECTIONS = 50
#: As :func:`joinedup.demand.audit`'s defaults: a gap flagged beyond 5 points, 95% intervals.
GAP, CONFIDENCE = 0.05, 0.95
#: The section's intermediate tables (temporary, dropped when it is built).
_DOBS, _GROUPS, _CONTACTS = "_fair_dobs", "_fair_groups", "_fair_contacts"
_TRUTH_RECORDS, _TRUTH_PEOPLE, _TRUTH_EVENTS = "_fair_records", "_fair_people", "_fair_truth"
_TEMPS = (_CONTACTS, _GROUPS, _DOBS, _TRUTH_EVENTS, _TRUTH_PEOPLE, _TRUTH_RECORDS)
ATTRIBUTES = {"age_band": "age band", "disability": "disability", "digital": "channel use"}


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


def _groups(ws: Workspace, day: date, truth: Path | None) -> list[str] | None:
    """Stage ``_GROUPS``: one row per linked person with a date of birth, their age band
    and, from a synthetic truth, disability. Returns the attribute columns, or None when
    no person has a date of birth.

    A person's date of birth is the one most of their records give (the earliest of
    equals); their disability is the one most of their records' true people have (of
    equals, the one the truth's records file gives first).
    """
    y, m, d = day.year, day.month, day.day
    age = (
        f"({y} - year(dob) - CASE WHEN month(dob) > {m} OR (month(dob) = {m} AND "
        f"day(dob) > {d}) THEN 1 ELSE 0 END)"
    )
    band = (
        f"CASE WHEN {age} < 25 THEN '16-24' WHEN {age} < 35 THEN '25-34' "
        f"WHEN {age} < 50 THEN '35-49' WHEN {age} < 65 THEN '50-64' ELSE '65+' END"
    )
    ws.engine.stage(
        _DOBS,
        "SELECT person_id, dob FROM (SELECT l.person_id, p.date_of_birth AS dob, "
        "row_number() OVER (PARTITION BY l.person_id ORDER BY count(*) DESC, "
        "p.date_of_birth) AS k FROM people p JOIN links l "
        "ON l.org = p.org AND l.local_person_ref = p.local_person_ref "
        "WHERE p.date_of_birth IS NOT NULL GROUP BY l.person_id, p.date_of_birth) AS v "
        "WHERE k = 1",
    )
    if ws.engine.count(_DOBS) == 0:
        return None
    if truth is None:
        ws.engine.stage(_GROUPS, f"SELECT person_id, {band} AS age_band FROM {_DOBS}")
        return ["age_band"]
    ws.engine.read_files(
        _TRUTH_RECORDS,
        [truth / "records.parquet"],
        "parquet",
        columns=["org", "local_person_ref", "person_id"],
    )
    ws.engine.read_files(
        _TRUTH_PEOPLE, [truth / "people.parquet"], "parquet", columns=["person_id", "disability"]
    )
    ws.engine.stage(
        _GROUPS,
        f"WITH votes AS (SELECT l.person_id, CAST(tp.disability AS BOOLEAN) AS disabled, "
        f"count(*) AS n, min(tr._row) AS first FROM {_TRUTH_RECORDS} tr "
        "JOIN links l ON l.org = tr.org AND l.local_person_ref = tr.local_person_ref "
        f"JOIN {_TRUTH_PEOPLE} tp ON tp.person_id = tr.person_id "
        "WHERE tp.disability IS NOT NULL GROUP BY l.person_id, 2), "
        "chosen AS (SELECT person_id, disabled FROM (SELECT person_id, disabled, "
        "row_number() OVER (PARTITION BY person_id ORDER BY n DESC, first) AS k "
        "FROM votes) AS v WHERE k = 1) "
        f"SELECT g.person_id, {band} AS age_band, "
        "CASE WHEN c.disabled THEN 'yes' WHEN NOT c.disabled THEN 'no' END AS disability "
        f"FROM {_DOBS} g LEFT JOIN chosen c ON c.person_id = g.person_id",
    )
    return ["age_band", "disability"]


def _stage_contacts(ws: Workspace, attributes: list[str], labels: bool) -> bool:
    """Stage ``_CONTACTS``: the decided contacts (not left for review) counted (``n``)
    by their label, their true label where there is one, and their person's groups —
    the rows :func:`joinedup.demand.audit` counts, summed. Returns whether any contact
    has a true label.

    A person is the linked one (or the organisation's own reference where the record is
    unlinked); their channel use is digital when at least half of their contacts came by
    web, webchat or email. Contacts are summed per person first (a few per person), so
    the person's channel use and groups are joined to those sums, not to every contact;
    a contact's true label (one per event: the truth file's, or the latest correction)
    is joined before.
    """
    digital = ", ".join(_lit(c) for c in DIGITAL_CHANNELS)
    truth_join, true_col = "", "CAST(NULL AS VARCHAR) AS true_type"
    if labels:
        truth_join = f"LEFT JOIN {_TRUTH_EVENTS} t ON t.event_id = d.event_id"
        true_col = "t.demand_type AS true_type"
    group_cols = "".join(f", coalesce(g.{a}, 'unknown') AS {a}" for a in attributes)
    group_join = f"LEFT JOIN {_GROUPS} g ON g.person_id = p.person_id" if attributes else ""
    ws.engine.stage(
        _CONTACTS,
        "WITH c AS (SELECT coalesce(l.person_id, e.org || '|' || e.local_person_ref) "
        "AS person_id, CASE WHEN d.demand_type = 'failure' THEN 1 ELSE 0 END AS pred, "
        f"{true_col}, d.demand_type <> {_lit(NEEDS_REVIEW)} AS decided, "
        f"e.channel IN ({digital}) AS dig "
        "FROM demand d JOIN events e ON e.event_id = d.event_id "
        "LEFT JOIN links l ON l.org = e.org AND l.local_person_ref = e.local_person_ref "
        f"{truth_join}), "
        "p AS (SELECT person_id, pred, true_type, decided, count(*) AS n, "
        "count(*) FILTER (WHERE dig) AS nd FROM c GROUP BY ALL), "
        "use AS (SELECT person_id, CASE WHEN 2 * sum(nd) >= sum(n) THEN 'digital' "
        "ELSE 'non-digital' END AS digital "
        "FROM p WHERE person_id IS NOT NULL GROUP BY person_id) "
        "SELECT p.pred, p.true_type, "
        f"coalesce(u.digital, 'non-digital') AS digital{group_cols}, "
        "CAST(sum(p.n) AS BIGINT) AS n "
        f"FROM p LEFT JOIN use u ON u.person_id = p.person_id {group_join} "
        "WHERE p.decided GROUP BY ALL",
    )
    if not labels:
        return False
    labelled = _rows(
        ws, f"SELECT coalesce(sum(n) FILTER (WHERE true_type IS NOT NULL), 0) AS n FROM {_CONTACTS}"
    )
    return bool(labelled and labelled[0]["n"])


def _audit(ws: Workspace, by: list[str], *, errors: bool) -> Audit:
    """What :func:`joinedup.demand.audit` gives for the staged contacts (with
    ``errors``, only those with a true label, and the error rates too), counted by the
    engine: the same rates, Wilson intervals and flags, without reading every contact
    into memory. ``tests/report/test_fairness.py`` checks the two agree."""
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
    # Each staged row stands for n contacts.
    counts = "coalesce(sum(n), 0) AS n, sum(pred * n) AS k_pred, " + (
        "sum(yt * n) AS k_true, sum(CASE WHEN pred <> yt THEN n ELSE 0 END) AS wrong, "
        "sum(pred * (1 - yt) * n) AS fp, sum((1 - pred) * yt * n) AS fn "
        if errors
        else "0 AS k_true, 0 AS wrong, 0 AS fp, 0 AS fn "
    )
    source = (
        f"(SELECT *, CASE WHEN true_type = 'failure' THEN 1 ELSE 0 END AS yt FROM {_CONTACTS} "
        "WHERE true_type IS NOT NULL) AS s"
        if errors
        else f"{_CONTACTS} AS s"
    )
    names = ["failure_rate"]
    if errors:
        names += ["true_failure_rate", "error_rate", "false_positive_rate", "false_negative_rate"]

    def measures(r: dict[str, Any]) -> dict[str, tuple[int, int]]:
        n, k_true = int(r["n"]), int(r["k_true"] or 0)
        # Successes and trials behind each rate.
        return {
            "failure_rate": (int(r["k_pred"] or 0), n),
            "true_failure_rate": (k_true, n),
            "error_rate": (int(r["wrong"] or 0), n),
            "false_positive_rate": (int(r["fp"] or 0), n - k_true),
            "false_negative_rate": (int(r["fn"] or 0), k_true),
        }

    def value(k: int, n: int) -> float:
        # A rate over no contacts is 0, as fairlearn gives for an undefined one.
        return round(k / n, 4) if n else 0.0

    whole = measures(_rows(ws, f"SELECT {counts} FROM {source}")[0])
    overall = {k: value(*whole[k]) for k in names}
    rows: list[GroupRow] = []
    for attr in by:
        found = _rows(ws, f"SELECT {attr} AS grp, {counts} FROM {source} GROUP BY {attr}")
        for r in sorted(found, key=lambda r: str(r["grp"])):
            got = measures(r)
            vals: dict[str, tuple[float, float, float]] = {}
            for k in names:
                lo, hi = wilson(*got[k], z=z)
                vals[k] = (value(*got[k]), round(lo, 4), round(hi, 4))
            row = GroupRow(attr, str(r["grp"]), int(r["n"]), vals)
            for k, (v, low, high) in vals.items():
                o = overall[k]
                if abs(v - o) > GAP and (low > o or high < o):
                    row.flags.append(f"{k} {v:.1%} vs {o:.1%} overall")
            rows.append(row)
    return Audit(overall=overall, rows=rows, gap=GAP, has_truth=errors)


def fairness(ws: Workspace, fig: Figures, pub: Published) -> Section | None:
    if not (_present(ws, "demand") and _present(ws, "links")) or fig.period is None:
        return None
    if fig.filters.active:
        # The audit covers every contact in the workspace: leave it out of a filtered view.
        return Section("fairness", "Fairness: who bears failure demand", {"left_out": True})
    truth = _truth_dir(ws)
    try:
        attributes = _groups(ws, date.fromisoformat(fig.period[1]), truth) or []
        by = [*attributes, "digital"]
        against = _labels(ws, truth)
        labelled = _stage_contacts(ws, attributes, against is not None)
        # Rates over every contact; errors only over contacts with a label to check.
        rates = _audit(ws, by, errors=False)
        errors = _audit(ws, by, errors=True) if labelled else None
    finally:
        for name in _TEMPS:
            ws.engine.drop_temp(name)
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
            "against": against if errors is not None else None,
            "gap": rates.gap,
            "attributes": [ATTRIBUTES[b] for b in by],
        },
        charts,
    )


def _labels(ws: Workspace, truth: Path | None) -> str | None:
    """Stage ``_TRUTH_EVENTS`` (event_id, demand_type): the true labels the classifier's
    errors are measured against, and say what they are; None when there are none."""
    if truth is not None:
        ws.engine.read_files(
            _TRUTH_EVENTS,
            [truth / "events.parquet"],
            "parquet",
            columns=["event_id", "demand_type"],
        )
        return "the synthetic population's ground truth"
    if not ws.engine.has_table("label_corrections"):
        return None
    corrections = ws.engine.count("label_corrections")
    if corrections < MIN_CORRECTIONS:
        return None
    # The latest correction of each contact stands.
    ws.engine.stage(
        _TRUTH_EVENTS,
        "SELECT event_id, demand_type FROM (SELECT event_id, demand_type, row_number() "
        "OVER (PARTITION BY event_id ORDER BY corrected_at DESC) AS k "
        "FROM label_corrections) AS c WHERE k = 1",
    )
    return f"{ws.engine.count(_TRUTH_EVENTS):,} analysts' corrections"


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
