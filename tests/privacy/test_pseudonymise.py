"""Pseudonymisation: encodings only, the same at every organisation, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from joinedup import privacy
from joinedup.privacy import Kind, Schema, load_schema, pseudonymise, schema_from_options
from joinedup.privacy._encode import Encoder, bigrams
from joinedup.workspace import Workspace
from tests.privacy.conftest import SECRET, assert_no_plain_values, plain_values

ORGS = ["benefits", "tax", "council", "health"]


@pytest.fixture(scope="module")
def people(loaded_workspace_dir: Path) -> pa.Table:
    with Workspace(loaded_workspace_dir, create=False) as ws:
        return ws.read("people")


@pytest.fixture(scope="module")
def encoded(loaded_workspace_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("enc")
    with Workspace(loaded_workspace_dir, create=False) as ws:
        for org in ORGS:
            pseudonymise(ws, org=org, secret=SECRET, out=out / f"{org}.parquet")
    return sorted(out.glob("*.parquet"))


def test_no_written_file_holds_any_plain_value(encoded: list[Path], people: pa.Table) -> None:
    values = plain_values(people)
    assert len(values) > 2000  # the scan is looking for something
    assert_no_plain_values(encoded, values)


def test_the_scan_finds_plain_values_when_they_are_there(tmp_path: Path, people: pa.Table) -> None:
    leaky = tmp_path / "leaky.parquet"
    pq.write_table(people.select(["local_person_ref", "surname"]), leaky)
    with pytest.raises(AssertionError, match="plain values"):
        assert_no_plain_values([leaky], plain_values(people))


def test_the_secret_is_never_written(encoded: list[Path]) -> None:
    for path in encoded:
        assert SECRET not in path.read_bytes()
        assert SECRET.decode() not in str(privacy.header_of(pq.read_table(path)))


def test_output_holds_references_and_encodings_only(encoded: list[Path], people: pa.Table) -> None:
    table = pq.read_table(encoded[0])
    header = privacy.header_of(table)
    assert header is not None and header["mode"] == "keyed"
    assert header["key_check"] == privacy.key_check(SECRET)
    for name in table.column_names:
        assert name in ("org", "local_person_ref") or "__" in name, name
    org_people = people.filter(pa.compute.equal(people.column("org"), header["org"]))
    assert sorted(table.column("local_person_ref").to_pylist()) == sorted(
        org_people.column("local_person_ref").to_pylist()
    )


def test_fields_empty_at_an_organisation_are_not_encoded(encoded: list[Path]) -> None:
    council = pq.read_table(next(p for p in encoded if p.stem == "council"))
    header = privacy.header_of(council)
    assert header is not None
    names = {f["name"] for f in header["fields"]}
    assert "nino" not in names and "sex" not in names
    assert {"forename", "surname", "dob", "postcode", "address"} <= names


def test_a_dictionary_attack_without_the_secret_matches_nothing(
    encoded: list[Path], people: pa.Table
) -> None:
    """Someone who guesses every surname but not the secret cannot rebuild a filter."""
    table = pq.read_table(encoded[0])
    stored = {
        tuple(row[f"surname__bf{w}"] for w in range(8))
        for row in table.select([f"surname__bf{w}" for w in range(8)]).to_pylist()
    }
    for secret, expect_hits in ((b"a-guessed-wrong-secret-0000000000", False), (SECRET, True)):
        enc = Encoder(secret, privacy.BloomSettings())
        guesses = set()
        for name in set(people.column("surname").to_pylist()):
            f = enc.filter("surname", bigrams(privacy._normalise.name_parts(name)))
            words = [(f >> (64 * w)) & ((1 << 64) - 1) for w in range(8)]
            guesses.add(tuple(w - (1 << 64) if w >= 1 << 63 else w for w in words))
        assert bool(stored & guesses) is expect_hits


def test_the_same_value_encodes_the_same_at_every_organisation() -> None:
    a = pa.table({"ref": ["1"], "name": ["Zoë O'Brien"], "born": ["1980-03-07"]})
    b = pa.table({"ref": ["X"], "name": ["ZOE OBRIEN"], "born": ["07/03/1980"]})
    spec = schema_from_options("ref", ["name=surname", "born=dob"])
    ea = pseudonymise(a, org="a", secret=SECRET, schema=spec).table
    eb = pseudonymise(b, org="b", secret=SECRET, schema=spec)
    cols = [c for c in ea.column_names if "__" in c]
    assert ea.select(cols).to_pylist() == eb.table.select(cols).to_pylist()
    assert "born: dates read as dd/mm/yyyy" in eb.notes
    other = pseudonymise(b, org="b", secret=SECRET[::-1], schema=spec).table
    assert other.column("dob__tok")[0] != eb.table.column("dob__tok")[0]


def test_a_people_csv_with_named_fields(tmp_path: Path) -> None:
    csv = tmp_path / "people.csv"
    csv.write_text("Id,First,DOB,NI\nA1,Bill,19800307,ab123456c\nA2,Peggy,,\n", encoding="utf-8")
    spec = schema_from_options("Id", ["First=forename", "DOB=dob", "NI=exact_id:nino"])
    res = pseudonymise(csv, org="dwp", secret=SECRET, schema=spec, out=tmp_path / "o.parquet")
    assert res.table.column("local_person_ref").to_pylist() == ["A1", "A2"]
    assert res.table.column("nino__tok").null_count == 1
    assert res.table.column("dob__tok").null_count == 1
    assert "DOB: dates read as yyyymmdd" in res.notes
    assert_no_plain_values([tmp_path / "o.parquet"], {"bill", "peggy", "ab123456c", "19800307"})


def test_a_yaml_schema(tmp_path: Path) -> None:
    p = tmp_path / "linkage.yaml"
    p.write_text(
        "id_col: Id\nbloom: {bits: 256, hashes: 8}\nfields:\n"
        "  - {column: Name, kind: fullname}\n  - {column: NI, kind: exact_id, name: nino}\n",
        encoding="utf-8",
    )
    spec = load_schema(p)
    assert spec.bloom.words == 4
    assert [(f.name, f.kind) for f in spec.fields] == [
        ("fullname", Kind.FULLNAME),
        ("nino", Kind.EXACT_ID),
    ]


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    spec = schema_from_options("Id", ["Forename=forename"])
    table = pa.table({"Id": ["1"], "First": ["Ann"]})
    with pytest.raises(privacy.MissingFieldError, match=r"'Forename'.*it has: Id, First"):
        pseudonymise(table, org="x", secret=SECRET, schema=spec)


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(privacy.EmptyInputError, match="empty"):
        pseudonymise(empty, org="x", secret=SECRET)
    header_only = tmp_path / "header.csv"
    header_only.write_text("Id,Forename\n", encoding="utf-8")
    with pytest.raises(privacy.EmptyInputError, match="no person records"):
        pseudonymise(header_only, org="x", secret=SECRET)


def test_an_org_the_workspace_does_not_hold(loaded_workspace_dir: Path, tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    shutil.copytree(loaded_workspace_dir, ws_dir)
    with pytest.raises(privacy.EmptyInputError, match="no people for organisation 'police'"):
        pseudonymise(ws_dir, org="police", secret=SECRET)


def test_unreadable_dates_are_named() -> None:
    table = pa.table({"Id": ["1", "2"], "DOB": ["1980-01-02", "next tuesday"]})
    with pytest.raises(privacy.PrivacyError, match=r"'DOB'.*'next tuesday'"):
        pseudonymise(table, org="x", secret=SECRET, schema=schema_from_options("Id", ["DOB=dob"]))


def test_bad_field_options_are_explained() -> None:
    with pytest.raises(privacy.PrivacyError, match="unknown kind 'name'"):
        schema_from_options("Id", ["First=name"])
    with pytest.raises(privacy.PrivacyError, match="COLUMN=KIND"):
        schema_from_options("Id", ["First"])
    with pytest.raises(privacy.PrivacyError, match="used twice"):
        schema_from_options("Id", ["A=forename", "B=forename"])


def test_secrets_come_from_a_file_or_the_environment(
    secret_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert privacy.read_secret(secret_file) == SECRET  # the trailing newline is not part of it
    monkeypatch.setenv("MY_KEY", SECRET.decode())
    assert privacy.read_secret(None, "MY_KEY") == SECRET
    monkeypatch.delenv("JOINEDUP_SECRET", raising=False)
    with pytest.raises(privacy.SecretError, match="JOINEDUP_SECRET"):
        privacy.read_secret()
    short = tmp_path / "short"
    short.write_text("abc", encoding="utf-8")
    with pytest.raises(privacy.SecretError, match="at least 16"):
        privacy.read_secret(short)


def test_schema_model_rejects_bad_bloom_sizes() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Schema.model_validate(
            {"id_col": "a", "fields": [{"column": "b", "kind": "text"}], "bloom": {"bits": 500}}
        )
