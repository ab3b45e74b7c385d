"""One organisation's copy of a person's identity, with the disagreements real ones have.

Every disagreement is drawn at the rate the configuration sets for that organisation and
recorded as a flag in the ground truth, so tests can check the rates and linkage can be
scored against the truth.
"""

from __future__ import annotations

import random
from datetime import date
from functools import cache

import nicknames
import numpy as np

from joinedup.synth._config import IdentityErrorRates
from joinedup.synth._identity import Identity

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


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


class People:
    """A batch's true identities as columns, for making records a column at a time."""

    def __init__(self, who: list[Identity]) -> None:
        def col(values: list[object]) -> np.ndarray:
            return np.array(values, dtype=object)

        self.person_id = col([w.person_id for w in who])
        self.forename = col([w.forename for w in who])
        self.surname = col([w.surname for w in who])
        self.maiden_name = col([w.maiden_name for w in who])
        self.date_of_birth = col([w.date_of_birth for w in who])
        self.postcode = col([w.postcode for w in who])
        self.old_postcode = col([w.old_postcode for w in who])
        self.nino = col([w.nino for w in who])
        self.nhs_number = col([w.nhs_number for w in who])
        self.address = col([w.address for w in who])
        self.sex = col([w.sex for w in who])
        # Whether day and month can be swapped (a day up to 12, not equal to the month).
        self.swappable = np.array([d.day <= 12 and d.day != d.month for d in self.date_of_birth])
        self.has_nicknames = np.array([bool(nicknames_for(f)) for f in self.forename])


def org_records(
    g: np.random.Generator,
    typos: random.Random,
    people: People,
    rows: np.ndarray,
    rates: IdentityErrorRates,
    holds: str,
) -> dict[str, np.ndarray]:
    """The organisation's copies of ``people`` at ``rows``, as columns (the fields
    of a record but ``org`` and ``local_ref``), each disagreement drawn at its rate
    where it is possible (see ``IdentityErrorRates``): choices from ``g``, the letters
    of typos and nicknames from ``typos``."""
    n = len(rows)

    def draw(rate: float) -> np.ndarray:
        return g.random(n) < rate

    def flags(*cases: tuple[np.ndarray, str]) -> np.ndarray:
        out = np.full(n, "exact", dtype=object)
        for where, flag in cases:
            out[where] = flag
        return out

    def typed(words: np.ndarray, where: np.ndarray) -> np.ndarray:
        out = words.copy()
        out[where] = [typo(typos, w) for w in words[where]]
        return out

    forename = people.forename[rows]
    nickname = people.has_nicknames[rows] & draw(rates.nickname)
    fore_typo = ~nickname & draw(rates.forename_typo)
    forename = typed(forename, fore_typo)
    forename[nickname] = [typos.choice(nicknames_for(f)) for f in forename[nickname]]

    maiden = people.maiden_name[rows]
    use_maiden = (maiden != None) & draw(rates.maiden_name)  # noqa: E711 (elementwise)
    sur_typo = ~use_maiden & draw(rates.surname_typo)
    surname = typed(people.surname[rows], sur_typo)
    surname[use_maiden] = maiden[use_maiden]

    dob = people.date_of_birth[rows].copy()
    dob_missing = draw(rates.dob_missing)
    swapped = ~dob_missing & people.swappable[rows] & draw(rates.dob_swapped)
    dob[swapped] = [date(d.year, d.day, d.month) for d in dob[swapped]]
    dob[dob_missing] = None

    postcode = people.postcode[rows].copy()
    pc_missing = draw(rates.postcode_missing)
    old = people.old_postcode[rows]
    use_old = ~pc_missing & (old != None) & draw(rates.old_postcode)  # noqa: E711
    postcode[use_old] = old[use_old]
    postcode[pc_missing] = None

    none = np.full(n, None, dtype=object)
    ident = (
        people.nino[rows]
        if holds == "nino"
        else people.nhs_number[rows]
        if holds == "nhs"
        else none
    )
    held = ident != None  # noqa: E711
    id_missing = held & draw(rates.id_missing)
    ident = ident.copy()
    ident[id_missing] = None
    id_flag = flags((~held, "none"), (id_missing, "missing"))
    return {
        "person_id": people.person_id[rows],
        "forename": forename,
        "surname": surname,
        "date_of_birth": dob,
        "nino": ident if holds == "nino" else none,
        "nhs_number": ident if holds == "nhs" else none,
        "address": people.address[rows],
        "postcode": postcode,
        "sex": people.sex[rows],
        "forename_flag": flags((nickname, "nickname"), (fore_typo, "typo")),
        "surname_flag": flags((use_maiden, "maiden"), (sur_typo, "typo")),
        "dob_flag": flags((swapped, "swapped"), (dob_missing, "missing")),
        "postcode_flag": flags((use_old, "old"), (pc_missing, "missing")),
        "id_flag": id_flag,
    }
