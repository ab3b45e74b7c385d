"""Fixtures for the journeys tests: a workspace with links taken from the synthetic truth
(the linkage stage is tested on its own), episodes built, and pm4py as the reference."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from joinedup import journeys
from joinedup.journeys import EpisodeSettings, _jit, _kernels, _native
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace

#: How the synthetic population's contact notes name each organisation (its ORG_DISPLAY).
SYNTH_ORG_NAMES = {
    "benefits": ["DWP"],
    "tax": ["HMRC"],
    "council": ["council"],
    "health": ["GP surgery"],
}
SYNTH_SETTINGS = EpisodeSettings(org_names=SYNTH_ORG_NAMES)

#: The loops ``_kernels`` hands out, each built twice: in C (``_native``) and by Numba.
KERNELS = (
    "string_runs",
    "times_ordered",
    "order_by_case",
    "directly_follows",
    "variant_groups",
    "gather_cases",
    "sequence_keys",
    "settle_ties",
    "text_codes",
)


@pytest.fixture(scope="module", params=["native", "numba"])
def kernels(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests on the C kernels, then again on the Numba ones (the fallback
    where the package was installed without a C compiler)."""
    if request.param == "native" and _native.library() is None:
        pytest.skip("the C kernels were not built (see test_native.py)")
    build = _native if request.param == "native" else _jit
    with pytest.MonkeyPatch.context() as patch:
        for name in KERNELS:
            patch.setattr(_kernels, name, getattr(build, name))
        yield request.param


def write_true_links(ws: Workspace, truth_dir: Path) -> None:
    """The true person behind every local record, as the ``links`` table."""
    rec = pq.read_table(truth_dir / "records.parquet").select(
        ["org", "local_person_ref", "person_id"]
    )
    rec = rec.append_column("match_probability", pa.array([1.0] * rec.num_rows))
    ws.engine.write("links", rec, mode="replace")


@pytest.fixture(scope="session")
def linked_workspace_dir(
    tmp_path_factory: pytest.TempPathFactory, loaded_workspace_dir: Path, small_synth: SynthResult
) -> Path:
    """The loaded workspace with true links and episodes built (read-only: copy first)."""
    path = tmp_path_factory.mktemp("journeys") / "ws"
    shutil.copytree(loaded_workspace_dir, path)
    with Workspace(path) as ws:
        write_true_links(ws, small_synth.root / "truth")
        journeys.episodes(ws, SYNTH_SETTINGS)
    return path


@pytest.fixture
def linked_ws(tmp_path: Path, linked_workspace_dir: Path) -> Any:
    """A writable copy of the linked workspace, with episodes built."""
    path = tmp_path / "ws"
    shutil.copytree(linked_workspace_dir, path)
    with Workspace(path, create=False) as ws:
        yield ws


def pm4py_reference(log: pd.DataFrame) -> dict[str, Any]:
    """pm4py's DFG, durations, start/end activities and variants of a log with columns
    ``case, activity, ts, ord``. pm4py is given the log sorted by case, time and the
    tie-break, as its variants need (DESIGN.md)."""
    with contextlib.redirect_stdout(io.StringIO()):  # pm4py prints a banner on import
        import pm4py
        from pm4py.algo.discovery.dfg.adapters.pandas.df_statistics import get_dfg_graph
    df = log.sort_values(["case", "ts", "ord"], kind="stable").reset_index(drop=True)
    df = df.rename(
        columns={"case": "case:concept:name", "activity": "concept:name", "ts": "time:timestamp"}
    )[["case:concept:name", "concept:name", "time:timestamp"]]
    dfg, starts, ends = pm4py.discover_dfg(df)
    perf, _, _ = pm4py.discover_performance_dfg(df)
    raw = get_dfg_graph(df.copy(), measure="performance", perf_aggregation_key="raw_values")
    variants = pm4py.get_variants(df)
    return {
        "dfg": {k: int(v) for k, v in dfg.items()},
        "perf": perf,
        "raw": raw,
        "starts": {k: int(v) for k, v in starts.items()},
        "ends": {k: int(v) for k, v in ends.items()},
        "variants": {tuple(k): int(v) for k, v in variants.items()},
    }


def assert_same_as_pm4py(result: journeys.ProcessMap, ref: dict[str, Any]) -> None:
    """Counts, start/end activities and variants equal; durations equal to floating-point
    rounding (pm4py sums seconds as floats, joinedup sums whole microseconds exactly)."""
    import numpy as np

    rows = result.dfg.to_pylist()
    assert {(r["source"], r["target"]): r["frequency"] for r in rows} == ref["dfg"]
    for r in rows:
        key = (r["source"], r["target"])
        p = ref["perf"][key]
        assert r["mean_seconds"] == pytest.approx(float(p["mean"]), rel=1e-12, abs=1e-9)
        assert r["median_seconds"] == pytest.approx(float(p["median"]), rel=1e-12, abs=1e-9)
        p95 = float(np.percentile(np.asarray(ref["raw"][key], dtype=float), 95))
        assert r["p95_seconds"] == pytest.approx(p95, rel=1e-12, abs=1e-9)
    assert {r["activity"]: r["cases"] for r in result.starts.to_pylist()} == ref["starts"]
    assert {r["activity"]: r["cases"] for r in result.ends.to_pylist()} == ref["ends"]
    ours = {tuple(r["activities"]): r["cases"] for r in result.variants.to_pylist()}
    assert ours == ref["variants"]
    total = sum(ref["variants"].values())
    for r in result.variants.to_pylist():
        assert r["share"] == pytest.approx(r["cases"] / total)
