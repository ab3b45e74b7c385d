"""Fixtures for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.pipeline import pipeline_workspace


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with every stage run (read-only: copy it to change it)."""
    return pipeline_workspace(tmp_path_factory)
