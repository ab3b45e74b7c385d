"""How good the labels are: against an analyst's labels, or against synthetic truth.

Two accuracies are reported because ``needs_review`` is an answer, not an error: the
*best-label* figures score the model's best category for every note (what it would say
if forced), the *decided* figures score only the notes it did not send for review, with
the share sent for review beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.metrics import (  # type: ignore[import-untyped]
    confusion_matrix,
    precision_recall_fscore_support,
)

from joinedup.demand._build import read_labels
from joinedup.demand._errors import DemandError
from joinedup.demand._settings import DemandSettings
from joinedup.demand._taxonomy import NEEDS_REVIEW, Taxonomy
from joinedup.demand._text import TextModel, load_model
from joinedup.workspace import Workspace


@dataclass
class Evaluation:
    """Scores of predicted against true labels."""

    n: int
    binary_accuracy: float
    category_accuracy: float
    macro_f1: float
    per_category: dict[str, dict[str, float]]
    labels: list[str]
    confusion: list[list[int]]
    review_rate: float
    decided_accuracy: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def score(
    truth: list[str], predicted: list[str], decided: list[str], taxonomy: Taxonomy
) -> Evaluation:
    """Compare categories; ``predicted`` is the best label, ``decided`` may say needs_review."""
    if not truth:
        raise DemandError("nothing to evaluate: no labelled rows")
    t = np.array(truth, dtype=object)
    p = np.array(predicted, dtype=object)
    d = np.array(decided, dtype=object)
    t_type = np.array([taxonomy.type_of(x) for x in t])
    p_type = np.array([taxonomy.type_of(x) for x in p])
    labels = [c for c in taxonomy.codes if c in set(t) | set(p)]
    extra = sorted((set(t) | set(p)) - set(labels))
    labels += extra
    prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    present = [i for i, c in enumerate(labels) if c in set(t)]
    per = {
        c: {
            "precision": round(float(prec[i]), 4),
            "recall": round(float(rec[i]), 4),
            "f1": round(float(f1[i]), 4),
            "support": int(sup[i]),
        }
        for i, c in enumerate(labels)
    }
    review = d == NEEDS_REVIEW
    return Evaluation(
        n=len(t),
        binary_accuracy=round(float(np.mean(t_type == p_type)), 4),
        category_accuracy=round(float(np.mean(t == p)), 4),
        macro_f1=round(float(np.mean([f1[i] for i in present])), 4),
        per_category=per,
        labels=labels,
        confusion=confusion_matrix(t, p, labels=labels).tolist(),
        review_rate=round(float(review.mean()), 4),
        decided_accuracy=round(float(np.mean(t[~review] == d[~review])), 4)
        if (~review).any()
        else None,
    )


def evaluate_labels(
    path: Path | str,
    *,
    text_col: str = "note",
    label_col: str = "category",
    model: TextModel | Path | str | None = None,
    settings: DemandSettings | None = None,
) -> Evaluation:
    """Score the text model on a CSV of labelled notes."""
    s = settings or DemandSettings()
    m = model if isinstance(model, TextModel) else load_model(model)
    rows = read_labels(path, text_col, label_col, m.taxonomy)
    pred = m.predict(
        [r.text for r in rows],
        threshold=s.threshold,
        type_threshold=s.type_threshold,
        min_known=s.min_known,
    )
    best = [b if b != NEEDS_REVIEW else _fallback(m) for b in pred.best]
    return score([r.category for r in rows], best, pred.category, m.taxonomy)


def _fallback(m: TextModel) -> str:
    # An unreadable note has no best label; scoring it as the commonest kind of contact
    # counts it as wrong for every other category, which is what it is.
    return m.classes[0]


def evaluate_truth(
    ws: Workspace, truth_dir: Path | str, *, taxonomy: Taxonomy | None = None
) -> Evaluation:
    """Score the workspace's ``demand`` table against a synthetic population's truth."""
    from joinedup.demand._taxonomy import DEFAULT_TAXONOMY

    tax = taxonomy or DEFAULT_TAXONOMY
    path = Path(truth_dir)
    if (path / "truth").is_dir():
        path = path / "truth"
    events_file = path / "events.parquet"
    if not events_file.is_file():
        raise DemandError(f"no truth/events.parquet under {truth_dir}")
    names = pq.read_schema(events_file).names
    wanted = ["event_id", "direction", "category", "caused_by_org", "failure"]
    truth = pq.read_table(events_file, columns=[c for c in wanted if c in names])
    truth = truth.filter(pc.equal(truth.column("direction"), "in"))
    demand = ws.read("demand")
    if demand.num_rows == 0:
        raise DemandError("the workspace's demand table is empty: run `joinedup demand classify`")
    joined = demand.join(truth, "event_id", right_suffix="_true", join_type="inner")
    if joined.num_rows == 0:
        raise DemandError("no event of the demand table is in the truth: wrong --truth folder?")
    t = joined.column("category_true").to_pylist()
    d = joined.column("category").to_pylist()
    dt = joined.column("demand_type").to_pylist()
    # For the best-label scores a review label counts as the commonest value category:
    # wrong unless the contact really was one.
    best = [
        c if c != NEEDS_REVIEW else ("service" if ty != "failure" else "chase")
        for c, ty in zip(d, dt, strict=True)
    ]
    ev = score(t, best, d, tax)
    ev.extra.update(_cause_accuracy(joined, tax))
    if "failure" in joined.column_names and "cause" in joined.column_names:
        ev.extra["root_cause"] = _root_cause_accuracy(joined)
    ev.extra["by_decider"] = _by_decider(joined, tax)
    ev.extra["matched_events"] = joined.num_rows
    return ev


def _cause_accuracy(joined: pa.Table, tax: Taxonomy) -> dict[str, Any]:
    true_cause = joined.column("caused_by_org_true").to_pylist()
    pred_cause = joined.column("caused_by_org").to_pylist()
    pred_type = joined.column("demand_type").to_pylist()
    recv = joined.column("received_by_org").to_pylist()
    fail = [i for i, c in enumerate(true_cause) if c is not None]
    both = [i for i in fail if pred_type[i] == "failure"]
    elsewhere = [i for i in both if true_cause[i] != recv[i]]

    def acc(idx: list[int]) -> float | None:
        return (
            round(sum(pred_cause[i] == true_cause[i] for i in idx) / len(idx), 4) if idx else None
        )

    baseline = round(sum(recv[i] == true_cause[i] for i in both) / len(both), 4) if both else None
    return {
        "caused_by_accuracy": acc(both),
        "caused_by_n": len(both),
        "caused_by_baseline_received": baseline,
        "caused_elsewhere_accuracy": acc(elsewhere),
        "caused_elsewhere_n": len(elsewhere),
        "true_failure_contacts": len(fail),
    }


def _root_cause_accuracy(joined: pa.Table) -> dict[str, Any]:
    """The demand table's root cause against the truth's ``failure``, over the truly
    failure contacts (a contact given no root cause, or classified as value demand,
    counts as wrong), with each cause's precision and recall."""
    true = joined.column("failure").to_pylist()
    pred = joined.column("cause").to_pylist()
    idx = [i for i, t in enumerate(true) if t is not None]
    codes = sorted({true[i] for i in idx} | {p for p in pred if p is not None})
    per: dict[str, dict[str, float]] = {}
    for code in codes:
        tp = sum(1 for i in idx if true[i] == code and pred[i] == code)
        support = sum(1 for i in idx if true[i] == code)
        given = sum(1 for p in pred if p == code)
        per[code] = {
            "precision": round(tp / given, 4) if given else 0.0,
            "recall": round(tp / support, 4) if support else 0.0,
            "support": support,
        }
    right = sum(1 for i in idx if pred[i] == true[i])
    return {
        "accuracy": round(right / len(idx), 4) if idx else None,
        "n": len(idx),
        "given": sum(1 for i in idx if pred[i] is not None),
        "per_cause": per,
    }


def _by_decider(joined: pa.Table, tax: Taxonomy) -> dict[str, dict[str, float]]:
    by = joined.column("decided_by").to_pylist()
    cat = joined.column("category").to_pylist()
    dt = joined.column("demand_type").to_pylist()
    t = joined.column("category_true").to_pylist()
    out: dict[str, dict[str, float]] = {}
    for name in sorted(set(by)):
        idx = [i for i, b in enumerate(by) if b == name]
        decided = [i for i in idx if dt[i] != NEEDS_REVIEW]
        out[name] = {
            "n": len(idx),
            "type_precision": round(
                sum(dt[i] == tax.type_of(t[i]) for i in decided) / len(decided), 4
            )
            if decided
            else 0.0,
            "category_precision": round(sum(cat[i] == t[i] for i in idx) / len(idx), 4),
        }
    return out
