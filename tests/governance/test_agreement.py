"""Agreements: validation with line numbers, run checks, expiry, the workspace plan."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from joinedup.governance import (
    AgreementError,
    PlannedRun,
    check_run,
    load_agreement,
    workspace_plan,
)
from joinedup.workspace import Workspace


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_agreement_loads(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    assert sorted(a.parties) == ["benefits", "council", "health", "tax"]
    assert a.outputs.threshold == 10 and a.outputs.rounding_base == 5
    assert a.outputs.dominance.share == 0.9
    assert a.retention.days == 730
    assert len(a.fingerprint) == 64
    assert a.record()["name"] == "jobloss-2026"


def test_fingerprint_changes_with_the_file(agreement_path: Path, agreement_text: str) -> None:
    before = load_agreement(agreement_path).fingerprint
    agreement_path.write_text(agreement_text.replace("730", "731"), encoding="utf-8")
    assert load_agreement(agreement_path).fingerprint != before


def test_malformed_yaml_names_the_line(tmp_path: Path, agreement_text: str) -> None:
    bad = agreement_text.replace("  basis: occurred_at", "  basis: [occurred_at")
    with pytest.raises(AgreementError, match=r"line \d+: not valid YAML"):
        load_agreement(_write(tmp_path, bad))


def test_unknown_field_names_its_line(tmp_path: Path, agreement_text: str) -> None:
    bad = agreement_text.replace("address, nhs_number]", "address, nhs_numbr]")
    with pytest.raises(AgreementError) as exc:
        load_agreement(_write(tmp_path, bad))
    msg = str(exc.value)
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "health:" in t)
    assert f"line {line}" in msg and "nhs_numbr" in msg and "parties.health" in msg


def test_missing_key_and_bad_value_are_both_reported(tmp_path: Path, agreement_text: str) -> None:
    bad = agreement_text.replace("  threshold: 10", "  threshold: 0").replace(
        "legal_gateway", "legal_gatway"
    )
    with pytest.raises(AgreementError) as exc:
        load_agreement(_write(tmp_path, bad))
    msg = str(exc.value)
    assert "outputs.threshold" in msg and "legal_gateway: Field required" in msg
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "threshold" in t)
    assert f"line {line}, outputs.threshold" in msg


def test_one_party_is_not_an_agreement(tmp_path: Path) -> None:
    text = """\
name: solo
purpose: a purpose long enough
legal_gateway: consent
starts: 2024-01-01
expires: 2025-01-01
parties:
  benefits: {name: B, shares: {events: [event_id]}}
retention: {days: 10}
"""
    with pytest.raises(AgreementError, match="at least two parties"):
        load_agreement(_write(tmp_path, text))


def test_duplicate_key_is_refused(tmp_path: Path, agreement_text: str) -> None:
    bad = agreement_text.replace("retention:\n", "retention:\n  days: 1\n", 1)
    with pytest.raises(AgreementError, match="appears twice"):
        load_agreement(_write(tmp_path, bad))


def test_missing_file() -> None:
    with pytest.raises(AgreementError, match="cannot read"):
        load_agreement("/no/such/agreement.yaml")


def test_run_inside_the_agreement_passes(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    plan = PlannedRun.of(["benefits", "tax"], ["events.channel", "events.occurred_at"])
    assert check_run(a, plan)["fingerprint"] == a.fingerprint


def test_run_with_a_missing_party_is_refused(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    with pytest.raises(AgreementError, match="'police' is not a party"):
        check_run(a, PlannedRun.of(["benefits", "police"], ["events.channel"]))


def test_run_with_an_unshared_field_is_refused(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    plan = PlannedRun.of(["council"], {"council": ["people.nino", "events.channel"]})
    with pytest.raises(AgreementError, match=r"council does not share people\.nino"):
        check_run(a, plan)


def test_expired_agreement_is_refused(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    assert a.is_expired(date(2031, 1, 1)) and not a.is_expired(date(2030, 12, 31))
    plan = PlannedRun.of(["benefits"], ["events.channel"], on=date(2031, 1, 1))
    with pytest.raises(AgreementError, match="expired on 2030-12-31"):
        check_run(a, plan)


def test_not_yet_started(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    with pytest.raises(AgreementError, match="does not start until"):
        check_run(a, PlannedRun.of(["tax"], [], on=date(2023, 6, 1)))


def test_party_retention_is_the_shorter(agreement_path: Path) -> None:
    a = load_agreement(agreement_path)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert (now - a.retention_cutoff("council", now)).days == 365
    assert (now - a.retention_cutoff("tax", now)).days == 730


def test_workspace_plan_checks_against_the_agreement(
    loaded_workspace_dir: Path, tmp_path: Path, agreement_path: Path
) -> None:
    ws_dir = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, ws_dir)
    a = load_agreement(agreement_path)
    with Workspace(ws_dir, create=False) as ws:
        plan = workspace_plan(ws, on=date(2026, 1, 1))
    assert plan.parties == {"benefits", "tax", "council", "health"}
    assert "events.occurred_at" in plan.fields["benefits"]
    check_run(a, plan)
    narrow = agreement_path.read_text().replace("address, nhs_number]", "address]")
    with pytest.raises(AgreementError, match=r"health does not share people\.nhs_number"):
        check_run(load_agreement(_write(tmp_path, narrow)), plan)


def test_governed_run_records_the_agreement_and_audits(
    tmp_path: Path, agreement_path: Path
) -> None:
    from joinedup.governance import AuditLog, governed_run

    a = load_agreement(agreement_path)
    with Workspace(tmp_path / "ws") as ws:
        with governed_run(
            ws, a, "link", parties=["benefits", "tax"], fields=["people.nino"], who="ana"
        ) as run:
            run.outputs["links"] = 3
        refused = pytest.raises(AgreementError, match=r"council does not share people\.nino")
        with (
            refused,
            governed_run(ws, a, "link", parties=["council"], fields=["people.nino"], who="ana"),
        ):
            raise AssertionError("must not start")
        [rec] = ws.runs()
        assert rec["settings"]["agreement"]["fingerprint"] == a.fingerprint
    log = AuditLog(tmp_path / "ws")
    assert [e.what for e in log.entries()] == ["run.start", "run.end", "run.refused"]
    assert log.verify().ok
