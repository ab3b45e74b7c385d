"""One workspace with every stage run (the demo's pipeline on a small population), built
once per test session and shared by the report and web tests; treat it as read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from joinedup import SynthConfig, run_demo

#: Large enough that most published cells pass disclosure control, small enough to build
#: in about twenty seconds.
CONFIG = SynthConfig(people=400, seed=11)
_built: dict[str, Path] = {}


def pipeline_workspace(factory: pytest.TempPathFactory) -> Path:
    """The path of the shared workspace, built on first use."""
    if "path" not in _built:
        root = factory.mktemp("pipeline") / "ws"
        run_demo(root, CONFIG)
        _built["path"] = root
    return _built["path"]
