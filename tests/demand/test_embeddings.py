"""The embedding model: chosen when the extra is installed, refused clearly when not.

The plumbing (a third block of features, the model file, the choice of model) is tested
everywhere with a stand-in encoder; the real encoder's tests run only where the
``embeddings`` extra is installed.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from joinedup.demand import (
    NEEDS_REVIEW,
    DemandError,
    _embed,
    classify_file,
    evaluate_labels,
    load_model,
)
from joinedup.demand._build import build_model
from joinedup.demand._text import FeatureSettings, default_model_path, use_embeddings
from tests.demand.conftest import DATA

HAND_TEST = DATA / "handwritten.csv"
SHIPPED = default_model_path(embeddings=True)


def _stand_in(cleaned: list[str]) -> np.ndarray:
    """A deterministic unit vector per note (a hash of its words), in place of the encoder."""
    out = np.zeros((len(cleaned), _embed.DIM), dtype=np.float32)
    for i, t in enumerate(cleaned):
        for w in t.split():
            h = int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "little")
            out[i, h % _embed.DIM] += 1.0
        n = np.linalg.norm(out[i])
        if n:
            out[i] /= n
    return out


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embed, "embed", _stand_in)
    monkeypatch.setattr(_embed, "available", lambda: True)


def test_the_embedding_model_is_shipped_and_small() -> None:
    assert SHIPPED.is_file()
    assert SHIPPED.stat().st_size < 5_000_000


def test_an_embedding_model_adds_a_block_and_round_trips(stand_in: None, tmp_path: Path) -> None:
    settings = FeatureSettings(char_bits=10, word_bits=10, embeddings=_embed.ENCODER)
    m = build_model(tmp_path / "e.npz", per_category=15, settings=settings)
    assert m.coef.shape[1] == 2**10 + 2**10 + _embed.DIM
    # the embedding block carries weight
    assert np.abs(m.coef[:, -_embed.DIM :]).sum() > 0
    again = load_model(tmp_path / "e.npz")
    assert again.settings.embeddings == _embed.ENCODER
    assert again.meta["format_version"] == 2
    notes = [r["note"] for r in _rows()[:20]]
    assert again.predict(notes).best == m.predict(notes).best
    assert np.allclose(again.proba(notes), m.proba(notes), atol=1e-2)


def test_a_default_model_file_is_unchanged_by_the_extra(tmp_path: Path) -> None:
    m = build_model(tmp_path / "d.npz", per_category=10, settings=FeatureSettings(10, 10))
    assert m.coef.shape[1] == 2**10 + 2**10
    assert load_model(tmp_path / "d.npz").meta["format_version"] == 1


def test_the_extra_decides_the_default(stand_in: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert use_embeddings() is True
    assert use_embeddings(False) is False
    monkeypatch.setattr(_embed, "available", lambda: False)
    assert use_embeddings() is False
    assert load_model().settings.embeddings is None
    with pytest.raises(DemandError, match=r"joinedup\[embeddings\]"):
        use_embeddings(True)
    with pytest.raises(DemandError, match="install the embeddings extra"):
        load_model(SHIPPED)


def _rows() -> list[dict[str, str]]:
    with HAND_TEST.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# -- the real encoder, where the extra is installed -------------------------------------

needs_extra = pytest.mark.skipif(
    not _embed.available(), reason="the embeddings extra is not installed"
)


@pytest.fixture(scope="module")
def embedding_model():  # type: ignore[no-untyped-def]
    if not _embed.available():
        pytest.skip("the embeddings extra is not installed")
    return load_model(embeddings=True)


@needs_extra
@pytest.mark.slow
def test_chosen_by_default_when_installed() -> None:
    assert load_model().settings.embeddings == _embed.ENCODER


@needs_extra
@pytest.mark.slow
def test_embeddings_generalise_better_than_the_default(embedding_model) -> None:  # type: ignore[no-untyped-def]
    ev = evaluate_labels(HAND_TEST, model=embedding_model)
    base = evaluate_labels(HAND_TEST, model=load_model(embeddings=False))
    assert ev.binary_accuracy >= 0.90 and ev.macro_f1 >= 0.75, ev
    assert ev.macro_f1 > base.macro_f1, (ev.macro_f1, base.macro_f1)


@needs_extra
@pytest.mark.slow
def test_embedding_model_sends_garbage_for_review(embedding_model) -> None:  # type: ignore[no-untyped-def]
    notes = ["", "Rwyf wedi aros tair wythnos am fy nhaliad.", "😡😡😡", "x" * 100_000]
    pred = embedding_model.predict(notes)
    assert pred.category == [NEEDS_REVIEW] * 4
    assert embedding_model.predict(["where is my payment, it is 5 weeks late"]).demand_type == [
        "failure"
    ]


@needs_extra
@pytest.mark.slow
def test_classify_a_file_with_the_embedding_model(embedding_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "notes.csv"
    src.write_text("id,note\n1,I still have not had my refund\n2,I want to book a bin collection\n")
    counts = classify_file(src, tmp_path / "out.csv", model=embedding_model)
    assert sum(counts.values()) == 2
