"""Demand: is each contact value or failure demand, of which kind, and whose failure.

Journey rules come first (a repeat, a chase, a contact after an error, a transfer, a
duplicate request for evidence); a fast text model shipped in the package labels the
rest, and says ``needs_review`` rather than guess. Analysts' labels retrain the model;
an audit checks rates and errors by group.

    from joinedup import demand
    demand.classify(ws)                                  # the workspace's demand table
    demand.classify_file("notes.csv", "out.csv")         # any file of notes
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from joinedup._lazy import lazy

if TYPE_CHECKING:
    from joinedup.demand._audit import Audit, audit
    from joinedup.demand._build import build_model, read_labels, train
    from joinedup.demand._classify import ClassifySummary, classify
    from joinedup.demand._errors import DemandError
    from joinedup.demand._evaluate import Evaluation, evaluate_labels, evaluate_truth
    from joinedup.demand._files import classify_file
    from joinedup.demand._review import review_sample
    from joinedup.demand._settings import DemandSettings, load_settings
    from joinedup.demand._taxonomy import NEEDS_REVIEW, Taxonomy, load_taxonomy
    from joinedup.demand._text import TextModel, load_model

#: Names imported on first use: the text model and the audit bring scikit-learn and
#: fairlearn, which `joinedup --help` and most commands do not need.
_LAZY = {
    "Audit": ("joinedup.demand._audit", "Audit"),
    "audit": ("joinedup.demand._audit", "audit"),
    "build_model": ("joinedup.demand._build", "build_model"),
    "read_labels": ("joinedup.demand._build", "read_labels"),
    "train": ("joinedup.demand._build", "train"),
    "ClassifySummary": ("joinedup.demand._classify", "ClassifySummary"),
    "classify": ("joinedup.demand._classify", "classify"),
    "DemandError": ("joinedup.demand._errors", "DemandError"),
    "Evaluation": ("joinedup.demand._evaluate", "Evaluation"),
    "evaluate_labels": ("joinedup.demand._evaluate", "evaluate_labels"),
    "evaluate_truth": ("joinedup.demand._evaluate", "evaluate_truth"),
    "classify_file": ("joinedup.demand._files", "classify_file"),
    "review_sample": ("joinedup.demand._review", "review_sample"),
    "DemandSettings": ("joinedup.demand._settings", "DemandSettings"),
    "load_settings": ("joinedup.demand._settings", "load_settings"),
    "NEEDS_REVIEW": ("joinedup.demand._taxonomy", "NEEDS_REVIEW"),
    "Taxonomy": ("joinedup.demand._taxonomy", "Taxonomy"),
    "load_taxonomy": ("joinedup.demand._taxonomy", "load_taxonomy"),
    "TextModel": ("joinedup.demand._text", "TextModel"),
    "load_model": ("joinedup.demand._text", "load_model"),
}
__getattr__, __dir__ = lazy(__name__, _LAZY, globals())

__all__ = [
    "NEEDS_REVIEW",
    "Audit",
    "ClassifySummary",
    "DemandError",
    "DemandSettings",
    "Evaluation",
    "Taxonomy",
    "TextModel",
    "audit",
    "build_model",
    "classify",
    "classify_file",
    "evaluate_labels",
    "evaluate_truth",
    "load_model",
    "load_settings",
    "load_taxonomy",
    "read_labels",
    "review_sample",
    "train",
]
