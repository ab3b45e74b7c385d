"""The governance command line, driven through Typer's test runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from joinedup.governance import AuditLog
from joinedup.governance._cli import app

runner = CliRunner()


@pytest.fixture
def ws_dir(loaded_workspace_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, path)
    return path


def test_every_command_has_help() -> None:
    for group in ("agreement", "retention", "audit", "access"):
        res = runner.invoke(app, [group, "--help"])
        assert res.exit_code == 0, res.output
    for cmd in (
        ["agreement", "check"],
        ["retention", "purge"],
        ["audit", "verify"],
        ["audit", "show"],
        ["access", "user-add"],
        ["access", "token-create"],
    ):
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0 and len(res.output) > 100, cmd


def test_agreement_check_valid(agreement_path: Path) -> None:
    res = runner.invoke(app, ["agreement", "check", str(agreement_path), "--on", "2026-01-01"])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output and "1825 days" in res.output


def test_agreement_check_malformed_is_one_clear_error(tmp_path: Path, agreement_text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(agreement_text.replace("  threshold: 10", "  threshold: ten"), encoding="utf-8")
    res = runner.invoke(app, ["agreement", "check", str(bad)])
    assert res.exit_code == 1
    assert "outputs.threshold" in res.output and "Traceback" not in res.output


def test_agreement_check_expired(agreement_path: Path) -> None:
    res = runner.invoke(app, ["agreement", "check", str(agreement_path), "--on", "2031-01-01"])
    assert res.exit_code == 1 and "expired on 2030-12-31" in res.output


def test_agreement_check_workspace(agreement_path: Path, agreement_text: str, ws_dir: Path) -> None:
    res = runner.invoke(app, ["agreement", "check", str(agreement_path), "-w", str(ws_dir)])
    assert res.exit_code == 0, res.output
    assert "covers" in res.output
    start, end = agreement_text.index("  health:"), agreement_text.index("retention:\n")
    agreement_path.write_text(agreement_text[:start] + agreement_text[end:], encoding="utf-8")
    res = runner.invoke(app, ["agreement", "check", str(agreement_path), "-w", str(ws_dir)])
    assert res.exit_code == 1 and "'health' is not a party" in res.output


def test_retention_purge(agreement_path: Path, agreement_text: str, ws_dir: Path) -> None:
    agreement_path.write_text(agreement_text.replace("days: 730", "days: 30"), encoding="utf-8")
    res = runner.invoke(
        app, ["retention", "purge", str(agreement_path), "-w", str(ws_dir), "--dry-run"]
    )
    assert res.exit_code == 0, res.output
    assert "events" in res.output and "Past retention" in res.output
    res = runner.invoke(
        app, ["retention", "purge", str(agreement_path), "-w", str(ws_dir)], input="n\n"
    )
    assert res.exit_code == 1
    res = runner.invoke(
        app, ["retention", "purge", str(agreement_path), "-w", str(ws_dir), "--yes", "--as", "dpo"]
    )
    assert res.exit_code == 0, res.output
    assert "Removed" in res.output
    res = runner.invoke(app, ["retention", "purge", str(agreement_path), "-w", str(ws_dir)])
    assert "Nothing is past retention" in res.output
    whats = [e.what for e in AuditLog(ws_dir).entries()]
    assert whats == ["retention.check", "retention.purge"]


def test_retention_purge_needs_a_workspace(agreement_path: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["retention", "purge", str(agreement_path), "-w", str(tmp_path / "none")]
    )
    assert res.exit_code == 1 and "no workspace" in res.output


def test_audit_verify_and_show(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("ana", "login", {"address": "1.2.3.4"})
    log.append("sam", "export", {"path": "x.csv"})
    log.append("ana", "login.failed", {})
    res = runner.invoke(app, ["audit", "verify", "-w", str(tmp_path)])
    assert res.exit_code == 0 and "3 entries" in res.output
    res = runner.invoke(app, ["audit", "show", "-w", str(tmp_path), "--who", "ana", "--json"])
    assert res.exit_code == 0 and res.output.count("\n") == 2 and "sam" not in res.output
    res = runner.invoke(app, ["audit", "show", "-w", str(tmp_path), "--what", "export"])
    assert "x.csv" in res.output and "login" not in res.output
    res = runner.invoke(app, ["audit", "show", "-w", str(tmp_path), "--since", "yesterday"])
    assert res.exit_code == 1 and "--since" in res.output
    lines = log.path.read_text().splitlines(keepends=True)
    log.path.write_text(lines[0] + lines[2])
    res = runner.invoke(app, ["audit", "verify", "-w", str(tmp_path)])
    assert res.exit_code == 1 and "line 2" in res.output and "missing" in res.output


def test_access_commands(tmp_path: Path) -> None:
    pw = "a long enough password\n"
    res = runner.invoke(
        app,
        [
            "access",
            "user-add",
            "ana",
            "--org",
            "benefits",
            "--role",
            "analyst",
            "-w",
            str(tmp_path),
        ],
        input=pw + pw,
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["access", "token-create", "ana", "--name", "ci", "-w", str(tmp_path)])
    token = res.output.strip()
    assert res.exit_code == 0 and token.startswith("jdu_")
    res = runner.invoke(app, ["access", "users", "-w", str(tmp_path)])
    assert "benefits" in res.output and "active" in res.output
    res = runner.invoke(app, ["access", "token-revoke", token.split("_")[1], "-w", str(tmp_path)])
    assert res.exit_code == 0
    res = runner.invoke(
        app,
        ["access", "user-add", "bob", "--org", "tax", "--role", "chief", "-w", str(tmp_path)],
        input=pw + pw,
    )
    assert res.exit_code == 1 and "role 'chief'" in res.output
    res = runner.invoke(app, ["access", "user-delete", "ana", "-w", str(tmp_path)])
    assert res.exit_code == 0
    assert [e.what for e in AuditLog(tmp_path).entries()] == [
        "user.add",
        "token.create",
        "token.revoke",
        "user.delete",
    ]


def test_audit_commands_need_a_workspace(tmp_path: Path) -> None:
    res = runner.invoke(app, ["audit", "verify", "-w", str(tmp_path / "none")])
    assert res.exit_code == 1 and "no workspace" in res.output
    res = runner.invoke(app, ["audit", "show", "-w", str(tmp_path / "none")])
    assert res.exit_code == 1
    res = runner.invoke(app, ["audit", "verify", "-w", str(tmp_path)])
    assert res.exit_code == 0 and "No audit log" in res.output
