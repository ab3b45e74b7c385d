"""`contract infer` proposes a contract that loads each synthetic export as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from joinedup import ingest
from joinedup.errors import ContractError
from joinedup.ingest._cli import app
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace

from .conftest import assert_nothing_lost

#: Each synthetic export file, and the tables a contract inferred from it must fill.
EXPORTS = [
    ("benefits", "benefits/contacts.csv", "events"),
    ("benefits", "benefits/claimants.csv", "people"),
    ("tax", "tax/interactions.parquet", "events"),
    ("tax", "tax/taxpayers.parquet", "people"),
    ("council", "council/council_export.xlsx", "events+people"),
    ("health", "health/encounters.jsonl", "events"),
    ("health", "health/patients.jsonl", "people"),
]


def test_inferred_contracts_load_every_synthetic_export(
    small_synth: SynthResult, tmp_path: Path
) -> None:
    with Workspace(tmp_path / "ws") as ws:
        for org, rel, tables in EXPORTS:
            export = small_synth.root / "exports" / rel
            contract = ingest.infer_contract(export, org, file=str(export))
            path = tmp_path / f"{contract.source}.yaml"
            path.write_text(contract.to_yaml(), encoding="utf-8")
            res = ingest.load(path, ws)  # through YAML, as a user would
            assert_nothing_lost(res, ws)
            assert {t.table for t in res.tables} == set(tables.split("+")), rel
            for t in res.tables:
                expected = (small_synth.events if t.table == "events" else small_synth.records)[org]
                assert (t.loaded, t.quarantined) == (expected, 0), (rel, t)


def test_the_guesses_are_the_right_ones(small_synth: SynthResult) -> None:
    c = ingest.infer_contract(
        small_synth.root / "exports" / "benefits" / "contacts.csv", "benefits"
    )
    assert c.format == "csv" and c.delimiter == "," and c.encoding == "utf-8"
    assert c.timezone == "Europe/London"
    assert c.events is not None
    f = c.events.fields
    assert f["occurred_at"].column == "Contact Date" and f["occurred_at"].format == "%d/%m/%Y %H:%M"
    assert f["event_id"].column == "Contact ID" and f["local_person_ref"].column == "Claimant ID"
    assert f["channel"].codes == {
        "CHAT": "webchat", "EML": "email", "F2F": "face_to_face",
        "LTR": "letter", "TEL": "phone", "WEB": "web",
    }  # fmt: skip
    p = ingest.infer_contract(small_synth.root / "exports" / "health" / "patients.jsonl", "health")
    assert p.people is not None and p.people.fields["nhs_number"].column == "nhs_number"
    assert "nhs_number" in p.identity_fields


def test_semicolons_and_windows_1252(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    f.write_bytes("Ref;Date;Notes\n1;03/02/2025;café\n2;04/02/2025;ok\n".encode("cp1252"))
    c = ingest.infer_contract(f, "council")
    assert (c.delimiter, c.encoding) == (";", "windows-1252")
    assert c.events is not None and c.events.fields["occurred_at"].format == "%d/%m/%Y"


def test_nothing_recognisable_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ContractError, match="write the contract by hand"):
        ingest.infer_contract(f, "x")


def test_the_command_prints_yaml(small_synth: SynthResult) -> None:
    export = small_synth.root / "exports" / "tax" / "interactions.parquet"
    result = CliRunner().invoke(app, ["contract", "infer", str(export), "--org", "tax"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.output)
    assert doc["org"] == "tax" and doc["format"] == "parquet"
    assert doc["events"]["fields"]["occurred_at"] == {"column": "ts", "type": "timestamp"}
    missing = CliRunner().invoke(app, ["contract", "infer", "nope.csv", "--org", "tax"])
    assert missing.exit_code == 1 and "no such file" in missing.output
