"""The `joinedup value` commands, run through Typer's test runner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from joinedup.synth import SynthResult
from joinedup.value._cli import app
from joinedup.workspace import Workspace

runner = CliRunner()


def _ws(ws: Workspace) -> str:
    path = str(ws.path)
    ws.close()  # the command opens the workspace itself
    return path


def test_ledger_matrix_what_if_gainshare(cause_ws: Workspace, tmp_path: Path) -> None:
    path = _ws(cause_ws)
    res = runner.invoke(app, ["ledger", "-w", path])
    assert res.exit_code == 0, res.output
    assert "Value ledger by organisation" in res.output
    assert "unit costs: joinedup default unit_costs_uk.yaml" in res.output
    assert (Path(path) / "value" / "cost-shunting.svg").exists()

    res = runner.invoke(app, ["matrix", "-w", path])
    assert res.exit_code == 0, res.output
    assert "late_payment" in res.output

    fix = "org=benefits,cause=late_payment,reduce=0.8"
    res = runner.invoke(app, ["what-if", "-w", path, "--fix", fix, "--replicates", "50"])
    assert res.exit_code == 0, res.output
    assert "What if: org=benefits,cause=late_payment,reduce=0.8" in res.output
    assert "knock-ons at other organisations" in res.output

    out = tmp_path / "deal"
    res = runner.invoke(
        app,
        [
            "gainshare",
            "-w",
            path,
            "--fix",
            fix,
            "--fix-cost",
            "50",
            "--rule",
            "pro-rata",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "deal-benefits-late_payment-pro-rata.md").exists()
    assert (out / "deal-benefits-late_payment-pro-rata.html").exists()


def test_attribution_command(value_ws: Workspace, small_synth: SynthResult) -> None:
    path = _ws(value_ws)
    truth = small_synth.root / "truth" / "events.parquet"
    res = runner.invoke(app, ["attribution", "-w", path, "--truth", str(truth)])
    assert res.exit_code == 0, res.output
    assert "accuracy 1.000 over" in res.output


def test_errors_are_one_line_and_non_zero(value_ws: Workspace, tmp_path: Path) -> None:
    path = _ws(value_ws)
    res = runner.invoke(app, ["what-if", "-w", path, "--fix", "org=benefits"])
    assert res.exit_code == 1
    assert "cause= is required" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["ledger", "-w", path, "--costs", str(tmp_path / "none.yaml")])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = runner.invoke(app, ["matrix", "-w", path])
    assert res.exit_code == 1 and "run `joinedup value ledger` first" in res.output
    res = runner.invoke(app, ["ledger", "-w", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "no workspace" in res.output


def test_every_command_has_help() -> None:
    for cmd in ("ledger", "matrix", "what-if", "gainshare", "attribution"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output
