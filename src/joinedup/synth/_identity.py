"""UK-style identities: names, dates of birth, addresses, NI and NHS numbers.

Names come from frequency lists (Faker's en_GB surnames carry weights) mixed with Welsh,
South Asian and Polish names and double-barrelled surnames, in proportions close to
those of the UK population. NHS numbers carry a valid modulus-11 check digit; NI numbers
follow HMRC's rules for allowed prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
from faker import Faker
from faker.providers.person import en_GB as person_gb
from faker.providers.person import en_IN, en_PK, pl_PL

# Common Welsh names (ONS and Welsh Government lists show these among the most frequent).
_WELSH_SURNAMES = (
    "Jones",
    "Williams",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Hughes",
    "Lewis",
    "Morgan",
    "Griffiths",
    "Price",
    "Rees",
    "Jenkins",
    "Lloyd",
    "Powell",
    "Owen",
    "Parry",
    "Pugh",
    "Vaughan",
    "Bowen",
    "Pritchard",
    "Llewellyn",
    "Prosser",
    "Meredith",
    "Gwynne",
)
_WELSH_MALE = (
    "Rhys",
    "Dylan",
    "Gethin",
    "Iwan",
    "Osian",
    "Gareth",
    "Dafydd",
    "Aled",
    "Huw",
    "Emyr",
    "Ieuan",
    "Tomos",
    "Cai",
    "Owain",
    "Llŷr",
    "Geraint",
    "Bryn",
    "Gruffydd",
)
_WELSH_FEMALE = (
    "Cerys",
    "Ffion",
    "Bethan",
    "Sioned",
    "Carys",
    "Megan",
    "Elin",
    "Catrin",
    "Gwen",
    "Nia",
    "Lowri",
    "Angharad",
    "Seren",
    "Mali",
    "Eleri",
    "Rhiannon",
    "Manon",
    "Siân",
)
_SEX_MALE, _SEX_FEMALE = "M", "F"

# Letters HMRC never uses in NI number prefixes, and prefixes it never allocates.
_NINO_FIRST = [c for c in "ABCEGHJKLMNOPRSTWXYZ"]
_NINO_SECOND = [c for c in "ABCEGHJKLMNPRSTWXYZ"]
_NINO_BAD = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


@dataclass(slots=True)
class Identity:
    """The true identity of one synthetic person."""

    person_id: str
    sex: str
    forename: str
    surname: str
    maiden_name: str | None
    date_of_birth: date
    house: str
    street: str
    town: str
    postcode: str
    old_postcode: str | None
    nino: str
    nhs_number: str
    origin: str

    @property
    def address(self) -> str:
        return f"{self.house} {self.street}, {self.town}"


@dataclass(frozen=True, slots=True)
class _Pools:
    male: tuple[str, ...]
    female: tuple[str, ...]
    surnames: tuple[str, ...]
    surname_cum: tuple[float, ...]
    in_male: tuple[str, ...]
    in_female: tuple[str, ...]
    sa_surnames: tuple[str, ...]
    pl_male: tuple[str, ...]
    pl_female: tuple[str, ...]
    pl_surnames: tuple[str, ...]
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    postcodes: tuple[str, ...]


@cache
def _pools() -> _Pools:
    """Name and address pools, built once per process from fixed lists and a fixed seed."""
    gb = person_gb.Provider
    weighted = list(gb.last_names.items())
    total = 0.0
    cum = []
    for _, w in weighted:
        total += float(w)
        cum.append(total)
    fake = Faker("en_GB")
    fake.seed_instance(20250101)
    streets = tuple(dict.fromkeys(fake.street_name() for _ in range(3000)))
    towns = tuple(dict.fromkeys(fake.city() for _ in range(400)))
    postcodes = tuple(dict.fromkeys(fake.postcode() for _ in range(40_000)))
    sa_surnames = tuple(dict.fromkeys(en_IN.Provider.last_names + en_PK.Provider.last_names))
    return _Pools(
        male=tuple(gb.first_names_male),
        female=tuple(gb.first_names_female),
        surnames=tuple(name for name, _ in weighted),
        surname_cum=tuple(c / total for c in cum),
        in_male=tuple(en_IN.Provider.first_names_male),
        in_female=tuple(en_IN.Provider.first_names_female),
        sa_surnames=sa_surnames,
        pl_male=tuple(pl_PL.Provider.first_names_male),
        pl_female=tuple(pl_PL.Provider.first_names_female),
        pl_surnames=tuple(pl_PL.Provider.male_last_names),
        streets=streets,
        towns=towns,
        postcodes=postcodes,
    )


def _choose(g: np.random.Generator, pool: Sequence[str], n: int) -> np.ndarray:
    """``n`` uniform choices from ``pool``, as an object array."""
    return np.array(pool, dtype=object)[(g.random(n) * len(pool)).astype(np.intp)]


def _gb_surnames(g: np.random.Generator, p: _Pools, n: int) -> np.ndarray:
    """``n`` surnames weighted as the en_GB frequency list weights them."""
    cum = np.array(p.surname_cum)
    pick = np.searchsorted(cum[:-1], g.random(n), side="right")
    return np.array(p.surnames, dtype=object)[pick]


def _names(g: np.random.Generator, female: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forenames, surnames and origin labels, in UK-like proportions: 7% South Asian,
    5% Welsh, 3% Polish, 4% double-barrelled (where the two halves differ), the rest
    British."""
    p = _pools()
    n = len(female)
    u = g.random(n)
    origin = np.select(
        [u < 0.07, u < 0.12, u < 0.15, u < 0.19],
        ["south_asian", "welsh", "polish", "double_barrelled"],
        "british",
    ).astype(object)
    fore = np.empty(n, dtype=object)
    sur = _gb_surnames(g, p, n)
    pools = {
        "south_asian": ((p.in_male, p.in_female), p.sa_surnames),
        "welsh": ((_WELSH_MALE, _WELSH_FEMALE), _WELSH_SURNAMES),
        "polish": ((p.pl_male, p.pl_female), p.pl_surnames),
        "double_barrelled": ((p.male, p.female), None),
        "british": ((p.male, p.female), None),
    }
    for label, ((male, fem), surnames) in pools.items():
        rows = origin == label
        for sex_rows, names in ((rows & ~female, male), (rows & female, fem)):
            fore[sex_rows] = _choose(g, names, int(sex_rows.sum()))
        if surnames is not None:
            sur[rows] = _choose(g, surnames, int(rows.sum()))
    polish_f = (origin == "polish") & female
    sur[polish_f] = [
        name[:-1] + "a" if name.endswith(("ski", "cki", "dzki")) else name for name in sur[polish_f]
    ]
    double = np.flatnonzero(origin == "double_barrelled")
    other = _gb_surnames(g, p, len(double))
    same = sur[double] == other
    sur[double] = np.where(same, sur[double], sur[double] + "-" + other)
    # Where the two halves agree, a British surname drawn afresh.
    sur[double[same]] = _gb_surnames(g, p, int(same.sum()))
    origin[double[same]] = "british"
    return fore, sur, origin


def _ninos(g: np.random.Generator, n: int) -> list[str]:
    """National-insurance-style numbers with allowed prefixes, e.g. ``JK123456C``."""
    prefix = np.empty(n, dtype=object)
    todo = np.arange(n)
    while len(todo):
        drawn = _choose(g, _NINO_FIRST, len(todo)) + _choose(g, _NINO_SECOND, len(todo))
        prefix[todo] = drawn
        todo = todo[np.isin(drawn, list(_NINO_BAD))]
    digits = (g.random(n) * 1_000_000).astype(np.int64)
    suffix = _choose(g, tuple("ABCD"), n)
    return [f"{a}{d:06d}{b}" for a, d, b in zip(prefix, digits.tolist(), suffix, strict=True)]


def _weighted_sums(weights: tuple[int, ...]) -> tuple[int, ...]:
    """For every four-digit number, the sum of its digits times ``weights``."""
    return tuple(
        sum(int(d) * w for d, w in zip(f"{n:04d}", weights, strict=True)) for n in range(10_000)
    )


_NHS_WEIGHTED = (_weighted_sums((9, 8, 7, 6)), _weighted_sums((5, 4, 3, 2)))


def _nhs_numbers(g: np.random.Generator, n: int) -> list[str]:
    """Ten-digit NHS-style numbers whose last digit is the modulus-11 check digit."""
    high, low = (np.array(t) for t in _NHS_WEIGHTED)
    first = np.empty(n, np.int64)
    rest = np.empty(n, np.int64)
    check = np.empty(n, np.int64)
    todo = np.arange(n)
    while len(todo):
        f = np.array([4, 6, 7])[(g.random(len(todo)) * 3).astype(np.intp)]
        r = (g.random(len(todo)) * 100_000_000).astype(np.int64)
        # Digits weighted 10, 9, ... 2: the first digit, then the rest's two halves.
        c = 11 - (f * 10 + high[r // 10_000] + low[r % 10_000]) % 11
        c[c == 11] = 0
        first[todo], rest[todo], check[todo] = f, r, c
        todo = todo[c == 10]  # 10 means the number is never issued: draw again
    return [
        f"{a}{b:08d}{c}"
        for a, b, c in zip(first.tolist(), rest.tolist(), check.tolist(), strict=True)
    ]


def make_identities(g: np.random.Generator, person_ids: list[str], start: date) -> list[Identity]:
    """People's true identities, aged 16 to 95 on ``start``."""
    p = _pools()
    n = len(person_ids)
    female = g.random(n) < 0.51
    forename, surname, origin = _names(g, female)
    age_days = g.triangular(16 * 365.25, 38 * 365.25, 95 * 365.25, n).astype(np.int64)
    # Her surname now may be her married name; her birth surname is the maiden name.
    married = female & (age_days > 24 * 365) & (g.random(n) < 0.35)
    maiden = np.full(n, None, dtype=object)
    maiden[married] = surname[married]
    surname[married] = _gb_surnames(g, p, int(married.sum()))
    maiden[married & (surname == maiden)] = None
    dob = np.datetime64(start, "D") - age_days.astype("timedelta64[D]")
    flat = g.random(n) >= 0.9
    number = np.where(
        flat, 1 + (g.random(n) * 40).astype(np.int64), 1 + (g.random(n) * 180).astype(np.int64)
    )
    house = [
        f"Flat {k}" if f else str(k) for f, k in zip(flat.tolist(), number.tolist(), strict=True)
    ]
    moved = g.random(n) < 0.3
    old = _choose(g, p.postcodes, n)
    old[~moved] = None
    return [
        Identity(*fields)
        for fields in zip(
            person_ids,
            np.where(female, _SEX_FEMALE, _SEX_MALE).tolist(),
            forename.tolist(),
            surname.tolist(),
            maiden.tolist(),
            dob.astype(object).tolist(),
            house,
            _choose(g, p.streets, n).tolist(),
            _choose(g, p.towns, n).tolist(),
            _choose(g, p.postcodes, n).tolist(),
            old.tolist(),
            _ninos(g, n),
            _nhs_numbers(g, n),
            origin.tolist(),
            strict=True,
        )
    ]


def age_on(dob: date, day: date) -> int:
    """Age in whole years on a day."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def age_band(age: int) -> str:
    """The age band used for fairness findings."""
    if age < 25:
        return "16-24"
    if age < 35:
        return "25-34"
    if age < 50:
        return "35-49"
    if age < 65:
        return "50-64"
    return "65+"
