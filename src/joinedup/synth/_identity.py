"""UK-style identities: names, dates of birth, addresses, NI and NHS numbers.

Names come from frequency lists (Faker's en_GB surnames carry weights) mixed with Welsh,
South Asian and Polish names and double-barrelled surnames, in proportions close to
those of the UK population. NHS numbers carry a valid modulus-11 check digit; NI numbers
follow HMRC's rules for allowed prefixes.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

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


def _pick(rng: random.Random, seq: Sequence[str]) -> str:
    """A uniform choice: one draw, without ``Random.choice``'s rejection loop."""
    return seq[int(rng.random() * len(seq))]


def _gb_surname(rng: random.Random, p: _Pools) -> str:
    return p.surnames[bisect(p.surname_cum, rng.random(), 0, len(p.surname_cum) - 1)]


def _polish_surname(rng: random.Random, p: _Pools, sex: str) -> str:
    name = _pick(rng, p.pl_surnames)
    if sex == _SEX_FEMALE and name.endswith(("ski", "cki", "dzki")):
        name = name[:-1] + "a"
    return name


def _name(rng: random.Random, sex: str) -> tuple[str, str, str]:
    """A forename, surname and origin label, in UK-like proportions."""
    p = _pools()
    u = rng.random()
    male = sex == _SEX_MALE
    if u < 0.07:
        fore = _pick(rng, p.in_male if male else p.in_female)
        return fore, _pick(rng, p.sa_surnames), "south_asian"
    if u < 0.12:
        fore = _pick(rng, _WELSH_MALE if male else _WELSH_FEMALE)
        return fore, _pick(rng, _WELSH_SURNAMES), "welsh"
    if u < 0.15:
        fore = _pick(rng, p.pl_male if male else p.pl_female)
        return fore, _polish_surname(rng, p, sex), "polish"
    fore = _pick(rng, p.male if male else p.female)
    if u < 0.19:
        a, b = _gb_surname(rng, p), _gb_surname(rng, p)
        if a != b:
            return fore, f"{a}-{b}", "double_barrelled"
    return fore, _gb_surname(rng, p), "british"


def nino(rng: random.Random) -> str:
    """A national-insurance-style number with an allowed prefix, e.g. ``JK123456C``."""
    while True:
        prefix = _pick(rng, _NINO_FIRST) + _pick(rng, _NINO_SECOND)
        if prefix not in _NINO_BAD:
            break
    return f"{prefix}{int(rng.random() * 1_000_000):06d}{'ABCD'[int(rng.random() * 4)]}"


def nhs_number(rng: random.Random) -> str:
    """A ten-digit NHS-style number whose last digit is the modulus-11 check digit."""
    high, low = _NHS_WEIGHTED
    while True:
        first = (4, 6, 7)[int(rng.random() * 3)]
        rest = int(rng.random() * 100_000_000)
        # Digits weighted 10, 9, ... 2: the first digit, then the rest's two halves.
        total = first * 10 + high[rest // 10_000] + low[rest % 10_000]
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check != 10:  # 10 means the number is never issued
            return f"{first}{rest:08d}{check}"


def _weighted_sums(weights: tuple[int, ...]) -> tuple[int, ...]:
    """For every four-digit number, the sum of its digits times ``weights``."""
    return tuple(
        sum(int(d) * w for d, w in zip(f"{n:04d}", weights, strict=True)) for n in range(10_000)
    )


_NHS_WEIGHTED = (_weighted_sums((9, 8, 7, 6)), _weighted_sums((5, 4, 3, 2)))


def make_identity(rng: random.Random, person_id: str, start: date) -> Identity:
    """One person's true identity, aged 16 to 95 on ``start``."""
    p = _pools()
    sex = _SEX_FEMALE if rng.random() < 0.51 else _SEX_MALE
    forename, surname, origin = _name(rng, sex)
    age_days = int(rng.triangular(16 * 365.25, 95 * 365.25, 38 * 365.25))
    dob = start - timedelta(days=age_days)
    maiden = None
    if sex == _SEX_FEMALE and age_days > 24 * 365 and rng.random() < 0.35:
        # Her surname now is her married name; her birth surname is the maiden name.
        maiden = surname
        surname = _gb_surname(rng, p)
        if surname == maiden:
            maiden = None
    return Identity(
        person_id=person_id,
        sex=sex,
        forename=forename,
        surname=surname,
        maiden_name=maiden,
        date_of_birth=dob,
        house=(
            str(1 + int(rng.random() * 180))
            if rng.random() < 0.9
            else f"Flat {1 + int(rng.random() * 40)}"
        ),
        street=_pick(rng, p.streets),
        town=_pick(rng, p.towns),
        postcode=_pick(rng, p.postcodes),
        old_postcode=_pick(rng, p.postcodes) if rng.random() < 0.3 else None,
        nino=nino(rng),
        nhs_number=nhs_number(rng),
        origin=origin,
    )


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
