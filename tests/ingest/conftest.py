"""Helpers for the ingest tests: small contracts over small files, and the invariant
every ingest must keep (rows read = rows loaded + rows quarantined)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from joinedup.ingest import IngestResult
from joinedup.workspace import Workspace

DATA = Path(__file__).parent.parent / "data" / "ingest"

#: The fields of the small test contracts: an id, a time, a channel code and a note.
EVENT_FIELDS: dict[str, Any] = {
    "event_id": {"column": "id"},
    "occurred_at": {"column": "when", "type": "timestamp", "format": "%Y-%m-%d %H:%M"},
    "channel": {"column": "ch", "codes": {"TEL": "phone", "WEB": "web"}},
    "local_person_ref": {"column": "who"},
    "note": {"column": "note"},
}


def write_contract(folder: Path, file: str, **settings: Any) -> Path:
    """A contract for ``file`` (relative to ``folder``) with the test event fields."""
    events = settings.pop("events", {})
    doc: dict[str, Any] = {
        "org": settings.pop("org", "testorg"),
        "source": settings.pop("source", "test-source"),
        "format": settings.pop("format", "csv"),
        **settings,
        "events": {"file": file, "fields": events.pop("fields", EVENT_FIELDS), **events},
    }
    path = folder / f"{doc['source']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def assert_nothing_lost(result: IngestResult, ws: Workspace) -> None:
    """Rows read = loaded + quarantined, per table, and the workspace holds exactly that."""
    for t in result.tables:
        assert t.rows_in == t.loaded + t.quarantined, t
        where = f"org = '{result.org}' AND source = '{result.source}'"
        held = ws.engine.sql(f"SELECT count(*) AS n FROM {t.table} WHERE {where}")
        assert ws.engine.to_arrow(held).column("n")[0].as_py() == t.loaded
        kept = ws.engine.sql(
            f"SELECT count(*) AS n FROM quarantine WHERE source = '{result.source}' "
            f"AND table_name = '{t.table}'"
        )
        assert ws.engine.to_arrow(kept).column("n")[0].as_py() == t.quarantined


def snapshot(ws: Workspace, tables: tuple[str, ...] | None = None) -> dict[str, pa.Table]:
    """Every row of the workspace's tables, in a stable order, to compare before/after."""
    names = tables or ("events", "people", "quarantine", "quality", "sources", "runs")
    out = {}
    for name in names:
        t = ws.read(name)
        out[name] = t.sort_by([(c, "ascending") for c in t.column_names if _sortable(t, c)])
    return out


def _sortable(t: pa.Table, column: str) -> bool:
    return not pa.types.is_list(t.schema.field(column).type)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()
