"""Ingest: one organisation's export, through its data contract, into the standard tables.

Nothing is silently dropped: every row of the export is either loaded or written to the
``quarantine`` table with its source, row number, raw content and every reason it failed,
and rows read always equal rows loaded plus rows quarantined. An ingest is one
transaction; loading the same content again changes nothing; a new version of a source
replaces that source only. Each ingest measures the source's data quality (the six
dimensions of the UK Government Data Quality Framework) into the ``quality`` table;
:func:`publish_quality` puts its counts through disclosure control for showing outside
the organisation.
"""

from __future__ import annotations

import pyarrow as pa

from joinedup.ingest._contract import Contract, ContractError, load_contract
from joinedup.ingest._export import export_quarantine
from joinedup.ingest._infer import infer_contract
from joinedup.ingest._load import IngestError, IngestResult, TableResult, load
from joinedup.ingest._publish import publish_quality
from joinedup.ingest._quality import report as _report
from joinedup.workspace import Workspace

__all__ = [
    "Contract",
    "ContractError",
    "IngestError",
    "IngestResult",
    "TableResult",
    "export_quarantine",
    "infer_contract",
    "load",
    "load_contract",
    "publish_quality",
    "quality",
]


def quality(workspace: Workspace, *, org: str | None = None, source: str | None = None) -> pa.Table:
    """The data-quality report stored by the ingests, one row per measure.

    Columns as :data:`joinedup.model.QUALITY`; filter by organisation or source.
    """
    return _report(workspace.engine, org=org, source=source)
