"""Workspaces for the value stage, with demand and need episodes filled from the truth.

The demand and journeys stages are built separately; here their tables are filled from
the synthetic population's ground truth, so the value stage is tested on known answers.
Each test gets its own copy (the shared loaded workspace is read-only).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from joinedup.model import DEMAND, EPISODE_EVENTS, EPISODES
from joinedup.synth import SynthResult
from joinedup.workspace import Workspace

#: Classification confidence given to the truth-filled demand rows: failures get a
#: spread of confidences so the what-if interval has something to reflect.
FAILURE_CONFIDENCE = (0.7, 0.85, 0.95, 1.0)


def conform(cols: dict[str, object], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from the columns given, other columns null (the standard
    tables grow columns as stages are added)."""
    n = len(next(iter(cols.values())))  # type: ignore[arg-type]
    full = {f.name: cols.get(f.name, pa.nulls(n, f.type)) for f in schema}
    return pa.table(full, schema=schema)


def truth_events(synth: SynthResult) -> pa.Table:
    return pq.read_table(synth.root / "truth" / "events.parquet")


def demand_from_truth(truth: pa.Table, *, with_cause: bool) -> pa.Table:
    contacts = truth.filter(pc.equal(truth.column("direction"), "in"))
    failure = contacts.column("demand_type").to_pylist()
    confidence = [
        FAILURE_CONFIDENCE[i % len(FAILURE_CONFIDENCE)] if t == "failure" else 0.9
        for i, t in enumerate(failure)
    ]
    cols = {
        "event_id": contacts.column("event_id"),
        "demand_type": contacts.column("demand_type"),
        "category": contacts.column("category"),
        "confidence": pa.array(confidence, pa.float64()),
        "decided_by": pa.array(["truth"] * contacts.num_rows),
        "caused_by_org": contacts.column("caused_by_org"),
        "received_by_org": contacts.column("received_by_org"),
    }
    table = conform(cols, DEMAND)
    if with_cause:
        table = table.append_column("cause", contacts.column("failure"))
    return table


def episodes_from_truth(truth: pa.Table, ws: Workspace) -> tuple[pa.Table, pa.Table]:
    """One episode per true need; met when the need's case was closed as met."""
    met = {
        r["event_id"]
        for r in ws.engine.to_arrow(
            ws.engine.sql("SELECT event_id FROM events WHERE outcome = 'need met'")
        ).to_pylist()
    }
    rows = sorted(truth.to_pylist(), key=lambda r: (r["need_id"], r["occurred_at"], r["event_id"]))
    ee: dict[str, list[object]] = {n: [] for n in EPISODE_EVENTS.names}
    eps: dict[str, dict[str, object]] = {}
    for r in rows:
        ep = eps.setdefault(
            r["need_id"],
            {
                "person_id": r["person_id"],
                "start": r["occurred_at"],
                "end": r["occurred_at"],
                "met": False,
                "orgs": set(),
                "n": 0,
            },
        )
        ee["event_id"].append(r["event_id"])
        ee["episode_id"].append(r["need_id"])
        ee["person_id"].append(r["person_id"])
        ee["position"].append(ep["n"])
        ep["n"] = int(ep["n"]) + 1  # type: ignore[call-overload]
        ep["end"] = r["occurred_at"]
        ep["met"] = bool(ep["met"]) or r["event_id"] in met
        ep["orgs"].add(r["org"])  # type: ignore[union-attr]
    episodes = conform(
        {
            "episode_id": list(eps),
            "person_id": [e["person_id"] for e in eps.values()],
            "started_at": [e["start"] for e in eps.values()],
            "ended_at": [e["end"] for e in eps.values()],
            "end_reason": ["met" if e["met"] else "quiet" for e in eps.values()],
            "orgs": [sorted(e["orgs"]) for e in eps.values()],  # type: ignore[call-overload]
            "contacts": [e["n"] for e in eps.values()],
            "elapsed_seconds": [
                (e["end"] - e["start"]).total_seconds()  # type: ignore[operator]
                for e in eps.values()
            ],
        },
        EPISODES,
    )
    return episodes, conform(ee, EPISODE_EVENTS)  # type: ignore[arg-type]


def fill(
    path: Path,
    truth: pa.Table,
    *,
    with_cause: bool = False,
    episodes: tuple[pa.Table, pa.Table] | None = None,
) -> None:
    """Fill a workspace's demand (and, if given, episode) tables from the truth."""
    with Workspace(path) as ws:
        demand = demand_from_truth(truth, with_cause=with_cause)
        if with_cause:
            ws.engine.drop("demand")  # the optional cause column is not in the standard schema
            ws.engine.write("demand", demand)
        else:
            ws.engine.write("demand", demand, mode="replace")
        if episodes is not None:
            ws.engine.write("episodes", episodes[0], mode="replace")
            ws.engine.write("episode_events", episodes[1], mode="replace")


@pytest.fixture(scope="session")
def _filled_dirs(
    tmp_path_factory: pytest.TempPathFactory, loaded_workspace_dir: Path, small_synth: SynthResult
) -> dict[str, Path]:
    truth = truth_events(small_synth)
    eps: tuple[pa.Table, pa.Table] | None = None
    out = {}
    for name, with_cause, with_eps in [
        ("plain", False, True),
        ("cause", True, True),
        ("no_episodes", False, False),
    ]:
        dest = tmp_path_factory.mktemp(f"value-{name}") / "ws"
        shutil.copytree(loaded_workspace_dir, dest)
        if eps is None:  # read the events from a copy: the loaded workspace is read-only
            with Workspace(dest, create=False) as ws:
                eps = episodes_from_truth(truth, ws)
        fill(dest, truth, with_cause=with_cause, episodes=eps if with_eps else None)
        out[name] = dest
    return out


def _copy(src: Path, tmp_path: Path) -> Workspace:
    dest = tmp_path / "ws"
    shutil.copytree(src, dest)
    return Workspace(dest, create=False)


@pytest.fixture
def value_ws(_filled_dirs: dict[str, Path], tmp_path: Path) -> Workspace:
    """Demand (standard columns) and need episodes filled from the truth."""
    ws = _copy(_filled_dirs["plain"], tmp_path)
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture
def cause_ws(_filled_dirs: dict[str, Path], tmp_path: Path) -> Workspace:
    """As value_ws, with the optional demand ``cause`` column (the true failure)."""
    ws = _copy(_filled_dirs["cause"], tmp_path)
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture
def bare_ws(_filled_dirs: dict[str, Path], tmp_path: Path) -> Workspace:
    """Demand filled from the truth, but no episodes."""
    ws = _copy(_filled_dirs["no_episodes"], tmp_path)
    yield ws  # type: ignore[misc]
    ws.close()


@pytest.fixture
def truth(small_synth: SynthResult) -> pa.Table:
    return truth_events(small_synth)
