"""Service shape, OCEL 2.0 / XES exports readable by another tool, and the command line."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from joinedup import journeys
from joinedup.journeys import ShapeSettings
from joinedup.journeys._cli import app
from joinedup.workspace import Workspace

runner = CliRunner()


def _pm4py() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        import pm4py
    return pm4py


def test_service_shapes_follow_the_thresholds(linked_workspace_dir: Path) -> None:
    with Workspace(linked_workspace_dir, create=False) as ws:
        shapes = journeys.service_shapes(ws).to_pylist()
        total = sum(r["episodes"] for r in shapes)
        assert total == ws.count("episodes")
        for r in shapes:
            assert 0 <= r["tail_share"] <= 1 and r["entropy_bits"] >= 0
            assert r["orgs_per_need"] >= 1 and r["needs_per_person"] >= 1
            assert r["concurrent_needs"] >= 1 and 0 <= r["entropy_ratio"] <= 1
            assert r["shape"] in ("transactional", "high-variety", "complex", "too few")
        everything_complex = ShapeSettings(complex_orgs_per_need=1.0, min_cases=2)
        assert {
            r["shape"] for r in journeys.service_shapes(ws, everything_complex).to_pylist()
        } == {"complex"}
        nothing_varied = ShapeSettings(
            complex_orgs_per_need=99,
            complex_concurrent_needs=99,
            variety_entropy=1.0,
            variety_tail_share=1.0,
        )
        calm = {r["shape"] for r in journeys.service_shapes(ws, nothing_varied).to_pylist()}
        assert "transactional" in calm and calm <= {"transactional", "too few"}


def test_ocel_json_and_sqlite_are_read_by_pm4py(linked_workspace_dir: Path, tmp_path: Path) -> None:
    pm4py = _pm4py()
    shutil.copytree(linked_workspace_dir, tmp_path / "ws")  # exports are audited there
    with Workspace(tmp_path / "ws", create=False) as ws:
        events = ws.count("episode_events")
        people = len(set(ws.read("episode_events").column("person_id").to_pylist()))
        for name in ("log.jsonocel", "log.sqlite"):
            assert journeys.export_ocel(ws, tmp_path / name, disclosure_control=False) == events
    doc = json.loads((tmp_path / "log.jsonocel").read_text())
    assert len(doc["events"]) == events
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ocel in (
            pm4py.read_ocel2_json(str(tmp_path / "log.jsonocel")),
            pm4py.read_ocel2_sqlite(str(tmp_path / "log.sqlite")),
        ):
            assert len(ocel.events) == events
            types = ocel.objects["ocel:type"].value_counts().to_dict()
            assert types["person"] == people
            assert set(types) == {"person", "need", "case", "organisation"}
            # every event relates to its citizen, need and organisation
            rel = ocel.relations.groupby("ocel:eid")["ocel:type"].apply(set)
            assert all({"person", "need", "organisation"} <= s for s in rel)
    con = sqlite3.connect(tmp_path / "log.sqlite")
    assert con.execute("SELECT count(*) FROM event").fetchone()[0] == events
    con.close()


def test_xes_export_reads_back_with_the_same_process_map(
    linked_workspace_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "log.xes"
    shutil.copytree(linked_workspace_dir, tmp_path / "ws")  # exports are audited there
    with Workspace(tmp_path / "ws", create=False) as ws:
        traces = journeys.export_xes(ws, path, disclosure_control=False)
        assert traces == ws.count("episodes")
        ours = journeys.process_map(ws, by="activity")
    back = journeys.discover_log(
        path,
        case_col="case:concept:name",
        activity_col="concept:name",
        time_col="time:timestamp",
    )

    assert back.cases == ours.cases and back.events == ours.events
    assert back.variants.num_rows <= ours.variants.num_rows  # labels lose the org prefix
    assert sum(back.dfg.column("frequency").to_pylist()) == sum(
        ours.dfg.column("frequency").to_pylist()
    )
    pm4py = _pm4py()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = pm4py.read_xes(str(path))
    assert len(df) == ours.events and df["case:concept:name"].nunique() == traces


def test_cli_build_map_dfg_shape_export(
    tmp_path: Path, linked_workspace_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(linked_workspace_dir, ws)
    settings = tmp_path / "journeys.yaml"
    settings.write_text("episodes:\n  quiet_days: 21\n  org_names: {tax: [HMRC]}\n")
    res = runner.invoke(app, ["build", "-w", str(ws), "--settings", str(settings)])
    assert res.exit_code == 0, res.output
    assert "episodes for" in res.output
    res = runner.invoke(
        app,
        [
            "map",
            "-w",
            str(ws),
            "--by",
            "org",
            "--out",
            str(tmp_path / "m.csv"),
            "--variants",
            str(tmp_path / "v.csv"),
            "--ends",
            str(tmp_path / "e.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    dfg = pacsv.read_csv(tmp_path / "m.csv")
    assert dfg.column_names == [
        "source",
        "target",
        "frequency",
        "mean_seconds",
        "median_seconds",
        "p95_seconds",
    ]
    assert pacsv.read_csv(tmp_path / "v.csv").column_names == ["variant", "cases"]
    assert (tmp_path / "m.notes.txt").exists()
    res = runner.invoke(app, ["map", "-w", str(ws)])
    assert res.exit_code == 0 and "directly-follows graph" in res.output
    res = runner.invoke(app, ["shape", "-w", str(ws)])
    assert res.exit_code == 0 and "service shape" in res.output, res.output
    res = runner.invoke(app, ["export", str(tmp_path / "x.xes"), "-w", str(ws)])
    assert res.exit_code == 1 and "--no-disclosure-control" in res.output, res.output
    res = runner.invoke(
        app, ["export", str(tmp_path / "x.xes"), "-w", str(ws), "--no-disclosure-control"]
    )
    assert res.exit_code == 0 and "traces" in res.output, res.output
    res = runner.invoke(
        app,
        [
            "dfg",
            str(tmp_path / "x.xes"),
            "--out",
            str(tmp_path / "d.csv"),
            "--variants",
            str(tmp_path / "dv.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert pacsv.read_csv(tmp_path / "d.csv").num_rows > 0
    variants = pacsv.read_csv(tmp_path / "dv.csv").to_pylist()
    assert any(" > " in v["variant"] for v in variants)
    assert all(v["cases"] == "[c]" or int(v["cases"]) >= 10 for v in variants)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["map", "-w", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "error:" in res.output and "Traceback" not in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("c,a,t\nx,A,not a time\n")
    res = runner.invoke(
        app, ["dfg", str(bad), "--case-col", "c", "--activity-col", "a", "--time-col", "t"]
    )
    assert res.exit_code == 1 and "row 1, column 't'" in res.output
    settings = tmp_path / "s.yaml"
    settings.write_text("episodes:\n  quiet_days: -3\n")
    res = runner.invoke(app, ["build", "-w", str(tmp_path), "--settings", str(settings)])
    assert res.exit_code == 1 and "quiet_days" in res.output


def test_the_python_api_refuses_a_row_level_export_and_audits_it(
    linked_workspace_dir: Path, tmp_path: Path
) -> None:
    from joinedup.governance import AuditLog

    shutil.copytree(linked_workspace_dir, tmp_path / "ws")
    out = tmp_path / "log.xes"
    with Workspace(tmp_path / "ws", create=False) as ws:
        with pytest.raises(journeys.JourneysError, match="row-level"):
            journeys.export_xes(ws, out)
        with pytest.raises(journeys.JourneysError, match="row-level"):
            journeys.export_ocel(ws, tmp_path / "log.jsonocel")
    assert not out.exists() and not (tmp_path / "log.jsonocel").exists()
    log = AuditLog(tmp_path / "ws")
    refused = [e.details["output"] for e in log.entries(what="export.refused")]
    assert refused == [str(out), str(tmp_path / "log.jsonocel")]
    assert {e.what for e in log.entries(what="export")} == {"export.refused"}
