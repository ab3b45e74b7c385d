"""The compiled Dice kernel gives exactly the values of the SQL comparison levels."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from joinedup import privacy
from joinedup.link import _dice
from joinedup.link._dice import Filters, and_popcount, count_at_least, dice_block, dice_pairs
from joinedup.link._errors import LinkageError
from joinedup.link._model import _dice as sql_dice
from tests.privacy.conftest import SECRET

SURNAMES = [
    "smith", "smyth", "smithe", "jones", "johns", "o'neill", "oneill", "ahmed", "ahmad",
    "ng", "li", "lee", "brown", "browne", "taylor", "tailor", "wilson", "willson", "evans",
    "evens", "thomas", "tomas", "roberts", "robertson", "a", None, "patel", "patil", "xu",
]  # fmt: skip


def _filters(rng: np.random.Generator, n: int, words: int, density: int) -> np.ndarray:
    """Random words, sparser as ``density`` grows (each AND halves the bits set)."""
    w = rng.integers(-(2**63), 2**63 - 1, size=(n, words), dtype=np.int64)
    for _ in range(density):
        w &= rng.integers(-(2**63), 2**63 - 1, size=(n, words), dtype=np.int64)
    return w


def _table(words: np.ndarray, missing: np.ndarray) -> pa.Table:
    cols: dict[str, pa.Array] = {
        f"f__bf{k}": pa.array(words[:, k], pa.int64(), mask=missing) for k in range(words.shape[1])
    }
    pops = np.bitwise_count(words.view(np.uint64)).sum(axis=1).astype(np.int32)
    cols["f__pop"] = pa.array(pops, pa.int32(), mask=missing)
    return pa.table(cols)


def _sql_block(a: pa.Table, b: pa.Table, name: str, words: int) -> np.ndarray:
    """Dice of every pair by the SQL Splink runs, as a matrix (NaN for NULL)."""
    con = duckdb.connect()
    con.register("a", a.append_column("i", pa.array(np.arange(a.num_rows))))
    con.register("b", b.append_column("j", pa.array(np.arange(b.num_rows))))
    cols = [f"{name}__bf{w}" for w in range(words)] + [f"{name}__pop"]
    sel = ", ".join([f"a.{c} AS {c}_l" for c in cols] + [f"b.{c} AS {c}_r" for c in cols])
    rows = con.execute(
        f"SELECT i, j, CAST({sql_dice(name, words)} AS DOUBLE) AS d "
        f"FROM (SELECT a.i, b.j, {sel} FROM a, b) ORDER BY i, j"
    ).fetchnumpy()
    out = np.full((a.num_rows, b.num_rows), np.nan)
    d = np.asarray(rows["d"], dtype=np.float64)  # masked NULLs come back as NaN
    if hasattr(rows["d"], "mask"):
        d[np.ma.getmaskarray(rows["d"])] = np.nan
    out[rows["i"], rows["j"]] = d
    return out


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal bit for bit, NaN where the other is NaN."""
    return bool(np.array_equal(x, y, equal_nan=True))


@pytest.mark.parametrize(("words", "density"), [(8, 2), (8, 0), (8, 4), (4, 2), (16, 3)])
def test_kernel_equals_sql_on_random_filters(words: int, density: int) -> None:
    rng = np.random.default_rng(words * 10 + density)
    wa, wb = _filters(rng, 120, words, density), _filters(rng, 90, words, density)
    wb[:10] = wa[:10]  # identical filters: Dice exactly 1
    wa[10] = 0  # an empty filter: 0 / 0 on the diagonal of empties, as SQL's NULL
    wb[10] = 0
    ma, mb = rng.random(120) < 0.1, rng.random(90) < 0.1
    ma[:10] = mb[:10] = False
    ta, tb = _table(wa, ma), _table(wb, mb)
    want = _sql_block(ta, tb, "f", words)
    got = dice_block(Filters.from_table(ta, "f"), Filters.from_table(tb, "f"))
    assert np.isnan(got).sum() > 0 and (got == 1.0).sum() >= 10
    assert _same(got, want)


def test_kernel_equals_sql_on_real_encodings() -> None:
    people = pa.table(
        {
            "person_ref": [f"R{i}" for i in range(len(SURNAMES))],
            "surname": SURNAMES,
        }
    )
    schema = privacy.schema_from_options("person_ref", ["surname=surname"])
    enc = privacy.pseudonymise(people, org="a", secret=SECRET, schema=schema).table
    words = 512 // 64
    want = _sql_block(enc, enc, "surname", words)
    f = Filters.from_table(enc, "surname")
    got = dice_block(f, f)
    assert _same(got, want)
    # Near spellings are alike, others not: the values are meaningful, not just equal.
    i, j = SURNAMES.index("smith"), SURNAMES.index("smyth")
    assert 0.4 < got[i, j] < 1.0 and got[i, i] == 1.0
    assert np.isnan(got[SURNAMES.index(None)]).all()
    # The pair form and the threshold count agree with the block.
    rng = np.random.default_rng(3)
    pi, pj = rng.integers(0, len(f), 500), rng.integers(0, len(f), 500)
    assert _same(dice_pairs(f, f, pi, pj), got[pi, pj])
    for t in (0.6, 0.8, 0.999):
        assert count_at_least(f, f, t) == int((got >= t).sum())


def test_block_larger_than_a_tile_and_and_popcount() -> None:
    rng = np.random.default_rng(5)
    wa, wb = _filters(rng, 300, 8, 2), _filters(rng, _dice._TILE + 300, 8, 2)
    a, b = Filters.from_words(wa), Filters.from_words(wb)
    got = dice_block(a, b)
    ua, ub = wa.view(np.uint64), wb.view(np.uint64)
    common = np.stack([np.bitwise_count(ua[x] & ub).sum(axis=1) for x in range(len(ua))])
    total = a.pops[:, None] + b.pops[None, :]
    assert _same(got, 2.0 * common / total)
    assert and_popcount(a, b) == int(common.sum())
    assert count_at_least(a, b, 0.3) == int((got >= 0.3).sum())


def test_bad_input_gives_clear_errors() -> None:
    rng = np.random.default_rng(7)
    a = Filters.from_words(_filters(rng, 5, 8, 2))
    b = Filters.from_words(_filters(rng, 5, 4, 2))
    with pytest.raises(LinkageError, match="different lengths"):
        dice_block(a, b)
    with pytest.raises(LinkageError, match="out of range"):
        dice_pairs(a, a, np.array([0, 5]), np.array([0, 1]))
    with pytest.raises(LinkageError, match="equal length"):
        dice_pairs(a, a, np.array([0, 1]), np.array([0]))
    with pytest.raises(LinkageError, match="no Bloom filters for field 'surname'"):
        Filters.from_table(pa.table({"surname__txt": ["x"]}), "surname")


def test_threshold_count_rounds_as_the_sql_division_does() -> None:
    # 2 * 4 / 10 is 0.8 exactly, just below the double nearest 0.8, yet the division
    # rounds to that double, so SQL's `dice >= 0.8` holds: the count must agree.
    least = _dice._least_common(512, 0.8)
    assert 2.0 * 4 / 10 >= 0.8 and least[10] == 4
    assert least[0] > 512  # 0 / 0 reaches no threshold
    f = Filters.from_words(np.array([[0b1111, 0], [0b1111_0011, 0]], dtype=np.int64))
    # popcounts 4 and 6, two bits in common: Dice 4 / 10
    assert dice_pairs(f, f, np.array([0]), np.array([1]))[0] == 0.4
    assert count_at_least(f, f, 0.4) == 2 + 2  # the two self-pairs and both cross pairs
