"""The command line: help everywhere, and errors as messages rather than tracebacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from joinedup.cli import app

runner = CliRunner()
COMMANDS = ["synth", "ingest", "report", "runs", "demo"]


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand of the app, as the words that invoke it."""
    found = [path] if path else []
    for name, sub in getattr(command, "commands", {}).items():
        found += _walk(sub, (*path, name))
    return found


ALL = _walk(typer.main.get_command(app))


@pytest.mark.parametrize("words", ALL, ids=[" ".join(w) for w in ALL])
def test_every_command_has_help(words: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    # Rich markup must not swallow the text: the disclosure marker shows as written.
    assert "()" not in result.output


def test_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    stages = ["pseudonymise", "link", "journeys", "demand", "value", "contract", "quality"]
    for command in [*COMMANDS, *stages, "serve", "audit", "access"]:
        assert command in result.output
    assert len(ALL) > 40


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
    # Each source's quality report follows, with small counts withheld (80 people: the
    # council's and health's quality counts include some under the threshold).
    assert loaded.output.count("Data quality:") == 4
    assert "[c]" in loaded.output
    rep = runner.invoke(app, ["report", "--workspace", ws])
    assert rep.exit_code == 0, rep.output
    assert (tmp_path / "ws" / "report.html").exists()
    listed = runner.invoke(app, ["runs", "--workspace", ws])
    assert "ingest" in listed.output and "report" in listed.output


def test_the_command_reference_page_is_current() -> None:
    """docs/cli-reference.md is generated from the app; regenerate it when help changes."""
    import importlib.util

    tool = Path(__file__).resolve().parent.parent / "tools" / "cli_reference.py"
    spec = importlib.util.spec_from_file_location("cli_reference", tool)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.render()
    assert "## `joinedup link evaluate`" in text
    assert module.PAGE.read_text(encoding="utf-8") == text, (
        "docs/cli-reference.md is stale: run .venv/bin/python tools/cli_reference.py"
    )


def test_report_without_disclosure_control_is_marked_and_audited(
    tmp_path: Path, loaded_workspace_dir: Path
) -> None:
    import shutil

    from joinedup.governance import AuditLog
    from joinedup.workspace import Workspace

    ws = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, ws)
    with Workspace(ws, create=False) as w:
        exact = w.engine.count(w.engine.sql("SELECT 1 FROM events WHERE direction = 'in'"))
    shown = f"{exact:,}"
    controlled = runner.invoke(app, ["report", "-w", str(ws), "--out", str(tmp_path / "a.html")])
    assert controlled.exit_code == 0, controlled.output
    html = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert "Disclosure control was turned off" not in html
    raw = runner.invoke(
        app,
        ["report", "-w", str(ws), "--out", str(tmp_path / "b.html"), "--no-disclosure-control"],
    )
    assert raw.exit_code == 0, raw.output
    html = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert "Disclosure control was turned off" in html
    # Exact counts only without control (the controlled total is rounded to 5).
    assert (shown in raw.output) and (exact % 5 == 0 or shown not in controlled.output)
    entries = [(e.what, e.details.get("output")) for e in AuditLog(ws).entries()]
    assert ("disclosure.off", str(tmp_path / "b.html")) in entries
    assert ("export", str(tmp_path / "a.html")) in entries
    assert ("disclosure.off", str(tmp_path / "a.html")) not in entries


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    got = runner.invoke(app, ["--engine", "oracle", "runs", "-w", str(tmp_path)])
    assert got.exit_code == 2
    assert "not an engine" in got.output


def test_a_new_workspace_uses_the_engine_named_and_an_old_one_its_own(tmp_path: Path) -> None:
    from joinedup.workspace import Workspace, set_default_engine

    with Workspace(tmp_path / "duck") as ws:
        assert ws.engine.name == "duckdb"
    try:
        set_default_engine("spark")
        # An existing DuckDB workspace stays DuckDB whatever the default.
        with Workspace(tmp_path / "duck", create=False) as ws:
            assert ws.engine.name == "duckdb"
    finally:
        set_default_engine("duckdb")
