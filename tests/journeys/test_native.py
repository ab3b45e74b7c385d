"""The journeys' kernels in C (built with the package) and their Numba fallback: the same
results bit for bit, the fallback chosen where there is no library, and a build that
fails without breaking the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from joinedup.journeys import _cbuild, _jit, _kernels, _native, _ordered

HERE = Path(_native.__file__).parent
needs_library = pytest.mark.skipif(_native.library() is None, reason="the C kernels were not built")


def _same(a: Any, b: Any) -> None:
    """Equal, bit for bit: arrays of the same type and values, numbers of the same value."""
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    else:
        assert a == b


@st.composite
def _events(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """A log's events as the kernels get them: case numbers (each case appears; cases
    of one event, revisits of an activity), times with many ties, codes, tie-breaks."""
    cases = draw(st.integers(1, 40))
    n = cases + draw(st.integers(0, 200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    case = np.concatenate([np.arange(cases), rng.integers(0, cases, n - cases)])
    case = rng.permutation(case).astype(np.int32)
    scale = draw(st.sampled_from([1, 60_000_000, 2**40]))
    us = rng.integers(0, draw(st.integers(1, 50)), n).astype(np.int64) * scale
    codes = rng.integers(0, draw(st.integers(1, 12)), n).astype(np.int32)
    return case, us, codes, rng.permutation(n).astype(np.int64)


def _both(name: str, *args: Any) -> tuple[Any, Any]:
    """``name`` run by each build on its own copies of ``args`` (kernels write into some)."""
    return tuple(  # type: ignore[return-value]
        getattr(build, name)(*(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        for build in (_native, _jit)
    )


@needs_library
@settings(max_examples=60, deadline=None)
@given(events=_events(), has_tie=st.booleans(), mask=st.sampled_from([2**64 - 1, 0, 5]))
def test_the_c_and_numba_kernels_agree_bit_for_bit(
    events: tuple[np.ndarray, ...], has_tie: bool, mask: int
) -> None:
    case, us, codes, tie = events
    n, cases = len(case), int(case.max()) + 1
    ordered = []
    for build in (_native, _jit):
        out = np.empty(n, np.int64), np.empty(n, np.int32), np.empty(n * has_tie, np.int64)
        first = build.order_by_case(
            case, cases, us, codes, tie if has_tie else np.empty(0, np.int64), has_tie, *out
        )
        ordered.append((first, *out))
    _same(ordered[0], ordered[1])
    first, us, codes, _ = ordered[0]
    _same(*_both("times_ordered", us, first))
    k = int(codes.max()) + 1
    # pairs numbered densely (source * k + target), and as the many-activities path does
    linked = np.ones(n - 1, bool)
    linked[first[1:] - 1] = False
    pairs = np.where(linked, codes[:-1].astype(np.int64) * k + codes[1:], -1)
    for pair_id in (np.empty(0, np.int64), np.unique(pairs, return_inverse=True)[1]):
        gaps = np.empty(n - len(first), np.int64)
        _same(*_both("directly_follows", codes, us, first, k, pair_id.astype(np.int64), gaps))
    grouped = []
    for build in (_native, _jit):
        table = np.full((1 << (2 * cases).bit_length(), 2), -1, np.int64)
        rep, counts = np.empty(cases, np.int64), np.zeros(cases, np.int64)
        found = build.variant_groups(codes, first, np.uint64(mask), table, rep, counts)
        grouped.append((table, rep[:found], counts[:found]))
    _same(grouped[0], grouped[1])
    _, rep, counts = grouped[0]
    _same(*_both("gather_cases", codes, first, rep))
    rank = np.random.default_rng(k).permutation(k).astype(np.int64)
    starts, ends = first[rep], np.append(first[1:], n)[rep]
    key = _native.sequence_keys(codes, starts, ends, rank)
    _same(key, _jit.sequence_keys(codes, starts, ends, rank))
    by_key = np.argsort(key)
    order = by_key[np.argsort(-counts[by_key], kind="stable")]
    settled = order.copy(), order.copy()
    for build, o in zip((_native, _jit), settled, strict=True):
        build.settle_ties(o, counts, key, codes, starts, ends, rank)
    _same(*settled)
    for q in (0.0, 0.3, 0.5, 0.95, 1.0):
        run = us[: len(us) // 2 + 1]
        spare = np.empty(len(run), np.int64)
        low, high = int(run.min()), int(run.max())
        _same(*_both("_quantile", run, q, low, high, spare))


@needs_library
@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.sampled_from(["", "a", "ab", "abcdefgh", "abcdefghi", "x" * 16, "x" * 17, "é" * 9]),
        min_size=1,
        max_size=80,
    ),
    large=st.booleans(),
    skip=st.integers(0, 2),
    room=st.sampled_from([4, 1024]),
)
def test_text_kernels_agree_bit_for_bit(
    values: list[str], large: bool, skip: int, room: int
) -> None:
    # offsets of 32 and 64 bits, arrays that start inside their buffers, and a table too
    # small for every value (the kernel gives up with -1)
    for column in (values, sorted(values)):
        chunk = pa.array(column, pa.large_string() if large else pa.string())[skip:]
        if len(chunk) == 0:
            continue
        offsets, data = _ordered._text_buffers(chunk)
        starts = np.empty(len(chunk), np.int64)
        runs = _native.string_runs(offsets, data, starts)
        starts_jit = np.empty(len(chunk), np.int64)
        assert runs == _jit.string_runs(offsets, data, starts_jit)
        _same(starts[: runs[0]], starts_jit[: runs[0]])
        state = [
            (
                np.full((room, 4), -1, np.int64),
                np.zeros(256, np.uint8),
                np.zeros(room // 2 + 1, np.int64),
            )
            for _ in range(2)
        ]
        codes = [np.empty(len(chunk), np.int32) for _ in range(2)]
        found = [
            build.text_codes(offsets, data, *s, 0, c)
            for build, s, c in zip((_native, _jit), state, codes, strict=True)
        ]
        assert found[0] == found[1]
        if found[0] >= 0:
            _same((*state[0], codes[0]), (*state[1], codes[1]))


def _compiler_found() -> bool:
    return shutil.which(_cbuild.compiler()[0]) is not None


@pytest.mark.skipif(not _compiler_found(), reason="no C compiler: the Numba kernels serve")
def test_the_library_is_built_and_chosen_where_there_is_a_compiler() -> None:
    # make install compiles it (hatch_build.py); a stale library (the C source edited
    # since) is not loaded, nor is one missing from a new checkout or git worktree
    assert _native.library() is not None, (
        "the C kernels are missing or stale: run `python src/joinedup/journeys/_cbuild.py`"
    )
    if os.environ.get("JOINEDUP_NATIVE") != "0":
        assert _kernels.BACKEND == "native"


LOG = (
    "import json, sys, pyarrow as pa; from datetime import datetime as d; "
    "from joinedup import journeys; from joinedup.journeys import _kernels; "
    "m = journeys.discover_log(pa.table({'c': ['a', 'a', 'a', 'b', 'c', 'c', 'c'], "
    "'a': ['x', 'y', 'x', 'x', 'y', 'x', 'y'], 't': [d(2025, 1, 1), d(2025, 1, 1), "
    "d(2025, 1, 3), d(2025, 1, 2), d(2025, 2, 1), d(2025, 2, 1, 5), d(2025, 2, 1, 5)]}), "
    "case_col='c', activity_col='a', time_col='t'); "
    "print(json.dumps([_kernels.BACKEND, 'numba' in sys.modules, m.dfg.to_pylist(), "
    "m.variants.select(['variant', 'cases']).to_pylist(), m.starts.to_pylist(), "
    "m.ends.to_pylist()]))"
)


def _mine(native: str | None) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if k != "JOINEDUP_NATIVE"}
    if native is not None:
        env["JOINEDUP_NATIVE"] = native
    out = subprocess.run(
        [sys.executable, "-c", LOG], capture_output=True, text=True, check=True, env=env
    )
    return list(json.loads(out.stdout))


@needs_library
def test_a_fresh_process_mines_without_numba_and_joinedup_native_0_falls_back() -> None:
    backend, numba_loaded, *native = _mine(None)
    assert (backend, numba_loaded) == ("native", False)
    backend, numba_loaded, *fallback = _mine("0")
    assert (backend, numba_loaded) == ("numba", True)
    assert native == fallback
    assert native[0]  # a graph was mined


def test_importing_journeys_leaves_the_kernels_for_the_first_mining() -> None:
    code = "import sys, joinedup.journeys; print('joinedup.journeys._kernels' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_a_missing_or_stale_library_is_not_loaded(tmp_path: Path) -> None:
    assert _native._load(tmp_path) is None  # none built: Numba's kernels serve
    shutil.copy(HERE / _cbuild.SOURCE, tmp_path)
    (tmp_path / _cbuild.LIBRARY).write_bytes(b"not a library")
    assert _native._load(tmp_path) is None
    if not _compiler_found():
        return
    _cbuild.build(tmp_path)
    assert _native._load(tmp_path) is not None
    # the source edited after the build: the old library is not used
    with (tmp_path / _cbuild.SOURCE).open("a") as source:
        source.write("\n/* edited */\n")
    assert _native._load(tmp_path) is None


def test_a_failed_build_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    shutil.copy(HERE / _cbuild.SOURCE, tmp_path)
    with pytest.raises(_cbuild.BuildError, match="no C compiler"):
        _cbuild.build(tmp_path, cc=[str(tmp_path / "no-such-cc")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [_cbuild.SOURCE]
    if not _compiler_found():
        return
    (tmp_path / _cbuild.SOURCE).write_text("this is not C\n")
    with pytest.raises(_cbuild.BuildError, match="failed"):
        _cbuild.build(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [_cbuild.SOURCE]
