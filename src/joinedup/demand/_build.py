"""Build the text model: the shipped default, or one retrained with an organisation's labels.

Steps, all seeded so the same inputs give the same model file:

1. the corpus: generated notes (balanced across categories) plus the hand-written
   examples, plus an organisation's own labels when retraining (weighted up, since they
   are the notes the model will meet);
2. a multinomial logistic regression on hashed n-grams;
3. a temperature for the scores, fitted on notes held out of training (two-fifths of the
   hand-written and organisation's examples: they are closer to real notes than
   generated ones, so confidence is calibrated on the kind of note it will be used on);
4. the final model on everything, with that temperature.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from joinedup.demand._corpus import Example, generated, hand_written
from joinedup.demand._errors import DemandError
from joinedup.demand._taxonomy import DEFAULT_TAXONOMY, Taxonomy
from joinedup.demand._text import (
    FeatureSettings,
    Featuriser,
    TextModel,
    clean,
    softmax,
    stop_words,
)

if TYPE_CHECKING:
    from joinedup.workspace import Workspace

#: Generated notes per category in the shipped model's corpus.
DEFAULT_PER_CATEGORY = 1500
#: The same for the embedding model: embedding a note costs about a thousand times
#: hashing it, and meaning needs fewer examples than spelling to generalise.
EMBEDDINGS_PER_CATEGORY = 400
DEFAULT_SEED = 20261122
#: How much one hand-written (or organisation's) example counts against a generated one.
HAND_WEIGHT = 8.0
LABEL_WEIGHT = 8.0
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")

Progress = Callable[[str], None]


def _held_out(text: str) -> bool:
    """A fixed two-fifths of examples, chosen by a hash of the text (stable across runs).

    A large share: calibration needs held-out notes the model gets wrong, and with a
    small set of hand-written notes a fifth is often all right, which drives the
    temperature to zero.
    """
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % 5 < 2


def _fit(
    feats: Featuriser, x: sp.csr_matrix, examples: Sequence[Example], weights: np.ndarray, c: float
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Fit on the feature rows ``x`` of ``examples``."""
    y = np.array([e.category for e in examples])
    # Fit on the hashed columns that occur only: a fraction of the 2^18, and L-BFGS
    # time grows with the number of weights. Columns never seen keep a zero weight,
    # which is what the full fit would give them under an L2 penalty.
    active = np.unique(x.indices)
    clf = LogisticRegression(C=c, max_iter=300, tol=1e-4)
    clf.fit(x[:, active], y, sample_weight=weights)
    classes = tuple(str(k) for k in clf.classes_)
    coef = np.zeros((len(classes), feats.n_features), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float32)
    if len(classes) == 2:
        # A binary fit has one weight row: p(second) = sigmoid(w.x + b), the softmax of
        # (0, w.x + b).
        coef[1, active] = clf.coef_[0]
        intercept[1] = clf.intercept_[0]
    else:
        coef[:, active] = clf.coef_
        intercept[:] = clf.intercept_
    return classes, coef, intercept


def _temperature(proba_logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of held-out labels."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.02), np.log(5.0), 111)):
        p = softmax(proba_logits / t)
        nll = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def _weights(examples: Sequence[Example]) -> np.ndarray:
    w = {"generated": 1.0, "hand": HAND_WEIGHT, "labels": LABEL_WEIGHT}
    return np.array([w.get(e.source, 1.0) for e in examples], dtype=np.float64)


def build_model(
    out: Path | str | None = None,
    *,
    per_category: int | None = None,
    seed: int = DEFAULT_SEED,
    labels: Sequence[Example] = (),
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    settings: FeatureSettings | None = None,
    c: float = 4.0,
    progress: Progress | None = None,
) -> TextModel:
    """Build (and, with ``out``, save) a text model from the default corpus plus ``labels``.

    ``per_category`` defaults to :data:`DEFAULT_PER_CATEGORY`, or
    :data:`EMBEDDINGS_PER_CATEGORY` for a model with sentence embeddings.
    """
    say = progress or (lambda _msg: None)
    settings = settings or FeatureSettings()
    if per_category is None:
        per_category = EMBEDDINGS_PER_CATEGORY if settings.embeddings else DEFAULT_PER_CATEGORY
    for e in labels:
        taxonomy.type_of(e.category)  # unknown categories fail here, with the fix named
    say("generating the corpus")
    corpus = generated(per_category, seed) + hand_written() + list(labels)
    feats = Featuriser(settings)
    if settings.embeddings:
        say(f"embedding {len(corpus)} notes with {settings.embeddings}")
    # Features once for the whole corpus: each note's row does not depend on the others,
    # so the calibration fit and the final fit take rows of the same matrix.
    x_all = feats.transform([clean(e.text) for e in corpus])

    # Calibration: train without the held-out real-looking notes, fit T on it.
    held_idx = [i for i, e in enumerate(corpus) if e.source != "generated" and _held_out(e.text)]
    if len(held_idx) < 20:
        # Too few real-looking notes: hold out generated ones instead.
        held_idx = [i for i, e in enumerate(corpus) if _held_out(e.text)][:2000]
    held_set = set(held_idx)
    train_idx = [i for i in range(len(corpus)) if i not in held_set]
    train = [corpus[i] for i in train_idx]
    say(f"fitting on {len(train)} notes to calibrate on {len(held_idx)}")
    classes, coef, intercept = _fit(feats, x_all[train_idx], train, _weights(train), c)
    index = {k: i for i, k in enumerate(classes)}
    kept = [i for i in held_idx if corpus[i].category in index]
    logits = np.asarray(x_all[kept] @ coef.T) + intercept
    temperature = _temperature(logits, np.array([index[corpus[i].category] for i in kept]))

    say(f"fitting on all {len(corpus)} notes")
    classes, coef, intercept = _fit(feats, x_all, corpus, _weights(corpus), c)
    for k in classes:
        taxonomy.type_of(k)
    counts: Counter[str] = Counter()
    for e in corpus:
        counts.update(set(_WORD.findall(clean(e.text))))
    vocab = frozenset(w for w, n in counts.items() if n >= 2 and len(w) > 1) | stop_words()
    model = TextModel(
        classes=classes,
        coef=coef,
        intercept=intercept,
        temperature=temperature,
        vocab=vocab,
        settings=settings,
        meta={
            "seed": seed,
            "per_category": per_category,
            "generated": sum(e.source == "generated" for e in corpus),
            "hand_written": sum(e.source == "hand" for e in corpus),
            "labels": sum(e.source == "labels" for e in corpus),
            "C": c,
        },
        taxonomy=taxonomy,
    )
    if out is not None:
        model.save(out)
    return model


def read_labels(
    path: Path | str, text_col: str, label_col: str, taxonomy: Taxonomy = DEFAULT_TAXONOMY
) -> list[Example]:
    """An analyst's labelled notes (CSV), checked against the taxonomy."""
    import csv

    p = Path(path)
    if not p.is_file():
        raise DemandError(f"no labels file at {p}")
    out: list[Example] = []
    with p.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for col in (text_col, label_col):
            if col not in cols:
                raise DemandError(f"{p}: no column {col!r}; columns are {', '.join(cols)}")
        for n, row in enumerate(reader, start=2):
            label = (row[label_col] or "").strip()
            if not label:
                continue  # not labelled yet
            try:
                taxonomy.type_of(label)
            except DemandError as exc:
                raise DemandError(f"{p}, row {n}, column {label_col!r}: {exc}") from None
            if label == "needs_review":
                continue
            out.append(Example(row[text_col] or "", label, "labels"))
    if not out:
        raise DemandError(f"{p}: no labelled rows in column {label_col!r}")
    return out


def read_corrections(ws: Workspace, taxonomy: Taxonomy = DEFAULT_TAXONOMY) -> list[Example]:
    """The labels analysts corrected on the web service's review page (``label_corrections``),
    each with its contact's note: the latest correction of a contact stands."""
    if not ws.engine.has_table("label_corrections"):
        return []
    rows = ws.engine.to_arrow(
        ws.engine.sql(
            "SELECT e.note, c.category FROM (SELECT event_id, category, row_number() OVER "
            "(PARTITION BY event_id ORDER BY corrected_at DESC) AS k FROM label_corrections) "
            "AS c JOIN events AS e ON e.event_id = c.event_id "
            "WHERE c.k = 1 AND e.note IS NOT NULL AND trim(e.note) <> '' "
            "ORDER BY c.event_id"
        )
    ).to_pylist()
    out: list[Example] = []
    for r in rows:
        label = r["category"]
        try:
            taxonomy.type_of(label)
        except DemandError as exc:
            raise DemandError(f"{ws.path}, table label_corrections: {exc}") from None
        if label != "needs_review":
            out.append(Example(r["note"], label, "labels"))
    return out


def train(
    labels_path: Path | str | None,
    out: Path | str,
    *,
    text_col: str = "note",
    label_col: str = "category",
    taxonomy: Taxonomy = DEFAULT_TAXONOMY,
    per_category: int | None = None,
    seed: int = DEFAULT_SEED,
    embeddings: bool | None = None,
    progress: Progress | None = None,
    workspace: Workspace | None = None,
) -> TextModel:
    """Retrain on the shipped corpus plus an organisation's labels; save to ``out``.

    The labels come from a CSV (``labels_path``), from the corrections analysts made on the
    web service's review page in ``workspace``, or from both. The new model has sentence
    embeddings when ``embeddings`` says so, or, when it is None, when the embeddings extra
    is installed (as the shipped model chosen by default).
    """
    from joinedup.demand._embed import ENCODER
    from joinedup.demand._text import use_embeddings

    if labels_path is None and workspace is None:
        raise DemandError("give a CSV of labelled notes, a workspace with corrections, or both")
    labels = [] if labels_path is None else read_labels(labels_path, text_col, label_col, taxonomy)
    if workspace is not None:
        corrected = read_corrections(workspace, taxonomy)
        if not corrected and labels_path is None:
            raise DemandError(
                f"{workspace.path}: no corrected labels yet; correct some on the web "
                "service's review page (joinedup serve, /labels) or give a CSV of labels"
            )
        labels += corrected
    settings = FeatureSettings(embeddings=ENCODER if use_embeddings(embeddings) else None)
    return build_model(
        out,
        per_category=per_category,
        seed=seed,
        labels=labels,
        taxonomy=taxonomy,
        settings=settings,
        progress=progress,
    )
