"""The command line: help everywhere, and errors as messages rather than tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from joinedup.cli import app

runner = CliRunner()
COMMANDS = ["synth", "ingest", "report", "runs", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_missing_workspace_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--workspace", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no workspace at" in result.output
    assert "Traceback" not in result.output


def test_bad_contract_is_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("org: Benefits Dept\nsource: s\nformat: csv\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(bad), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 1
    assert "line 1, org" in result.output


def test_synth_then_ingest_then_report(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    made = runner.invoke(app, ["synth", str(out), "--people", "80", "--seed", "2"])
    assert made.exit_code == 0, made.output
    assert "failure demand" in made.output
    contracts = sorted(str(p) for p in (out / "contracts").glob("*.yaml"))
    assert len(contracts) == 4
    ws = str(tmp_path / "ws")
    loaded = runner.invoke(app, ["ingest", *contracts, "--workspace", ws])
    assert loaded.exit_code == 0, loaded.output
    rep = runner.invoke(app, ["report", "--workspace", ws])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "ws" / "report.html").exists()
    listed = runner.invoke(app, ["runs", "--workspace", ws])
    assert "ingest" in listed.output and "report" in listed.output
