"""The encodings of a small, fixed set of records, pinned: a change to normalisation,
tokens, filters or blocking keys that would stop new files linking with old ones (made
with the same secret and encoding version) fails here. The digests were computed by the
encoder before it was rewritten to work on distinct values in bulk (2026-11-29)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from joinedup.privacy import (
    BloomSettings,
    FieldSpec,
    Kind,
    PrivacyError,
    Schema,
    _parts,
    pseudonymise,
)
from joinedup.privacy._encode import Encoder

SECRET = b"pinned-secret-for-known-encodings-0001"

PEOPLE = {
    "local_person_ref": ["R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"],
    "forename": ["Bill", "Mr William", "Zoë", None, "Łukasz", "peggy", "Anne-Marie", "  "],
    "surname": ["Smith-Jones", "SMITH", "O'Brien", "Ng", "Wiśniewski", "Lee", "du Pré", "X"],
    "date_of_birth": ["1980-03-07", "1980-07-03", "1975-12-31", None, "2001-01-01",
                      "1990-05-05", "1962-11-09", "1999-02-28"],
    "sex": ["M", "male", "F", "2", None, "f", "F", "x"],
    "postcode": ["sw1a1aa", "SW1A 1AA", "M1 1AE", "not a postcode", None, "EC1A-1BB",
                 "b33 8th", ""],
    "address": ["10 Downing St.", "10 downing street", "Flat 2, 3 The Close", None,
                "Ul. Długa 5", "1 High St", "2 Rue de l'Église", "?"],
    "nino": ["AB 12 34 56 C", "ab123456c", None, "QQ123456A", None, "ZZ999999D", None, ""],
    "nhs_number": [None, None, "943 476 5919", None, "9434765870", None, None, None],
}  # fmt: skip

#: sha256 of every encoded column, as JSON (see _digest), and of the whole table.
KNOWN: dict[str, str] = {
    "org": "c655448b29c56953dbe83f47bfe494a459e4826599f77ab6a4084e9ad0bd9a28",
    "local_person_ref": "2a274b95b23f1b0f228e7f6af94230736186cdcafbc1c4d43f25191e2c5e4cee",
    "forename__alias": "04af5e5643fc631bdf37f1a8af96482cab721d9ba5c274d4cfe097c5240119fd",
    "forename__bf0": "fc830270c844115d317809443f5a7a92de6680302e2059c5716437e0a9bf2aaa",
    "forename__bf1": "fd74c339dd91f529126de64b5c0b963410ad8e075fefe37d83643ad660274744",
    "forename__bf2": "8bb42ae21622ab81847341bb43af77517fe106a5735e9a41d4293c0c99bb7162",
    "forename__bf3": "ee34a1cf1340d8d5f889f1741f5a6b30c41d59b1773ea45c6a6998349854cc9b",
    "forename__bf4": "e0c9e844c365b3bfb74f160fb4709267eb4de01b5d500ca04ec36fed0374c79c",
    "forename__bf5": "db0a56f0b246642cd135ec0de40659c91c9d1f43c3ddb5391a558895acb65a06",
    "forename__bf6": "609ffefef49bb6a5f7f5fb41ea8475e0341d5bc5392d3640b8dee1acb33d7cb7",
    "forename__bf7": "22f99cb06cd47045d4ecaafd3743bfa54b4789eb7c27671b97e6ab5e62463c74",
    "forename__pop": "2e42425ef23c62e0dbacf7a803d5944eaa51c59769bdaf64d6629b080153882e",
    "surname__parts": "b63e67002a908b4b439e2b235a41ec0074e860f5d086b66a336d19dbde3cc27d",
    "surname__bf0": "eef3ac6dc5a3d028a6b57011ad9c07203858ac9e5237d5eb8c62fc897d1664cb",
    "surname__bf1": "f5d45887af7a17d7ca0493ffd9b48a6616c6765736ff8c20aa8425d1f7176960",
    "surname__bf2": "270c59a0e8c49f9d6f3bbc0664a420d40b05df2923ddb3e25035de2c4bd9e311",
    "surname__bf3": "8ef4b87e3d0ca59d5bc86597664a88a9879c31a8589fee66e3600a0efd2f3ce8",
    "surname__bf4": "61317d72e9f275a12adb98b8e47dd34eb067be5411a71d9bf5f987d6f247177b",
    "surname__bf5": "5345da013ff882500bbf38e8da6871274ed831096acf855ada82b56751a73619",
    "surname__bf6": "7937601e55f69d52d4697b9ce59dbe9c5fabbab240c326e9ff95e334db4177a2",
    "surname__bf7": "1dc7777e7c8a8143ad9eb1322756007cd23182aad355a34ea3d96ffb7caca511",
    "surname__pop": "6551c6b1e737db4e7ceb1d2b71d759cc161e8a68ff2216a3a75f2ac44329d8e5",
    "dob__tok": "63d7b693ed217734aaef2a4ec5388f2eaedbf7ade67e482e4419fce03fdbec4b",
    "dob__swap": "b79f58f5fb18779b47941eefd0e187d59c63bb98aedaff850973dd816ea21280",
    "dob__bf0": "a7ff3907416a8b78b687f4230f9e57341a60a3383f9990c53a749f1a5907f7ac",
    "dob__bf1": "9dc0e545600294c5e417107cdc13cc3899bba1c04c793b0c7045bbba206e92aa",
    "dob__bf2": "eeaa065981a090c0da1ab9372e503d023553c4197943315b648061425c12a9be",
    "dob__bf3": "ae1ef105a563e6ddc314c7d53bd41754d90437869975597ca5c3e3c20a4d02c8",
    "dob__bf4": "8378f2b4ae0aba616abaf352d9eb018aa6e78e8159b2f41de2dadcc9ca2d2ea6",
    "dob__bf5": "64ed3b25651ab2c43495a40c00276cb69acd261c02e25c06773a16d394c6b161",
    "dob__bf6": "d682f6b8ed927fbb05e84244ca37e3f0e6892901febb0a3db52ad51427caecc8",
    "dob__bf7": "68719cd1da053171a2e39b0a08973e51e6a9c50a8f0edae33e472e65a9313639",
    "dob__pop": "08208c560e51e2ec578939a6fe9bbb08733f28d6b0c483b0ba84479e9b00dab9",
    "sex__tok": "3549db376f7c8c814cd730ae9c35fcf4d1bffa1bdc2c1c1aa3e8b60f3663a3fa",
    "postcode__tok": "f8991aedd594be189a8aeafe50e4741fa6815eacb7a75e6b1aebf6242e9fb3ac",
    "postcode__out": "90f74bc6fd71ad62744603ed2d8c187e76534f00f8bb6ccddfd6085d5017953a",
    "postcode__bf0": "a97e60a2999aa8519e27615722f3bd9591fb5db6ef593791d9f8d4bb14c32d46",
    "postcode__bf1": "9e3e66cabe80e67395275d14debb6a74739b765236309c99144f1c6e2dbd33fc",
    "postcode__bf2": "6fbe3bff23c50ab357b603a7a4b6796fd1d03586361db1c6aeeb4466756f4156",
    "postcode__bf3": "dbd71a860ca451ee21fde9025d4c7cd7d6ca1930d649b675af5a0f65a6d04f19",
    "postcode__bf4": "d08d243b90b511a00b6929586791c118d76f890972e8df375ee643451d370bbc",
    "postcode__bf5": "a61f4694219681844901e20fab17ade7a58a75dfaec3b70a030e6301e75a3642",
    "postcode__bf6": "18ec8db87bad7a7dcd89397370654f88b2b20eacf3201c7632fecd1eed2b150e",
    "postcode__bf7": "b9877a74c883f3d28ad5d8274dea4a018f01247be1d11dec77aa8f4d9af13d4c",
    "postcode__pop": "ad4e8dcb6e3b590878f1d3256f7b62cd866703048e4ca6ef1d74e622b3202387",
    "address__bf0": "eae0934f02fb31743ecb84c83c2fe0346612280b4125aac1f19962e77cc0edb1",
    "address__bf1": "32dda5cee7d9e670ff9ce1631c29954aac9dcd712146acb38b18ff8449b73749",
    "address__bf2": "c95e51c195a013fc3d3d4d42f0951dc2c5dba62f79da84cfd6f5b5dc190998bb",
    "address__bf3": "c67cbc3d21edd66f351976bb49218054d8f2bdc6becd03a37f19590f1674f77e",
    "address__bf4": "6fbe27c49b8837e8b9aab30cf2148b2ba0a9efc2a154f365f3dcd9786bc8a491",
    "address__bf5": "e04383938de43a22d5a987727af98df883cd8a883b59dba0e45dcbf63114e8b5",
    "address__bf6": "2d7678902a5e80a8a861672c030a595cdc4b85965a635f50bc8f086241562ae4",
    "address__bf7": "f51577864add50eec25a0dfdb547dce90e3580c3945ac8391a3b10ec835b601e",
    "address__pop": "61a45a7309bac9ab1685af5383676b3cd65578f6ee6e14471c2a80b82085ba7b",
    "nino__tok": "8ac2e0ca96d49fbaf662cd35a845689ab181aa59972f63e5c2ca798d9cb2ac74",
    "nhs_number__tok": "27b4ee1872000570412d5e0706bc8caeb6b2f3c3164d25613a15d8f55faafe31",
    "bk__dob_sn1": "10d50d5b2ec7a2471d44f46212766fffc5cdeab2b978f94120e9765e9dba9189",
    "bk__dsw_sn1": "d20bcf9f87bc5de0e074e3d8c6e0fe663c3aff2f08e6a1e1f0680b011bd7ad77",
    "bk__dob_fn1": "638c41367021b1d2d532a9d2dafd6569e1cbdbc6d40557ad4f3a57cf1d04a658",
    "bk__sn_yob_fn1": "fca238d84af2458f1c18e4c0399ca6854cfe38084d7e54e89f4d8be973276a3c",
    "bk__fnsn": "f5f8b6c87eef50b7d871b9e792a9b1290b7d7e13ec442bb2c75a8944f4cc40cc",
    "bk__fn_sn_out": "cef363397080c8ee935d8f9f92f05ba29552caa7e131fdb2c3ef81810cd5fe6a",
    "bk__pc_yob": "39e5a27f6f8f90da21ea25f0019a8fa497c57dd4ec2b426fe6f27b65f8eedb88",
    "bk__pc_fn1": "49f8978be74d27fbf2ad8a1d8f663394422aac4582234f6e9b9cd7fb150b4853",
    "bk__pc_sn1": "f0eeddb123919af4ad6dffa444e907ff74f9731faeb76cf6dd31ded6d63fe7ce",
    "bk__addr": "0e91235efa416942530fdfe4de59d724dae45588c764a5c663c7e681d9fcfbe7",
}
KNOWN_TABLE = "e22cba6a1998e9af2c215cbf7497025cbd3aed3594986e8cc341fd517826dd0a"
KNOWN_OTHER = "ff51976b65a8bb3e0422bfe708920e13d0b80d29200597b218ce07e594eaca29"


def _digest(values: list[Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


#: Other kinds, and a filter whose q-grams need two HMACs each (20 positions).
OTHER = Schema(
    id_col="local_person_ref",
    fields=(
        FieldSpec(column="forename", kind=Kind.FULLNAME, name="name"),
        FieldSpec(column="address", kind=Kind.TEXT, name="note"),
        FieldSpec(column="date_of_birth", kind=Kind.DOB),
    ),
    bloom=BloomSettings(bits=256, hashes=20),
)


def _encoded(**kw: Any) -> pa.Table:
    return pseudonymise(pa.table(PEOPLE), org="o", secret=SECRET, **kw).table


def test_the_standard_encodings_are_unchanged() -> None:
    table = _encoded()
    got = {c: _digest(table.column(c).to_pylist()) for c in table.column_names}
    assert got == KNOWN
    assert _digest(table.to_pylist()) == KNOWN_TABLE


def test_a_token_spelt_out() -> None:
    # Both spellings of one NI number give one token; the token is HMAC-SHA256 under a
    # key derived for the field, its first 96 bits in hex.
    tokens = _encoded().column("nino__tok").to_pylist()
    assert tokens[0] == tokens[1] == KNOWN_NINO
    assert len(KNOWN_NINO) == 24


KNOWN_NINO = "0b5bee95c9ac154afa451979"


def test_other_kinds_and_filter_settings_are_unchanged() -> None:
    assert _digest(_encoded(schema=OTHER).to_pylist()) == KNOWN_OTHER


def test_a_table_encoded_in_parts_is_encoded_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # Parts of three records, so these eight go to three processes: this one and two
    # helpers. The dates are text, read once for the whole column.
    monkeypatch.setattr(_parts, "PART_ROWS", 3)
    whole = pseudonymise(pa.table(PEOPLE), org="o", secret=SECRET, processes=1)
    parted = pseudonymise(pa.table(PEOPLE), org="o", secret=SECRET, processes=3)
    assert parted.table.equals(whole.table)
    assert parted.notes == whole.notes
    assert "date_of_birth: dates read as yyyy-mm-dd" in parted.notes
    assert _digest(parted.table.to_pylist()) == KNOWN_TABLE


def test_dates_given_as_dates_encode_as_their_text() -> None:
    people = pa.table(PEOPLE)
    born = [None if v is None else date.fromisoformat(v) for v in PEOPLE["date_of_birth"]]
    i = people.column_names.index("date_of_birth")
    as_dates = people.set_column(i, "date_of_birth", pa.array(born, pa.date32()))
    table = pseudonymise(as_dates, org="o", secret=SECRET).table
    assert _digest(table.to_pylist()) == KNOWN_TABLE


def test_tokens_in_bulk_are_the_one_shot_hmac() -> None:
    # Encoder.tokens reuses the padded keys' hash states (RFC 2104); Encoder.token is
    # the library's one-shot HMAC. Short and long values, and one longer than a block.
    enc = Encoder(SECRET, BloomSettings())
    values = ["", "a", "1980-03-07|s", "x" * 63, "y" * 64, "ż" * 100, None]
    assert enc.tokens("bk_fnsn", values) == [
        None if v is None else enc.token("bk_fnsn", v) for v in values
    ]


def test_a_helper_that_fails_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # A helper that exits at once (here: not Python at all) reads nothing and writes
    # nothing: the run stops with a message rather than returning part of the records.
    monkeypatch.setattr(_parts, "PART_ROWS", 3)
    monkeypatch.setattr(_parts.sys, "executable", "false")
    with pytest.raises(PrivacyError, match="encoding records from 5 on failed"):
        pseudonymise(pa.table(PEOPLE), org="o", secret=SECRET, processes=2)
