"""A served workspace (every stage run) with users of several organisations."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.report.pipeline import pipeline_workspace

from joinedup.governance._access import AccessStore
from joinedup.web import create_app

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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A copy of the shared workspace with every stage run, served to signed-in users."""
    path = tmp_path_factory.mktemp("web") / "ws"
    shutil.copytree(pipeline_workspace(tmp_path_factory), path)
    access = AccessStore(path, hasher=FAST)
    for username, org, role in USERS:
        access.add_user(username, PASSWORD, org, role)
    app = create_app(path, access=access, warm=False)
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
