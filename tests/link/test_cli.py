"""The command line: `pseudonymise`, `link FILES…` and `link evaluate` side by side."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from joinedup.link._cli import app as link_app
from joinedup.privacy._cli import app as pseudonymise_app
from joinedup.privacy._cli import pseudonymise
from joinedup.synth import SynthResult
from tests.privacy.conftest import SECRET

ORGS = ["benefits", "tax", "council", "health"]
runner = CliRunner()


def mounted() -> typer.Typer:
    """The command line as the top-level app mounts it."""
    parent = typer.Typer()
    parent.add_typer(link_app, name="link")
    parent.command("pseudonymise")(pseudonymise)
    return parent


@pytest.fixture(scope="module")
def cli_encoded(loaded_workspace_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("cli")
    ws = root / "ws"
    shutil.copytree(loaded_workspace_dir, ws)
    key = root / "key"
    key.write_bytes(SECRET)
    outs = []
    for org in ORGS[:3]:
        out = root / f"{org}.encoded.parquet"
        res = runner.invoke(
            mounted(),
            ["pseudonymise", str(ws), "--org", org, "--secret-file", str(key), "--out", str(out)],
        )
        assert res.exit_code == 0, res.output
        assert f"{org} records encoded" in res.output
        outs.append(out)
    return outs


def test_link_files_then_evaluate(
    cli_encoded: list[Path], tmp_path: Path, small_synth: SynthResult
) -> None:
    out = tmp_path / "links.parquet"
    res = runner.invoke(link_app, [*map(str, cli_encoded), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "estimated precision" in res.output and "estimated recall" in res.output
    assert out.exists() and (tmp_path / "links.match_weights.svg").exists()
    truth = small_synth.root / "truth" / "records.parquet"
    res = runner.invoke(link_app, ["evaluate", "--truth", str(truth), str(out)])
    assert res.exit_code == 0, res.output
    assert "F1" in res.output and "precision" in res.output


def test_the_default_command_survives_mounting_and_help(cli_encoded: list[Path]) -> None:
    parent = mounted()
    helped = runner.invoke(parent, ["link", "--help"])
    assert helped.exit_code == 0
    assert "run" in helped.output and "evaluate" in helped.output
    # Options before the files still reach the default command.
    res = runner.invoke(parent, ["link", "--threshold", "0.9", *map(str, cli_encoded[:2])])
    assert res.exit_code == 1
    assert "nowhere to write" in res.output
    res = runner.invoke(parent, ["pseudonymise", "--help"])
    assert res.exit_code == 0 and "--secret-file" in res.output and "--secret " not in res.output


def test_errors_are_one_line_and_exit_non_zero(cli_encoded: list[Path], tmp_path: Path) -> None:
    res = runner.invoke(link_app, [str(cli_encoded[0]), "--out", str(tmp_path / "l.parquet")])
    assert res.exit_code == 1
    assert "error:" in res.output and "two or more" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(link_app, ["evaluate", "--truth", str(tmp_path / "no.parquet"), "x"])
    assert res.exit_code == 1 and "no truth file" in res.output


def test_pseudonymise_with_named_fields_and_env_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = tmp_path / "people.csv"
    people.write_text("Ref,Given,Family,Born\n1,Peggy,Smith,31/12/1970\n", encoding="utf-8")
    out = tmp_path / "o.parquet"
    args = [
        "pseudonymise", str(people), "--org", "council", "--out", str(out),
        "--id-col", "Ref", "--field", "Given=forename", "--field", "Family=surname",
        "--field", "Born=dob",
    ]  # fmt: skip
    monkeypatch.delenv("JOINEDUP_SECRET", raising=False)
    res = runner.invoke(mounted(), args)
    assert res.exit_code == 1 and "JOINEDUP_SECRET" in res.output
    monkeypatch.setenv("JOINEDUP_SECRET", SECRET.decode())
    res = runner.invoke(mounted(), args)
    assert res.exit_code == 0, res.output
    assert "dates read as dd/mm/yyyy" in res.output
    assert pq.read_table(out).num_rows == 1
    res = runner.invoke(mounted(), [*args[:-2], "--field", "Born=birthday"])
    assert res.exit_code == 1 and "unknown kind 'birthday'" in res.output
    res = runner.invoke(mounted(), [*args[:-2], "--field", "Missing=dob"])
    assert res.exit_code == 1 and "'Missing'" in res.output


def test_the_pseudonymise_sub_app_runs_on_its_own(tmp_path: Path) -> None:
    res = runner.invoke(pseudonymise_app, ["--help"])
    assert res.exit_code == 0 and "--secret-env" in res.output
