"""The synthetic population: reproducible, consistent with its truth, and shaped as set."""

from __future__ import annotations

import filecmp
import re
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from stdnum.gb import nhs

from joinedup.synth import SynthConfig, SynthResult, generate

NINO = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    """Also whatever the number of worker processes: batches are seeded on their own."""
    cfg = SynthConfig(people=150, seed=11, chunk_size=60)
    a = generate(tmp_path / "a", cfg, workers=1).root
    b = generate(tmp_path / "b", cfg, workers=2).root
    files = _files(a)
    assert files == _files(b)
    assert any(str(f).endswith(".xlsx") for f in files)
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []


def test_different_seeds_differ(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", SynthConfig(people=100, seed=1)).root
    b = generate(tmp_path / "b", SynthConfig(people=100, seed=2)).root
    for export in ("exports/benefits/contacts.csv", "exports/health/patients.jsonl"):
        assert (a / export).read_bytes() != (b / export).read_bytes()


def test_every_record_and_event_has_its_truth(small_synth: SynthResult) -> None:
    truth = small_synth.root / "truth"
    records = pq.read_table(truth / "records.parquet")
    events = pq.read_table(truth / "events.parquet")
    people = pq.read_table(truth / "people.parquet")
    assert people.num_rows == small_synth.people
    assert set(records.column("person_id").to_pylist()) <= set(
        people.column("person_id").to_pylist()
    )
    for org in small_synth.events:
        org_records = records.filter(pc.equal(records["org"], org))
        org_events = events.filter(pc.equal(events["org"], org))
        assert org_records.num_rows == small_synth.records[org]
        assert org_events.num_rows == small_synth.events[org]
    contacts = events.filter(pc.equal(events["direction"], "in"))
    assert contacts.num_rows == small_synth.contacts
    assert contacts["category"].null_count == 0
    assert contacts["demand_type"].null_count == 0
    failures = contacts.filter(pc.equal(contacts["demand_type"], "failure"))
    assert failures["caused_by_org"].null_count == 0
    assert failures.num_rows == small_synth.failure_contacts
    values = contacts.filter(pc.equal(contacts["demand_type"], "value"))
    assert values["caused_by_org"].null_count == values.num_rows


def test_failure_demand_often_lands_in_another_organisation(small_synth: SynthResult) -> None:
    events = pq.read_table(small_synth.root / "truth" / "events.parquet").to_pylist()
    failures = [e for e in events if e["demand_type"] == "failure"]
    elsewhere = [e for e in failures if e["caused_by_org"] != e["received_by_org"]]
    assert 0.1 < len(elsewhere) / len(failures) < 0.6


@pytest.mark.parametrize("target", [0.40, 0.25])
def test_failure_share_sits_in_the_configured_band(tmp_path: Path, target: float) -> None:
    made = generate(tmp_path, SynthConfig(people=800, seed=3, failure_share=target))
    assert abs(made.failure_share - target) < 0.05


def test_failure_rates_differ_between_groups_as_configured(tmp_path: Path) -> None:
    cfg = SynthConfig(people=3000, seed=5, failure_multipliers={"disability": 2.0})
    made = generate(tmp_path, cfg)
    people = {
        r["person_id"]: r for r in pq.read_table(made.root / "truth/people.parquet").to_pylist()
    }
    needs: dict[str, bool] = {}
    owner: dict[str, str] = {}
    for e in pq.read_table(made.root / "truth/events.parquet").to_pylist():
        needs[e["need_id"]] = needs.get(e["need_id"], False) or e["failure"] is not None
        owner[e["need_id"]] = e["person_id"]
    rate = {}
    for flag in (True, False):
        ids = [n for n in needs if people[owner[n]]["disability"] is flag]
        rate[flag] = sum(needs[n] for n in ids) / len(ids)
    assert 1.6 < rate[True] / rate[False] < 2.5


def test_identity_disagreements_match_the_configured_rates(small_synth: SynthResult) -> None:
    cfg = SynthConfig()
    truth = small_synth.root / "truth"
    people = {r["person_id"]: r for r in pq.read_table(truth / "people.parquet").to_pylist()}
    records = pq.read_table(truth / "records.parquet").to_pylist()
    for org, rates in cfg.identity_errors.items():
        recs = [r for r in records if r["org"] == org]
        movers = [r for r in recs if people[r["person_id"]]["old_postcode"]]
        old = sum(r["postcode_flag"] == "old" for r in movers) / len(movers)
        # Binomial noise on a few hundred records: allow four standard deviations.
        sd = (rates.old_postcode * (1 - rates.old_postcode) / len(movers)) ** 0.5
        assert abs(old - rates.old_postcode) < 4 * sd + 0.01, org
        missing = sum(r["dob_flag"] == "missing" for r in recs) / len(recs)
        sd = (rates.dob_missing * (1 - rates.dob_missing) / len(recs)) ** 0.5
        assert abs(missing - rates.dob_missing) < 4 * sd + 0.01, org
    flags = Counter(r["forename_flag"] for r in records)
    assert flags["nickname"] > 0 and flags["typo"] > 0
    assert Counter(r["surname_flag"] for r in records)["maiden"] > 0


def test_identifiers_are_valid(small_synth: SynthResult) -> None:
    people = pq.read_table(small_synth.root / "truth" / "people.parquet").to_pylist()
    assert all(nhs.is_valid(p["nhs_number"]) for p in people)
    assert all(NINO.match(p["nino"]) for p in people)
    assert len({p["nino"] for p in people}) > 0.99 * len(people)


def test_names_come_from_a_mix_of_origins(tmp_path: Path) -> None:
    made = generate(tmp_path, SynthConfig(people=1500, seed=9))
    people = pq.read_table(made.root / "truth" / "people.parquet").to_pylist()
    origins = Counter(p["origin"] for p in people)
    assert set(origins) == {"british", "welsh", "south_asian", "polish", "double_barrelled"}
    assert origins["british"] > 0.6 * len(people)
    assert any("-" in p["surname"] for p in people)
    assert len({p["surname"] for p in people}) > 300


def test_contact_notes_are_written_for_contacts_only(small_synth: SynthResult) -> None:
    import csv

    with (small_synth.root / "exports/benefits/contacts.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    inbound = [r for r in rows if r["Direction"] == "Inbound"]
    assert inbound and all(r["Adviser Notes"] for r in inbound)
    assert all(r["Adviser Notes"] == "" for r in rows if r["Direction"] == "Outbound")
    assert len({r["Adviser Notes"] for r in inbound}) > 0.8 * len(inbound)


def test_dates_in_the_benefits_csv_are_day_first(small_synth: SynthResult) -> None:
    text = (small_synth.root / "exports/benefits/claimants.csv").read_text(encoding="utf-8")
    dobs = [line.split(",")[3] for line in text.splitlines()[1:] if line.split(",")[3]]
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", d) for d in dobs)
    assert any(int(d[:2]) > 12 for d in dobs)  # a day past 12 proves day-first
