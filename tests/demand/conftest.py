"""Fixtures for the demand tests: a workspace with links from the synthetic truth.

Linkage and journeys are built by other stages; here ``links`` is filled from the
truth (the true person behind every local record), so these tests measure demand
classification alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from joinedup.demand import DemandSettings, classify, load_model
from joinedup.demand._text import TextModel
from joinedup.model import LINKS
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace

DATA = Path(__file__).parent.parent / "data" / "demand"


def true_links(truth_dir: Path) -> pa.Table:
    rec = pq.read_table(
        truth_dir / "records.parquet", columns=["org", "local_person_ref", "person_id"]
    )
    return rec.append_column(
        "match_probability", pa.array([1.0] * rec.num_rows, pa.float64())
    ).cast(LINKS)


def linked_copy(loaded: Path, synth: SynthResult, dest: Path) -> Path:
    """A writable copy of the loaded workspace with links filled from the truth."""
    shutil.copytree(loaded, dest)
    with Workspace(dest) as ws:
        ws.engine.write("links", true_links(synth.root / "truth"), mode="replace")
    return dest


@pytest.fixture(scope="session")
def shipped_model() -> TextModel:
    """The default (hashed n-gram) model, whether or not the embeddings extra is installed."""
    return load_model(embeddings=False)


@pytest.fixture
def linked_workspace(loaded_workspace_dir: Path, small_synth: SynthResult, tmp_path: Path) -> Path:
    """A fresh, writable linked workspace (not yet classified)."""
    return linked_copy(loaded_workspace_dir, small_synth, tmp_path / "ws")


@pytest.fixture(scope="session")
def classified_workspace(
    loaded_workspace_dir: Path,
    small_synth: SynthResult,
    tmp_path_factory: pytest.TempPathFactory,
    shipped_model: TextModel,
) -> Path:
    """A linked workspace classified once with default settings (treat as read-only)."""
    path = linked_copy(loaded_workspace_dir, small_synth, tmp_path_factory.mktemp("dws") / "ws")
    with Workspace(path) as ws:
        classify(ws, model=shipped_model, settings=DemandSettings())
    return path
