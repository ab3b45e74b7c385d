"""The ``joinedup demand`` commands, run through Typer's test runner."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from joinedup.demand._cli import app
from joinedup.synth import SynthResult
from tests.demand.conftest import DATA

runner = CliRunner()


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_classify_a_file_out_of_the_box(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "in.csv",
        [
            {"id": "1", "note": "Where is my payment? I have waited five weeks.", "team": "A"},
            {"id": "2", "note": "", "team": "B"},
            {"id": "3", "note": "I'd like to apply for a blue badge please", "team": "C"},
            {"id": "4", "note": "x" * 120_000, "team": "D"},
        ],
    )
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["classify", str(src), "--text-col", "note", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["team"] for r in rows] == ["A", "B", "C", "D"]
    assert rows[0]["demand_type"] == "failure"
    assert rows[1]["category"] == "needs_review"
    assert rows[2]["demand_type"] == "value"
    assert rows[3]["category"] == "needs_review"
    assert all(0 <= float(r["confidence"]) <= 1 for r in rows)


def test_classify_names_a_missing_column(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.csv", [{"text": "hello"}])
    res = runner.invoke(app, ["classify", str(src), "--text-col", "note"])
    assert res.exit_code == 1
    assert "no column 'note'" in res.output and "text" in res.output
    assert "Traceback" not in res.output


def test_evaluate_a_labels_file(tmp_path: Path) -> None:
    res = runner.invoke(app, ["evaluate", str(DATA / "handwritten.csv"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["n"] >= 150 and doc["binary_accuracy"] >= 0.9
    assert len(doc["confusion"]) == len(doc["labels"])
    plain = runner.invoke(app, ["evaluate", str(DATA / "handwritten.csv")])
    assert "macro-F1" in plain.output and "complaint" in plain.output


def test_evaluate_needs_one_source() -> None:
    res = runner.invoke(app, ["evaluate"])
    assert res.exit_code == 1 and "either" in res.output


def test_train_then_use_the_model(tmp_path: Path) -> None:
    labels = _write(
        tmp_path / "labels.csv",
        [
            {"text": f"blue bin lid broken number {i}, needs a new one", "label": "bin_repair"}
            for i in range(12)
        ]
        + [{"text": "where is my refund", "label": "chase"}, {"text": "unlabelled", "label": ""}],
    )
    tax = tmp_path / "taxonomy.yaml"
    tax.write_text(
        "categories:\n  - {code: bin_repair, demand_type: value, meaning: a broken bin}\n",
        encoding="utf-8",
    )
    model = tmp_path / "m.npz"
    res = runner.invoke(
        app,
        [
            "train",
            str(labels),
            "--text-col",
            "text",
            "--label-col",
            "label",
            "--taxonomy",
            str(tax),
            "--out",
            str(model),
            "--per-category",
            "10",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "13 of your labels" in res.output, res.output
    src = _write(tmp_path / "in.csv", [{"note": "the lid of my blue bin is broken"}])
    out = tmp_path / "out.csv"
    # A model trained on a dozen labels is unsure of itself: lower the bar for this check.
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("threshold: 0.2\n", encoding="utf-8")
    res = runner.invoke(
        app,
        ["classify", str(src), "--out", str(out), "--model", str(model), "--settings", str(cfg)],
    )
    assert res.exit_code == 0, res.output
    row = next(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert row["category"] == "bin_repair" and row["demand_type"] == "value"


def test_train_refuses_unknown_categories(tmp_path: Path) -> None:
    labels = _write(tmp_path / "l.csv", [{"note": "hello", "category": "nonsense"}])
    res = runner.invoke(app, ["train", str(labels), "--out", str(tmp_path / "m.npz")])
    assert res.exit_code == 1
    assert "row 2" in res.output and "nonsense" in res.output


def test_build_model_is_reproducible(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for p in (a, b):
        res = runner.invoke(
            app, ["build-model", "--out", str(p), "--per-category", "10", "--bits", "12"]
        )
        assert res.exit_code == 0, res.output
    assert a.read_bytes() == b.read_bytes()


def test_workspace_commands(
    classified_workspace: Path, small_synth: SynthResult, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(classified_workspace, ws)
    res = runner.invoke(app, ["classify", "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    assert "disagreed" in res.output
    res = runner.invoke(app, ["evaluate", "--truth", str(small_synth.root), "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    assert "caused_by_org accuracy" in res.output
    out = tmp_path / "sample.csv"
    res = runner.invoke(app, ["review", "--n", "10", "--out", str(out), "--workspace", str(ws)])
    assert res.exit_code == 0, res.output and out.is_file()
    res = runner.invoke(
        app,
        ["audit", "--truth", str(small_synth.root), "--workspace", str(ws), "--json"],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert {g["attribute"] for g in doc["groups"]} == {"age_band", "disability", "digital"}
    res = runner.invoke(app, ["audit", "--by", "digital", "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    assert "flagged" in res.output


def test_missing_workspace_is_one_clear_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["classify", "--workspace", str(tmp_path / "nope")])
    assert res.exit_code == 1
    assert "no workspace" in res.output


def _corrections(ws_dir: Path, rows: list[tuple[str, str, int]]) -> None:
    """Write label corrections as the web service's review page does: (event, category, minute)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from joinedup.model import LABEL_CORRECTIONS
    from joinedup.workspace import Workspace

    with Workspace(ws_dir, create=False) as ws:
        found = ws.engine.to_arrow(ws.engine.sql("SELECT event_id, org FROM events"))
        events = {r["event_id"]: r["org"] for r in found.to_pylist()}
        table = pa.table(
            {
                "event_id": [e for e, _, _ in rows],
                "org": [events[e] for e, _, _ in rows],
                "category": [c for _, c, _ in rows],
                "demand_type": ["value" if c == "bin_repair" else "failure" for _, c, _ in rows],
                "corrected_by": ["analyst"] * len(rows),
                "corrected_at": [datetime(2026, 11, 1, 9, m, tzinfo=UTC) for _, _, m in rows],
            },
            schema=LABEL_CORRECTIONS,
        )
        ws.engine.write("label_corrections", table)


def test_train_learns_from_a_workspaces_corrections(
    loaded_workspace_dir: Path, tmp_path: Path
) -> None:
    from joinedup.workspace import Workspace

    ws_dir = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, ws_dir)
    with Workspace(ws_dir, create=False) as ws:
        ids = [
            r["event_id"]
            for r in ws.engine.to_arrow(
                ws.engine.sql(
                    "SELECT event_id FROM events WHERE note IS NOT NULL AND trim(note) <> '' "
                    "ORDER BY event_id LIMIT 12"
                )
            ).to_pylist()
        ]
    assert len(ids) == 12
    tax = tmp_path / "taxonomy.yaml"
    tax.write_text(
        "categories:\n  - {code: bin_repair, demand_type: value, meaning: a broken bin}\n",
        encoding="utf-8",
    )
    model = tmp_path / "m.npz"
    args = ["train", "-w", str(ws_dir), "--taxonomy", str(tax), "--out", str(model)]
    args += ["--per-category", "10", "--no-embeddings"]

    res = runner.invoke(app, args)  # nothing corrected yet
    assert res.exit_code == 1 and "no corrected labels yet" in res.output

    # Twelve contacts corrected; the first corrected again later, back to needs_review:
    # the latest correction stands, so eleven labels are learnt.
    _corrections(ws_dir, [(e, "bin_repair", 1) for e in ids] + [(ids[0], "needs_review", 2)])
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "11 of your labels" in res.output, res.output

    # A CSV and the workspace together.
    labels = _write(tmp_path / "l.csv", [{"note": "where is my refund", "category": "chase"}])
    res = runner.invoke(app, [*args[:1], str(labels), *args[1:]])
    assert res.exit_code == 0, res.output
    assert "12 of your labels" in res.output, res.output


def test_train_needs_labels_from_somewhere(tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "m.npz")])
    assert res.exit_code == 1 and "CSV of labelled notes" in res.output
