"""The fast text model: hashed character and word n-grams, a linear model, calibrated.

Why this shape: hashing needs no vocabulary, so the model file holds only the weights
(no fitted vocabulary to ship or to drift); character n-grams survive typos and
contact-centre shorthand ("pymt", "CoC"); a multinomial logistic model is fast to apply
(one sparse matrix product) and its scores, rescaled by one temperature fitted on notes
the model did not learn from, give confidences that mean what they say.

The model file is a compressed NumPy archive read with ``allow_pickle=False``: it holds
numbers and strings only, so loading a model file cannot run code.

A note the model cannot read is labelled ``needs_review``, never guessed: an empty note,
or one where too few words are English words the model knows (Welsh, another language,
emoji only, an encoded blob).
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # type: ignore[import-untyped]

from joinedup.demand import _embed
from joinedup.demand._errors import DemandError
from joinedup.demand._hashing import hashed_ngrams
from joinedup.demand._notes import as_notes, clean_notes, count_words
from joinedup.demand._taxonomy import DEFAULT_TAXONOMY, NEEDS_REVIEW, Taxonomy

FORMAT_VERSION = 1
#: An embedding model's file format: an older joinedup refuses it by its version.
EMBEDDINGS_FORMAT_VERSION = 2
_SLICE = 8192

_TAG = re.compile(r"<[^>]{0,2000}>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class FeatureSettings:
    """How text becomes features; stored in the model file with the weights."""

    char_bits: int = 17
    word_bits: int = 17
    char_ngrams: tuple[int, int] = (2, 4)
    word_ngrams: tuple[int, int] = (1, 2)
    #: Only the start of a long note is read: the reason for contact comes first, and a
    #: 100 KB paste must not cost 100 KB of n-grams.
    max_chars: int = 3000
    #: The sentence encoder whose embeddings are a third block of features
    #: (:mod:`joinedup.demand._embed`), or None for hashed n-grams alone.
    embeddings: str | None = None


def clean(text: object) -> str:
    """Plain, lower-cased text with HTML removed, digits folded to 0 and spaces collapsed."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = str(text)
    if "<" in s:
        s = _TAG.sub(" ", _SCRIPT.sub(" ", s[:50_000]))
    if "&" in s:
        s = html.unescape(s)
    s = _SPACE.sub(" ", s[:12_000]).strip().lower()
    return _DIGIT.sub("0", s)


class Featuriser:
    """Turns cleaned notes into one sparse matrix of hashed n-gram features."""

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings

    @property
    def n_features(self) -> int:
        dense = _embed.DIM if self.settings.embeddings else 0
        return int(2**self.settings.char_bits + 2**self.settings.word_bits + dense)

    def transform(self, cleaned: list[str] | pa.Array) -> sp.csr_matrix:
        """The feature rows of cleaned notes (a list, or an Arrow string array)."""
        s = self.settings
        texts = pc.utf8_slice_codeunits(as_notes(cleaned), 0, s.max_chars)
        hashed = hashed_ngrams(
            texts,
            char_bits=s.char_bits,
            word_bits=s.word_bits,
            char_ngrams=s.char_ngrams,
            word_ngrams=s.word_ngrams,
        )
        if not s.embeddings:
            return hashed
        if s.embeddings != _embed.ENCODER:
            raise DemandError(
                f"the model was built on the {s.embeddings} encoder; this joinedup has "
                f"{_embed.ENCODER}"
            )
        dense = _embed.embed(pc.fill_null(texts, "").to_pylist())
        return sp.hstack([hashed, sp.csr_matrix(dense)], format="csr")


@dataclass
class Prediction:
    """The model's reading of a batch of notes, before any rule is applied."""

    category: list[str]  # best category, or needs_review
    demand_type: list[str]  # value, failure, or needs_review
    confidence: np.ndarray  # probability of the label given (type's when category unsure)
    best: list[str]  # best category even when unsure: what the reviewer is shown
    proba: np.ndarray  # (n, classes) calibrated probabilities
    readable: np.ndarray  # bool: whether the note could be read at all


#: The demand types a reading gives, by number.
_TYPES = ("value", "failure", NEEDS_REVIEW)


@dataclass
class Reading:
    """A :class:`Prediction` as arrays of numbers: a category is a position in ``labels``
    (the model's classes, then needs_review), a demand type a position in ``types``."""

    category: np.ndarray
    demand_type: np.ndarray  # int8
    confidence: np.ndarray  # float64
    best: np.ndarray
    best_p: np.ndarray  # the best category's probability, read or not
    proba: np.ndarray
    readable: np.ndarray
    labels: tuple[str, ...]
    types: tuple[str, ...] = _TYPES


@dataclass
class TextModel:
    """A linear model over hashed n-grams, with its temperature and known words."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, n_features), float32
    intercept: np.ndarray  # (n_classes,)
    temperature: float
    vocab: frozenset[str]
    settings: FeatureSettings = field(default_factory=FeatureSettings)
    meta: dict[str, Any] = field(default_factory=dict)
    taxonomy: Taxonomy = DEFAULT_TAXONOMY

    def __post_init__(self) -> None:
        self._feats = Featuriser(self.settings)
        # Sparse features times dense weights: scipy's sparse-by-dense product is about
        # six times faster than sparse-by-sparse here, and the weights are small (11
        # classes by 2^18 features in float32: 11.5 MB).
        self._coef_t = np.ascontiguousarray(self.coef.T, dtype=np.float32)
        self._is_failure = np.array(
            [self.taxonomy.type_of(c) == "failure" for c in self.classes], dtype=bool
        )
        self._vocab = pa.array(sorted(self.vocab), pa.large_string())

    # -- reading --------------------------------------------------------------------------

    def readable(self, cleaned: list[str] | pa.Array, min_known: float = 0.4) -> np.ndarray:
        """Whether each note has words and enough of them are words the model knows."""
        texts = pc.utf8_slice_codeunits(as_notes(cleaned), 0, self.settings.max_chars)
        words, known = count_words(pc.fill_null(texts, ""), self._vocab)
        with np.errstate(divide="ignore", invalid="ignore"):
            out: np.ndarray = (known >= 1) & (known / words >= min_known)
        return out

    def proba(self, cleaned: list[str] | pa.Array) -> np.ndarray:
        """Calibrated class probabilities for cleaned notes."""
        texts = as_notes(cleaned)
        if not len(texts):
            return np.zeros((0, len(self.classes)))
        # In slices: the n-gram arrays of a slice take about 1 KB per note, so a slice of
        # 8,192 keeps memory flat however many notes are passed at once.
        parts = []
        for i in range(0, len(texts), _SLICE):
            x = self._feats.transform(texts.slice(i, _SLICE))
            parts.append(np.asarray(x @ self._coef_t))
        scores = np.vstack(parts) + self.intercept
        return softmax(scores / self.temperature)

    def read(
        self,
        notes: list[Any] | pa.Array,
        *,
        threshold: float = 0.5,
        type_threshold: float = 0.7,
        min_known: float = 0.4,
    ) -> Reading:
        """:meth:`predict` as arrays of label numbers, for millions of notes."""
        cleaned = clean_notes(as_notes(notes), clean)
        # Notes that differ only in digits, case or spacing clean alike, and a note's
        # reading depends on its cleaned text alone: each distinct text is read once.
        distinct = pc.dictionary_encode(cleaned)
        at = distinct.indices.to_numpy(zero_copy_only=False)
        p = self.proba(distinct.dictionary)[at]
        ok = self.readable(distinct.dictionary, min_known)[at]
        n = len(cleaned)
        top = p.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
        p_top = p[np.arange(n), top]
        p_fail = p[:, self._is_failure].sum(axis=1).astype(np.float64)
        p_type = np.maximum(p_fail, 1 - p_fail)
        sure = ok & (p_top >= threshold)
        typed = ok & ~sure & (p_type >= type_threshold)
        review = len(self.classes)  # the number of needs_review in ``labels``
        category = np.where(sure, top, review)
        type_of = np.array(
            [_TYPES.index(self.taxonomy.type_of(c)) for c in self.classes], dtype=np.int8
        )
        demand_type = np.full(n, _TYPES.index(NEEDS_REVIEW), dtype=np.int8)
        demand_type[sure] = type_of[top[sure]]
        demand_type[typed] = np.where(
            p_fail[typed] >= 0.5, _TYPES.index("failure"), _TYPES.index("value")
        )
        confidence = np.where(typed, p_type, p_top.astype(np.float64))
        confidence[~ok] = 0.0
        return Reading(
            category=category,
            demand_type=demand_type,
            confidence=confidence,
            best=np.where(ok, top, review),
            best_p=p.max(axis=1) if n else np.zeros(0, dtype=p.dtype),
            proba=p,
            readable=ok,
            labels=(*self.classes, NEEDS_REVIEW),
        )

    def predict(
        self,
        texts: list[Any] | pa.Array,
        *,
        threshold: float = 0.5,
        type_threshold: float = 0.7,
        min_known: float = 0.4,
    ) -> Prediction:
        """Label notes; below ``threshold`` the category is ``needs_review`` (and the type
        too, unless the failure-or-value probability reaches ``type_threshold``)."""
        r = self.read(
            texts, threshold=threshold, type_threshold=type_threshold, min_known=min_known
        )
        return Prediction(
            [r.labels[i] for i in r.category.tolist()],
            [_TYPES[i] for i in r.demand_type.tolist()],
            r.confidence,
            [r.labels[i] for i in r.best.tolist()],
            r.proba,
            r.readable,
        )

    # -- storage --------------------------------------------------------------------------

    def save(self, path: Path | str) -> Path:
        """Write the model as a compressed archive of arrays (no pickle)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        coef = self.coef.astype(np.float16)
        cols = np.flatnonzero(np.any(coef != 0, axis=0)).astype(np.int32)
        meta = dict(self.meta)
        settings: dict[str, Any] = {
            "char_bits": self.settings.char_bits,
            "word_bits": self.settings.word_bits,
            "char_ngrams": list(self.settings.char_ngrams),
            "word_ngrams": list(self.settings.word_ngrams),
            "max_chars": self.settings.max_chars,
        }
        version = FORMAT_VERSION
        if self.settings.embeddings:
            settings["embeddings"] = self.settings.embeddings
            version = EMBEDDINGS_FORMAT_VERSION
        meta.update(
            format_version=version,
            temperature=self.temperature,
            settings=settings,
            taxonomy=[[c.code, c.demand_type.value, c.meaning] for c in self.taxonomy.categories],
        )
        arrays = {
            "classes": np.array(self.classes),
            "cols": cols,
            "weights": coef[:, cols],
            "intercept": self.intercept.astype(np.float32),
            "vocab": np.array(sorted(self.vocab)),
            "meta": np.array(json.dumps(meta, sort_keys=True)),
        }
        # np.savez stamps each member with the current time; a fixed stamp makes the
        # same model the same bytes, so a rebuilt model can be compared with the shipped one.
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, arr in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, allow_pickle=False)
                zf.writestr(info, buf.getvalue())
        return p


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def stop_words() -> frozenset[str]:
    """Common English words, so that ordinary English always reads as English."""
    return frozenset(ENGLISH_STOP_WORDS)


def default_model_path(embeddings: bool = False) -> Path:
    """Where a shipped model lives inside the package: the hashed n-gram model, or (with
    ``embeddings``) the one that adds sentence embeddings."""
    name = "embeddings.npz" if embeddings else "default.npz"
    return Path(str(resources.files("joinedup.demand") / "models" / name))


def use_embeddings(choice: bool | None = None) -> bool:
    """Whether the shipped embedding model is the one to use: ``choice`` when given, else
    whenever the embeddings extra is installed."""
    if choice is None:
        return _embed.available() and default_model_path(embeddings=True).is_file()
    if choice and not _embed.available():
        raise DemandError(
            "the embedding model needs the embeddings extra: pip install 'joinedup[embeddings]'"
        )
    return choice


def load_model(path: Path | str | None = None, *, embeddings: bool | None = None) -> TextModel:
    """Load a model file; with no ``path``, the shipped one: the embedding model when
    the embeddings extra is installed (or ``embeddings`` is True), else the default."""
    from joinedup.model import Category, DemandType

    p = Path(path) if path is not None else default_model_path(use_embeddings(embeddings))
    if not p.is_file():
        hint = "run `joinedup demand build-model`" if path is None else "check the path"
        raise DemandError(f"no demand model at {p}: {hint}")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            classes = tuple(str(c) for c in z["classes"])
            cols, weights = z["cols"], z["weights"]
            intercept = z["intercept"].astype(np.float32)
            vocab = frozenset(str(w) for w in z["vocab"])
    except (OSError, ValueError, KeyError) as exc:
        raise DemandError(f"{p} is not a joinedup demand model: {exc}") from None
    readable = (FORMAT_VERSION, EMBEDDINGS_FORMAT_VERSION)
    if meta.get("format_version") not in readable:
        raise DemandError(
            f"{p} has model format {meta.get('format_version')}, this joinedup reads "
            f"{' and '.join(map(str, readable))}: rebuild it with `joinedup demand build-model`"
        )
    s = meta["settings"]
    settings = FeatureSettings(
        char_bits=int(s["char_bits"]),
        word_bits=int(s["word_bits"]),
        char_ngrams=(int(s["char_ngrams"][0]), int(s["char_ngrams"][1])),
        word_ngrams=(int(s["word_ngrams"][0]), int(s["word_ngrams"][1])),
        max_chars=int(s["max_chars"]),
        embeddings=s.get("embeddings"),
    )
    if settings.embeddings and not _embed.available():
        raise DemandError(
            f"{p} is an embedding model ({settings.embeddings}): install the embeddings "
            "extra (pip install 'joinedup[embeddings]') to use it"
        )
    n_features = Featuriser(settings).n_features
    coef = np.zeros((len(classes), n_features), dtype=np.float32)
    coef[:, cols] = weights.astype(np.float32)
    taxonomy = Taxonomy(
        tuple(Category(code, DemandType(t), meaning) for code, t, meaning in meta["taxonomy"])
    )
    return TextModel(
        classes=classes,
        coef=coef,
        intercept=intercept,
        temperature=float(meta["temperature"]),
        vocab=vocab,
        settings=settings,
        meta=meta,
        taxonomy=taxonomy,
    )
