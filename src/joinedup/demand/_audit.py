"""Fairness audit: failure-demand rate and classifier errors by group, with intervals.

Groups come from a table of people (``person_id`` plus attribute columns, e.g. the
synthetic population's ``truth/people.parquet``), joined to contacts through ``links``.
``digital`` needs no such table: it is each person's own channel use (at least half of
their contacts by web, webchat or email), which is what "digital by default" turns on.

Each rate is computed with fairlearn's ``MetricFrame``, with a Wilson score interval
(every rate here is a proportion: of contacts, of true-value or of true-failure
contacts). Contacts of one person are not independent, so the intervals are somewhat
narrower than they should be. A group is flagged only when its rate differs from the
overall rate by more than ``gap`` *and* its whole interval lies beyond the overall rate
on that side, so a small group's noisy rate does not raise a false alarm.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pyarrow.parquet as pq

from joinedup.demand._errors import DemandError
from joinedup.demand._taxonomy import NEEDS_REVIEW
from joinedup.workspace import Workspace

DIGITAL_CHANNELS = ("web", "webchat", "email")


@dataclass
class GroupRow:
    attribute: str
    group: str
    contacts: int
    metrics: dict[str, tuple[float, float, float]]  # name -> (value, low, high)
    flags: list[str] = field(default_factory=list)


@dataclass
class Audit:
    """Rates per group with intervals, the overall rates, and the flagged gaps."""

    overall: dict[str, float]
    rows: list[GroupRow]
    gap: float
    has_truth: bool

    @property
    def flagged(self) -> list[GroupRow]:
        return [r for r in self.rows if r.flags]

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall,
            "gap": self.gap,
            "has_truth": self.has_truth,
            "groups": [r.__dict__ for r in self.rows],
        }


def _contacts(ws: Workspace, truth_dir: Path | None) -> pd.DataFrame:
    eng = ws.engine
    if eng.count("demand") == 0:
        raise DemandError("the workspace's demand table is empty: run `joinedup demand classify`")
    df = eng.to_arrow(
        eng.sql(
            """
            SELECT d.event_id, d.demand_type, e.channel,
                   coalesce(l.person_id, e.org || '|' || e.local_person_ref) AS person_id
            FROM demand d JOIN events e ON e.event_id = d.event_id
            LEFT JOIN links l ON l.org = e.org AND l.local_person_ref = e.local_person_ref
            """
        )
    ).to_pandas()
    digital_share = (
        df.assign(d=df["channel"].isin(DIGITAL_CHANNELS)).groupby("person_id")["d"].mean()
    )
    df["digital"] = (
        df["person_id"].map(digital_share).ge(0.5).map({True: "digital", False: "non-digital"})
    )
    if truth_dir is not None:
        ev = pq.read_table(
            truth_dir / "events.parquet", columns=["event_id", "demand_type", "person_id"]
        )
        # The truth's person ids are its own, not the links' (which linkage made up), so
        # the truth's people attributes join through the truth's events.
        truth = ev.to_pandas().rename(
            columns={"demand_type": "true_type", "person_id": "true_person_id"}
        )
        df = df.merge(truth, on="event_id", how="left")
    return df


def _groups_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DemandError(f"no groups file at {path}")
    if path.suffix == ".parquet":
        g = pq.read_table(path).to_pandas()
    else:
        g = pd.read_csv(path, dtype=str)
    if "person_id" not in g.columns:
        raise DemandError(f"{path}: needs a person_id column")
    return g


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (Wilson 1927): honest for small n and
    for rates near 0 or 1, where the normal approximation is not."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _frame(values: pd.Series) -> pd.Series:
    """Attribute values as readable group names (booleans become yes/no)."""
    if values.dtype == bool:
        return values.map({True: "yes", False: "no"})
    return values.astype("string").fillna("unknown")


def audit(
    ws: Workspace,
    *,
    by: list[str] | None = None,
    groups: Path | str | None = None,
    truth: Path | str | None = None,
    gap: float = 0.05,
    confidence: float = 0.95,
) -> Audit:
    """Failure-demand rate (and, with truth, error rates) per group of people."""
    from statistics import NormalDist

    from fairlearn.metrics import (  # type: ignore[import-untyped]
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
    )

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    by = by or ["age_band", "disability", "digital"]
    truth_dir = None
    groups_from_truth = False
    if truth is not None:
        truth_dir = Path(truth)
        if (truth_dir / "truth").is_dir():
            truth_dir = truth_dir / "truth"
        if groups is None and (truth_dir / "people.parquet").is_file():
            groups = truth_dir / "people.parquet"
            groups_from_truth = True
    df = _contacts(ws, truth_dir)
    needs_table = [b for b in by if b != "digital"]
    if needs_table:
        if groups is None:
            raise DemandError(
                f"attribute(s) {', '.join(needs_table)} need a groups file "
                "(--groups people.parquet with person_id and those columns, or --truth)"
            )
        g = _groups_table(Path(groups))
        missing = [b for b in needs_table if b not in g.columns]
        if missing:
            raise DemandError(
                f"{groups}: no column(s) {', '.join(missing)}; columns are {', '.join(g.columns)}"
            )
        key = "true_person_id" if groups_from_truth else "person_id"
        g = g[["person_id", *needs_table]].rename(columns={"person_id": key})
        df = df.merge(g, on=key, how="left")

    decided = df[df["demand_type"] != NEEDS_REVIEW].copy()
    y_pred = (decided["demand_type"] == "failure").astype(int).to_numpy()
    has_truth = "true_type" in decided.columns and decided["true_type"].notna().any()
    if has_truth:
        decided = decided[decided["true_type"].notna()]
        y_pred = (decided["demand_type"] == "failure").astype(int).to_numpy()
        y_true = (decided["true_type"] == "failure").astype(int).to_numpy()
    else:
        y_true = y_pred

    def failure_rate(yt: np.ndarray, yp: np.ndarray) -> float:
        return float(np.mean(yp)) if len(yp) else float("nan")

    metrics: dict[str, Any] = {"failure_rate": failure_rate}
    if has_truth:

        def true_failure_rate(yt: np.ndarray, yp: np.ndarray) -> float:
            return float(np.mean(yt)) if len(yt) else float("nan")

        def error_rate(yt: np.ndarray, yp: np.ndarray) -> float:
            return float(np.mean(yt != yp)) if len(yt) else float("nan")

        metrics.update(
            true_failure_rate=true_failure_rate,
            error_rate=error_rate,
            false_positive_rate=false_positive_rate,
            false_negative_rate=false_negative_rate,
        )
    overall: dict[str, float] = {}
    rows: list[GroupRow] = []
    for attr in by:
        sf = (_frame(decided[attr]) if attr != "digital" else decided["digital"]).to_numpy()
        with warnings.catch_warnings():
            # A group with no true failures (or none true values) has an undefined
            # false-negative (false-positive) rate; fairlearn warns and gives 0.
            warnings.simplefilter("ignore")
            mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
        overall = {k: round(float(v), 4) for k, v in mf.overall.items()}
        for grp in mf.by_group.index:
            mask = sf == grp
            yt, yp = y_true[mask], y_pred[mask]
            # Successes and trials behind each rate, for its interval.
            counts = {
                "failure_rate": (int(yp.sum()), len(yp)),
                "true_failure_rate": (int(yt.sum()), len(yt)),
                "error_rate": (int((yt != yp).sum()), len(yt)),
                "false_positive_rate": (int((yp & (1 - yt)).sum()), int((1 - yt).sum())),
                "false_negative_rate": (int(((1 - yp) & yt).sum()), int(yt.sum())),
            }
            vals: dict[str, tuple[float, float, float]] = {}
            for k in metrics:
                lo, hi = wilson(*counts[k], z=z)
                vals[k] = (round(float(mf.by_group.loc[grp, k]), 4), round(lo, 4), round(hi, 4))
            row = GroupRow(attr, str(grp), int(mask.sum()), vals)
            for k, (v, low, high) in vals.items():
                o = overall[k]
                if abs(v - o) > gap and (low > o or high < o):
                    row.flags.append(f"{k} {v:.1%} vs {o:.1%} overall")
            rows.append(row)
    return Audit(overall=overall, rows=rows, gap=gap, has_truth=bool(has_truth))
