"""Shapley value: efficiency, symmetry, null player and order invariance, as properties."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joinedup.value import shapley
from joinedup.value._gainshare import fix_game
from joinedup.value._shapley import coalition_values, pro_rata, shapley_exact

NAMES = [f"org{i:02d}" for i in range(16)]


def table_game(players: list[str], values: list[float]) -> dict[frozenset[str], float]:
    """A game given as one value per coalition (bitmask order), with v(empty) = 0."""
    n = len(players)
    game = {}
    for mask in range(1 << n):
        members = frozenset(players[i] for i in range(n) if mask >> i & 1)
        game[members] = 0.0 if mask == 0 else values[mask]
    return game


@st.composite
def games(
    draw: st.DrawFn, min_players: int = 1, max_players: int = 6
) -> tuple[list[str], dict[frozenset[str], float]]:
    n = draw(st.integers(min_players, max_players))
    players = NAMES[:n]
    values = draw(
        st.lists(
            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            min_size=1 << n,
            max_size=1 << n,
        )
    )
    return players, table_game(players, values)


@given(games())
def test_efficiency(case: tuple[list[str], dict[frozenset[str], float]]) -> None:
    players, game = case
    phi = shapley(players, game.__getitem__)
    assert sum(phi.values()) == pytest.approx(game[frozenset(players)], rel=1e-9, abs=1e-6)


@given(games(min_players=2), st.data())
def test_symmetry(case: tuple[list[str], dict[frozenset[str], float]], data: st.DataObject) -> None:
    players, base = case
    i, j = data.draw(st.lists(st.sampled_from(players), min_size=2, max_size=2, unique=True))

    def swap(s: frozenset[str]) -> frozenset[str]:
        return frozenset(j if p == i else i if p == j else p for p in s)

    # Symmetrised: i and j are interchangeable in every coalition.
    game = {s: base[s] + base[swap(s)] for s in base}
    phi = shapley(players, game.__getitem__)
    assert phi[i] == pytest.approx(phi[j], rel=1e-9, abs=1e-6)


@given(games(min_players=2), st.data())
def test_null_player(
    case: tuple[list[str], dict[frozenset[str], float]], data: st.DataObject
) -> None:
    players, base = case
    k = data.draw(st.sampled_from(players))
    # k adds nothing to any coalition.
    game = {s: base[s - {k}] for s in base}
    phi = shapley(players, game.__getitem__)
    assert phi[k] == pytest.approx(0.0, abs=1e-6)


@given(games(), st.randoms(use_true_random=False))
def test_order_invariance(case: tuple[list[str], dict[frozenset[str], float]], rnd: object) -> None:
    players, game = case
    shuffled = list(players)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert shapley(shuffled, game.__getitem__) == shapley(players, game.__getitem__)


@settings(max_examples=20, deadline=None)
@given(games(min_players=3, max_players=7), st.integers(0, 10_000))
def test_sampled_estimate_is_efficient_and_close(
    case: tuple[list[str], dict[frozenset[str], float]], seed: int
) -> None:
    players, game = case
    exact = shapley(players, game.__getitem__)
    sampled = shapley(players, game.__getitem__, exact_limit=0, samples=4000, seed=seed)
    assert sum(sampled.values()) == pytest.approx(game[frozenset(players)], rel=1e-9, abs=1e-6)
    spread = max(abs(v) for v in game.values()) or 1.0
    for p in players:
        assert sampled[p] == pytest.approx(exact[p], abs=0.25 * spread)


def test_additive_game_gives_each_its_own_worth() -> None:
    worth = {"a": 3.0, "b": 5.0, "c": -2.0}
    phi = shapley(list(worth), lambda s: sum(worth[p] for p in s))
    assert phi == pytest.approx(worth)


def test_fix_game_without_cost_splits_each_saving_with_the_fixer() -> None:
    # With no cost the game is a sum of two-player games: each beneficiary's saving is
    # shared equally between it and the fixer, the fixer's own saving stays with it.
    savings = {"benefits": 100.0, "council": 60.0, "health": 20.0}
    phi = shapley(list(savings), fix_game(savings, "benefits", 0.0))
    assert phi == pytest.approx({"benefits": 140.0, "council": 30.0, "health": 10.0})


def test_pro_rata_shares_in_proportion() -> None:
    assert pro_rata({"a": 1.0, "b": 3.0}, 8.0) == pytest.approx({"a": 2.0, "b": 6.0})


def test_duplicate_players_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated: a"):
        shapley(["a", "b", "a"], lambda s: 0.0)


def test_exact_shapley_for_12_orgs_under_a_second() -> None:
    rng = np.random.default_rng(1)
    savings = {n: float(x) for n, x in zip(NAMES[:12], rng.uniform(0, 1e5, 12), strict=True)}
    game = fix_game(savings, NAMES[0], 2e5)
    start = time.perf_counter()
    phi = shapley(list(savings), game)
    elapsed = time.perf_counter() - start
    assert sum(phi.values()) == pytest.approx(game(frozenset(savings)))
    assert elapsed < 1.0


def test_exact_matches_vectorised_definition_on_a_small_game() -> None:
    players = ["x", "y"]
    game = {frozenset(): 0.0, frozenset("x"): 1.0, frozenset("y"): 2.0, frozenset("xy"): 6.0}
    v = coalition_values(players, game.__getitem__)
    assert list(shapley_exact(v)) == pytest.approx([2.5, 3.5])
