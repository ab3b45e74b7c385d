"""One organisation's copy of a person's identity, with the disagreements real ones have.

Every disagreement is drawn at the rate the configuration sets for that organisation and
recorded as a flag in the ground truth, so tests can check the rates and linkage can be
scored against the truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from functools import cache

import nicknames

from joinedup.synth._config import IdentityErrorRates
from joinedup.synth._identity import Identity

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(slots=True)
class OrgRecord:
    """A person record as one organisation holds it, and how it differs from the truth."""

    org: str
    local_ref: str
    person_id: str
    forename: str
    surname: str
    date_of_birth: date | None
    postcode: str | None
    address: str
    sex: str
    nino: str | None
    nhs_number: str | None
    forename_flag: str
    surname_flag: str
    dob_flag: str
    postcode_flag: str
    id_flag: str


@cache
def _namer() -> nicknames.NickNamer:
    return nicknames.NickNamer()


@cache
def nicknames_for(forename: str) -> tuple[str, ...]:
    """The nicknames a curated table gives for a forename, capitalised, in a fixed order."""
    found = _namer().nicknames_of(forename.lower())
    return tuple(sorted(n.capitalize() for n in found if len(n) > 1))


def typo(rng: random.Random, word: str) -> str:
    """One keying slip: a letter dropped, doubled, swapped with its neighbour or replaced."""
    if len(word) < 3:
        return word + rng.choice(_LETTERS)
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        out = word[:i] + word[i + 1 :]
    elif kind == 1:
        out = word[:i] + word[i] + word[i:]
    elif kind == 2:
        out = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    else:
        out = word[:i] + rng.choice(_LETTERS) + word[i + 1 :]
    return out if out != word else word + rng.choice(_LETTERS)


def org_record(
    rng: random.Random,
    org: str,
    local_ref: str,
    who: Identity,
    rates: IdentityErrorRates,
    holds: str,
) -> OrgRecord:
    """The organisation's copy of ``who``; ``holds`` names its identifier (nino or nhs)."""
    forename, fore_flag = who.forename, "exact"
    nicks = nicknames_for(forename)
    if nicks and rng.random() < rates.nickname:
        forename, fore_flag = rng.choice(nicks), "nickname"
    elif rng.random() < rates.forename_typo:
        forename, fore_flag = typo(rng, forename), "typo"

    surname, sur_flag = who.surname, "exact"
    if who.maiden_name and rng.random() < rates.maiden_name:
        surname, sur_flag = who.maiden_name, "maiden"
    elif rng.random() < rates.surname_typo:
        surname, sur_flag = typo(rng, surname), "typo"

    dob: date | None = who.date_of_birth
    dob_flag = "exact"
    if rng.random() < rates.dob_missing:
        dob, dob_flag = None, "missing"
    elif (
        who.date_of_birth.day <= 12
        and who.date_of_birth.day != who.date_of_birth.month
        and rng.random() < rates.dob_swapped
    ):
        d = who.date_of_birth
        dob, dob_flag = date(d.year, d.day, d.month), "swapped"

    postcode: str | None = who.postcode
    pc_flag = "exact"
    if rng.random() < rates.postcode_missing:
        postcode, pc_flag = None, "missing"
    elif who.old_postcode and rng.random() < rates.old_postcode:
        postcode, pc_flag = who.old_postcode, "old"

    ident = who.nino if holds == "nino" else who.nhs_number if holds == "nhs" else None
    id_flag = "exact" if ident else "none"
    if ident and rng.random() < rates.id_missing:
        ident, id_flag = None, "missing"

    return OrgRecord(
        org=org,
        local_ref=local_ref,
        person_id=who.person_id,
        forename=forename,
        surname=surname,
        date_of_birth=dob,
        postcode=postcode,
        address=who.address,
        sex=who.sex,
        nino=ident if holds == "nino" else None,
        nhs_number=ident if holds == "nhs" else None,
        forename_flag=fore_flag,
        surname_flag=sur_flag,
        dob_flag=dob_flag,
        postcode_flag=pc_flag,
        id_flag=id_flag,
    )
