"""Property-based tests: whatever rows an export holds, none is lost, and well-formed
text comes back exactly as it went in."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from joinedup import ingest
from joinedup.errors import ContractError
from joinedup.workspace import Workspace

from .conftest import assert_nothing_lost, write_contract

HEADER = b"id,when,ch,who,note\r\n"
_runs = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Workspace]]:
    path = tmp_path_factory.mktemp("props")
    ws = Workspace(path / "ws")
    yield path, ws
    ws.close()


def _row(fields: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerow(fields)
    return buf.getvalue().encode("utf-8")


good_row = st.builds(
    lambda i, ch, note: [str(i), "2025-03-04 05:06", ch, "p1", note],
    st.integers(0, 10**9),
    st.sampled_from(["TEL", "WEB", "FAX", ""]),
    st.text(max_size=30),
)
#: Bytes that break CSV rows: quotes, delimiters, line ends, NUL, bytes that are not UTF-8.
bad_bytes = st.binary(max_size=40) | st.lists(
    st.sampled_from([b'"', b",", b"\n", b"\r", b"\x00", b"\xe9", b"x", b"1"])
).map(b"".join)
lines = st.lists(good_row.map(lambda r: _row(r)) | bad_bytes.map(lambda b: b + b"\n"), max_size=12)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines)
@example([b"\x00\n"])  # a line of one NUL byte once stopped DuckDB's CSV reader
@example([b'1,2025-03-04 05:06,TEL,p1,"open\n', b"2,2025-03-04 05:06,TEL,p1,ok\n"])
def test_no_row_is_ever_lost(folder: tuple[Path, Workspace], body: list[bytes]) -> None:
    path, ws = folder
    (path / "x.csv").write_bytes(HEADER + b"".join(body))
    contract = write_contract(path, "x.csv", source="prop", org="proporg")
    try:
        result = ingest.load(contract, ws)
    except ContractError as exc:
        # Refused outright (nothing loadable): still nothing lost.
        assert "nothing could be loaded" in str(exc) or "not look like a text" in str(exc)
        row = ws.engine.to_arrow(
            ws.engine.sql("SELECT * FROM sources WHERE source = 'prop'")
        ).to_pylist()
        if row and "nothing could be loaded" in str(exc):
            assert row[0]["loaded"] == 0
            assert row[0]["rows_in"] == row[0]["quarantined"]
        return
    assert_nothing_lost(result, ws)
    kept = ws.engine.to_arrow(
        ws.engine.sql("SELECT reason, raw FROM quarantine WHERE source = 'prop'")
    ).to_pylist()
    assert all(r["reason"] and r["raw"] for r in kept)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(st.characters(exclude_characters="\x00", codec="utf-8")), min_size=1, max_size=8
    )
)
def test_well_formed_text_round_trips(folder: tuple[Path, Workspace], notes: list[str]) -> None:
    path, ws = folder
    rows = [_row([str(i), "2025-03-04 05:06", "TEL", "p1", n]) for i, n in enumerate(notes)]
    (path / "y.csv").write_bytes(HEADER + b"".join(rows))
    contract = write_contract(path, "y.csv", source="round", org="roundorg")
    result = ingest.load(contract, ws)
    assert_nothing_lost(result, ws)
    assert result.loaded == len(notes)
    loaded = ws.engine.to_arrow(
        ws.engine.sql("SELECT event_id, note FROM events WHERE source = 'round'")
    ).to_pylist()
    got = {r["event_id"]: r["note"] for r in loaded}
    for i, n in enumerate(notes):
        assert got[f"roundorg:{i}"] == (n.strip(" \t\r\n") or None), (i, n)
