"""A served workspace with users of two organisations, and demand labels to review."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from joinedup.governance._access import AccessStore
from joinedup.model import DEMAND
from joinedup.synth import SynthResult
from joinedup.web import create_app
from joinedup.workspace import Workspace

FAST = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
PASSWORD = "correct horse battery"
#: (username, organisation, role)
USERS = [
    ("ana.council", "council", "analyst"),
    ("owen.council", "council", "service_owner"),
    ("ada.council", "council", "administrator"),
    ("ben.benefits", "benefits", "analyst"),
]


@dataclass
class Served:
    path: Path
    access: AccessStore
    client: TestClient


def _demand_from_truth(ws: Workspace, synth: SynthResult) -> None:
    """Fill the demand table from the synthetic truth, so the review page has rows."""
    truth = pq.read_table(synth.root / "truth" / "events.parquet")
    contacts = truth.filter(pc.equal(truth["direction"], "in"))
    n = contacts.num_rows
    table = pa.table(
        {
            "event_id": contacts["event_id"],
            "demand_type": contacts["demand_type"],
            "category": contacts["category"],
            "confidence": pa.array([0.5 + (i % 50) / 100 for i in range(n)], pa.float64()),
            "decided_by": pa.array(["truth"] * n),
            "caused_by_org": contacts["caused_by_org"],
            "received_by_org": contacts["received_by_org"],
        }
    )
    ws.engine.write("demand", table.select(DEMAND.names).cast(DEMAND), mode="replace")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, loaded_workspace_dir: Path, small_synth: SynthResult
) -> Iterator[Served]:
    path = tmp_path_factory.mktemp("web") / "ws"
    shutil.copytree(loaded_workspace_dir, path)
    with Workspace(path) as ws:
        _demand_from_truth(ws, small_synth)
    access = AccessStore(path, hasher=FAST)
    for username, org, role in USERS:
        access.add_user(username, PASSWORD, org, role)
    app = create_app(path, access=access)
    with TestClient(app) as client:
        yield Served(path, access, client)


def sign_in(served: Served, username: str) -> TestClient:
    """A fresh client signed in as ``username``."""
    client = TestClient(served.client.app)
    r = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return client
