from __future__ import annotations

from pathlib import Path

import pytest

from joinedup._version import __version__
from joinedup.errors import WorkspaceError
from joinedup.model import STANDARD_TABLES
from joinedup.workspace import Workspace


def test_new_workspace_has_every_standard_table(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as ws:
        for name in STANDARD_TABLES:
            assert ws.engine.has_table(name), name
            assert ws.count(name) == 0


def test_runs_are_recorded_with_settings_and_version(tmp_path: Path) -> None:
    with Workspace(tmp_path) as ws:
        with ws.run("synth", inputs={"file": "a.csv"}, settings={"people": 10}) as run:
            run.outputs["rows"] = 3
        with pytest.raises(ValueError), ws.run("ingest"):
            raise ValueError("bad input")
        runs = ws.runs()
    assert [r["command"] for r in runs] == ["synth", "ingest"]
    assert runs[0]["status"] == "ok"
    assert runs[0]["settings"] == {"people": 10}
    assert runs[0]["outputs"] == {"rows": 3}
    assert runs[0]["package_version"] == __version__
    assert runs[1]["status"] == "failed" and "bad input" in runs[1]["message"]


def test_runs_survive_reopening(tmp_path: Path) -> None:
    with Workspace(tmp_path) as ws, ws.run("demo"):
        pass
    with Workspace(tmp_path, create=False) as ws:
        assert [r["command"] for r in ws.runs()] == ["demo"]


def test_opening_a_missing_workspace_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Workspace(tmp_path / "missing", create=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="is a file"):
        Workspace(tmp_path / "file")
