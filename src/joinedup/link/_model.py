"""The Fellegi–Sunter model as Splink settings: comparisons and blocking on encodings.

Each field kind gets a short ladder of comparison levels. In keyed mode similarity is
the Dice coefficient of two Bloom filters, written as plain SQL over 64-bit words,
``2 * Σ popcount(a_k & b_k) / (pop_a + pop_b)``; in plain mode the same ladder uses
string equality and Jaro–Winkler. Exact levels compare keyed tokens, which are equal
exactly when the normalised values are. Blocking rules compare keyed tokens only, so
blocking sees nothing plain either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joinedup.privacy._encode import BLOCKING_KEYS, Kind


@dataclass(frozen=True)
class Field:
    """A field both sides of some pair hold, as the model sees it."""

    name: str
    kind: Kind


def _dice(name: str, words: int) -> str:
    # bit_count returns a one-byte integer in DuckDB: summing them overflows, so cast.
    terms = " + ".join(
        f"CAST(bit_count({name}__bf{w}_l & {name}__bf{w}_r) AS INTEGER)" for w in range(words)
    )
    return f"(2.0 * ({terms}) / ({name}__pop_l + {name}__pop_r))"


def _level(sql: str, label: str, *, null: bool = False, exact: bool = False) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    return level


class _Similarity:
    """Writes 'how alike' conditions for one mode; thresholds map Dice onto Jaro–Winkler."""

    def __init__(self, keyed: bool, words: int) -> None:
        self.keyed, self.words = keyed, words

    def fuzzy_col(self, name: str) -> str:
        return f"{name}__pop" if self.keyed else f"{name}__txt"

    def null(self, col: str) -> dict[str, Any]:
        return _level(f"{col}_l IS NULL OR {col}_r IS NULL", "missing", null=True)

    def exact(self, name: str) -> dict[str, Any]:
        if self.keyed:
            # Equal filters are equal q-gram sets; two different values colliding on all
            # 512 bits is vanishingly unlikely. Comparing the words stops at the first
            # that differs, which is cheaper than the Dice (12% less CPU in scoring).
            same = " AND ".join(f"{name}__bf{w}_l = {name}__bf{w}_r" for w in range(self.words))
            return _level(same, "exact")
        return _level(f"{name}__txt_l = {name}__txt_r", "exact")

    def alike(self, name: str, dice: float, jw: float) -> dict[str, Any]:
        if self.keyed:
            return _level(f"{_dice(name, self.words)} >= {dice}", f"Dice >= {dice}")
        return _level(
            f"jaro_winkler_similarity({name}__txt_l, {name}__txt_r) >= {jw}",
            f"Jaro-Winkler >= {jw}",
        )


def _else() -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": "all other"}


#: The share of one person's records that disagree on a value meant to be fixed for
#: life (an identifier, sex, date of birth) through keying slips: a prior, not an estimate.
FIXED_FIELD_DISAGREEMENT = 0.01


def _else_fixed() -> dict[str, Any]:
    """The disagreement level of a field that clean data never shows disagreeing for the
    same person. EM drives such an m value to exactly zero there, which Splink 5 rejects
    (and which would make one disagreement veto any match), so it is held at a prior."""
    return {**_else(), "m_probability": FIXED_FIELD_DISAGREEMENT, "fix_m_probability": True}


def _overlap(col: str, label: str) -> dict[str, Any]:
    return _level(f"list_has_any({col}_l, {col}_r)", label)


def comparison(f: Field, keyed: bool, words: int) -> dict[str, Any]:
    """The comparison (a ladder of levels) for one field."""
    s, n, k = _Similarity(keyed, words), f.name, f.kind
    levels: list[dict[str, Any]]
    if k in (Kind.FORENAME, Kind.SURNAME):
        middle = (
            _overlap(f"{n}__alias", "nickname or formal name")
            if k == Kind.FORENAME
            else _overlap(f"{n}__parts", "one part of a double-barrelled name")
        )
        levels = [
            s.null(s.fuzzy_col(n)),
            s.exact(n),
            s.alike(n, 0.8, 0.92),
            middle,
            s.alike(n, 0.6, 0.8),
            _else(),
        ]
    elif k in (Kind.FULLNAME, Kind.ADDRESS, Kind.TEXT):
        levels = [
            s.null(s.fuzzy_col(n)),
            s.exact(n),
            s.alike(n, 0.8, 0.92),
            s.alike(n, 0.6, 0.8),
            _else(),
        ]
    elif k == Kind.DOB:
        levels = [
            s.null(f"{n}__tok"),
            _level(f"{n}__tok_l = {n}__tok_r", "exact"),
            _level(f"{n}__tok_l = {n}__swap_r", "day and month swapped"),
        ]
        if keyed:
            levels.append(_level(f"{_dice(n, words)} >= 0.7", "three of day, month, year, decade"))
        else:
            levels.append(_level(f"levenshtein({n}__txt_l, {n}__txt_r) <= 2", "one part differs"))
        levels.append(_else_fixed())
    elif k == Kind.POSTCODE:
        levels = [
            s.null(f"{n}__tok"),
            _level(f"{n}__tok_l = {n}__tok_r", "exact"),
            _level(f"{n}__out_l = {n}__out_r", "same outward code"),
            _else(),
        ]
    else:  # sex, exact identifiers
        levels = [s.null(f"{n}__tok"), _level(f"{n}__tok_l = {n}__tok_r", "exact"), _else_fixed()]
    return {"output_column_name": n, "comparison_levels": levels, "comparison_description": k.value}


#: Keys that block a pair only when one of its dates of birth is missing. Forename and
#: surname alone are shared by more and more different people as the population grows:
#: at a million people they let through 24 million pairs, 21.5 million of them caught by
#: no other key and none of those a true pair (19.9 million held both dates). A pair
#: with both dates is left to the keys that combine names with the date or postcode.
#: Each side is a rule of its own, so the engine filters the records before the join.
_NO_DOB = frozenset({"bk__fnsn"})

#: Keys whose initial of a name blocks a pair only with the whole of that name agreeing
#: too. A date, a postcode or a year of birth with an initial has a set of values that
#: does not grow with the population, so its blocks grow with it and its pairs with the
#: square of it: at a million people these keys let through 18 million pairs no other
#: key caught, none of them true (1 million now). The pairs they are for (see
#: docs/methods/linkage.md, Blocking) have that whole name right: of the synthetic true
#: pairs none was lost, and the ones only the address key still catches rose from 669
#: to 717 of 280,819 at 100,000 people, from 6,590 to 7,114 of 2.8 million at a million.
#: The keys with a forename initial and a date or postcode stay as they are: they catch
#: a changed surname whatever the forename's nickname or typo, which the whole forename
#: would lose (171 and 107 more pairs left to the address at 100,000 people).
_WHOLE_NAME = {"bk__dob_sn1": "surname", "bk__pc_sn1": "surname", "bk__sn_yob_fn1": "forename"}


#: Keys whose initial of a name blocks a pair only where the names are alike: at least
#: the lowest level of the name's comparison short of "all other" (Dice >= 0.6 or
#: Jaro-Winkler >= 0.8), or a nickname of one another. They stay for the changed
#: surname whatever the forename's nickname or typo (see :data:`_WHOLE_NAME`); a pair
#: whose forenames are not alike at all (John and James) scores that name's strongest
#: disagreement, and such pairs were nearly all the pairs these keys let through at a
#: million people, where the date or postcode with an initial is shared by many.
_ALIKE_NAME = {"bk__dob_fn1": "forename", "bk__pc_fn1": "forename"}

#: The similarity of the lowest "alike" level of a name's comparison (see comparison()).
_ALIKE_DICE, _ALIKE_JW = 0.6, 0.8


def _alike(name: str, columns: set[str]) -> str | None:
    """Names alike as a condition of a join, as the comparison's lowest "alike" level
    and its nickname level would find them."""
    words = sorted(c for c in columns if c.startswith(f"{name}__bf"))
    if words:
        terms = " + ".join(f"CAST(bit_count(l.{c} & r.{c}) AS INTEGER)" for c in words)
        pop = f"{name}__pop"
        like = f"(2.0 * ({terms}) / (l.{pop} + r.{pop})) >= {_ALIKE_DICE}"
    elif f"{name}__txt" in columns:
        like = f"jaro_winkler_similarity(l.{name}__txt, r.{name}__txt) >= {_ALIKE_JW}"
    else:
        return None
    alias = f"{name}__alias"
    if alias in columns:
        like = f"{like} OR list_has_any(l.{alias}, r.{alias})"
    return f"({like})"


def _whole(name: str, columns: set[str]) -> str | None:
    """Agreement on the whole of a name as a join condition: every word of the Bloom
    filters equal (keyed; as the comparisons' exact level), or the text (plain)."""
    words = sorted(c for c in columns if c.startswith(f"{name}__bf"))
    if words:
        return " AND ".join(f"l.{c} = r.{c}" for c in words)
    return f"l.{name}__txt = r.{name}__txt" if f"{name}__txt" in columns else None


def _key_rules(key: str, right: str, columns: set[str], has_dob: bool) -> list[str]:
    """The rules of one key (``right``: the key it meets on the other record)."""
    rule = f"l.{key} = r.{right}"
    if key in _NO_DOB and has_dob:
        return [f"{rule} AND {side}.dob__tok IS NULL" for side in ("l", "r")]
    if key in _WHOLE_NAME:
        extra = _whole(_WHOLE_NAME[key], columns)
    elif key in _ALIKE_NAME:
        extra = _alike(_ALIKE_NAME[key], columns)
    else:
        extra = None
    return [f"{rule} AND {extra}" if extra else rule]


def blocking_rules(fields: list[Field], columns: set[str]) -> list[str]:
    """Blocking rules on keyed tokens; a pair is scored if any rule lets it through.

    The combined keys (``bk__*``, see ``privacy._encode.BLOCKING_KEYS``) come first; a
    date of birth or postcode that no key covers (a file without names) blocks alone.
    Where the files hold dates of birth, forename and surname block only a pair with a
    date missing (see :data:`_NO_DOB`); keys with an initial of one name and a date or
    postcode also need the whole name to agree (:data:`_WHOLE_NAME`).
    """
    keys = [c for c in sorted(columns) if c.startswith("bk__") and c != "bk__dsw_sn1"]
    has_dob = any(f.kind == Kind.DOB for f in fields) and "dob__tok" in columns
    rules = [r for c in keys for r in _key_rules(c, c, columns, has_dob)]
    if "bk__dsw_sn1" in columns and "bk__dob_sn1" in columns:
        rules += _key_rules("bk__dob_sn1", "bk__dsw_sn1", columns, has_dob)
    standard = {f.name for f in fields if f.name == f.kind.value}
    covered = {k for c in keys for k in BLOCKING_KEYS.get(c.removeprefix("bk__"), ())}
    if "dob" in standard and Kind.DOB not in covered:
        rules += ["l.dob__tok = r.dob__tok", "l.dob__tok = r.dob__swap"]
    if "postcode" in standard and Kind.POSTCODE not in covered:
        rules.append("l.postcode__tok = r.postcode__tok")
    rules += [f"l.{f.name}__tok = r.{f.name}__tok" for f in fields if f.kind == Kind.EXACT_ID]
    return rules


def mentions(f: Field, keyed: bool) -> str:
    """A condition that is always true yet names the field's columns.

    Splink holds a comparison's parameters fixed during an EM session only if the
    session's blocking rule uses that comparison's columns. A blocking key derived from
    a field (first letters of the names) is a different column, so without this Splink
    would estimate the field's m values from pairs that all agree on it.
    """
    col = (
        f"{f.name}__pop"
        if keyed and f.kind not in (Kind.SEX, Kind.EXACT_ID)
        else (f"{f.name}__txt" if f.kind not in (Kind.SEX, Kind.EXACT_ID) else f"{f.name}__tok")
    )
    return f"(l.{col} IS NULL OR l.{col} IS NOT NULL)"


def settings(fields: list[Field], columns: set[str], keyed: bool, words: int) -> dict[str, Any]:
    """A Splink settings dictionary (engine-neutral until bound to a database API)."""
    return {
        "link_type": "link_only",
        "unique_id_column_name": "local_person_ref",
        "source_dataset_column_name": "org",
        "comparisons": [comparison(f, keyed, words) for f in fields],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r} for r in blocking_rules(fields, columns)
        ],
        "retain_intermediate_calculation_columns": False,
        "retain_matching_columns": False,
    }
