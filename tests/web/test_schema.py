"""The JSON API fuzzed from its own OpenAPI schema (schemathesis) by a signed-in client:
whatever the parameters, valid or not, no request ends in a server error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from tests.web.conftest import Served

schemathesis = pytest.importorskip(
    "schemathesis",
    reason="schemathesis is not installed: it is a dev dependency (pip install -e '.[dev]')",
)
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

# The schema is read from the app a fixture serves, and each operation's strategy is
# driven with Hypothesis here: schemathesis's lazy fixture loader
# (schemathesis.pytest.from_fixture) fails under pytest 9, reading a node attribute
# pytest has renamed.


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    served.access.add_user("fuzz.council", "fuzz fuzz fuzz", "council", "analyst")
    return served.access.create_token("fuzz.council", "schemathesis")


def _fuzz(op: Any, mode: GenerationMode, headers: dict[str, str]) -> set[int]:
    """Send an operation's generated requests; return the statuses seen."""
    statuses: set[int] = set()

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        # Signed in, so never asked to sign in: the token was used.
        assert response.status_code != 401, response.text
        statuses.add(response.status_code)

    run()
    return statuses


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_gives_a_server_error(served: Served, token: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/figures", "/api/events", "/api/me"}
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[str, set[int]] = {}
    for op in operations:
        inputs = (op.query, op.path_parameters, op.headers, op.cookies)
        if mode is GenerationMode.NEGATIVE and not any(len(p) for p in inputs):
            continue  # nothing to make invalid
        seen[op.path] = _fuzz(op, mode, headers)
    if mode is GenerationMode.POSITIVE:
        # The fuzzing reached the figures themselves, not only the validation.
        assert 200 in seen["/api/figures"] and 200 in seen["/api/me"]
    else:
        assert 422 in seen["/api/events"]
