"""Where tables live: a directory holding a DuckDB file with the standard tables.

A workspace also keeps a record of every run — what ran, when, on which inputs, with
which settings and package version — in its ``runs`` table, so any figure in a report
can be traced to the run that produced it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from joinedup._version import __version__
from joinedup.engine import Engine, connect
from joinedup.errors import WorkspaceError
from joinedup.model import RUNS, STANDARD_TABLES

__all__ = ["Run", "Workspace", "WorkspaceError"]

DB_FILE = "joinedup.duckdb"
#: The folder of a Spark workspace's tables (Parquet), beside where DuckDB's file would be.
SPARK_TABLES = "tables"

#: The engine a workspace opens with when the caller names none and the folder does not
#: already hold one: the command line's --engine and --spark-master set these, and so do
#: the environment variables JOINEDUP_ENGINE and JOINEDUP_SPARK_MASTER.
_defaults: dict[str, str | None] = {
    "engine": os.environ.get("JOINEDUP_ENGINE") or "duckdb",
    "spark_master": os.environ.get("JOINEDUP_SPARK_MASTER") or None,
}


def set_default_engine(engine: str, spark_master: str | None = None) -> None:
    """The engine new workspaces use when none is named (``duckdb`` or ``spark``)."""
    _defaults["engine"] = engine
    _defaults["spark_master"] = spark_master


def _kind_of(folder: Path) -> str | None:
    """The engine a workspace folder was made with, if it is one."""
    if (folder / DB_FILE).exists():
        return "duckdb"
    if (folder / SPARK_TABLES).is_dir():
        return "spark"
    return None


@dataclass
class Run:
    """One run being recorded; stages add to ``outputs`` as they write tables."""

    run_id: str
    command: str
    inputs: dict[str, Any]
    settings: dict[str, Any]
    started_at: datetime
    outputs: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """A directory with a database of standard tables and a record of runs."""

    def __init__(
        self,
        path: Path | str,
        *,
        engine: str | None = None,
        spark_master: str | None = None,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise WorkspaceError(
                    f"no workspace at {self.path}: run a command that creates one first "
                    "(for example `joinedup demo`) or pass --workspace"
                )
            self.path.mkdir(parents=True)
        elif not self.path.is_dir():
            raise WorkspaceError(f"{self.path} is a file, not a workspace directory")
        elif not create and _kind_of(self.path) is None:
            raise WorkspaceError(
                f"{self.path} holds no {DB_FILE} and no {SPARK_TABLES}/ folder: "
                "it is not a workspace"
            )
        # An existing workspace opens with the engine it was made with, unless told.
        kind = engine or _kind_of(self.path) or str(_defaults["engine"])
        if kind == "spark":
            master = spark_master or _defaults["spark_master"]
            self.engine: Engine = connect(kind, self.path / DB_FILE, spark_master=master)
        else:
            self.engine = connect(kind, self.path / DB_FILE)
        for name, schema in STANDARD_TABLES.items():
            if not self.engine.has_table(name):
                self.engine.create_table(name, schema)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        self.engine.close()

    def count(self, table: str) -> int:
        """Rows in a table."""
        return self.engine.count(table)

    def read(self, table: str) -> pa.Table:
        """A whole table as Arrow (for small tables and tests)."""
        return self.engine.to_arrow(table)

    @contextmanager
    def run(
        self,
        command: str,
        *,
        inputs: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Iterator[Run]:
        """Record a run: a row is written when it ends, with status ok or failed."""
        run = Run(
            run_id=uuid.uuid4().hex[:12],
            command=command,
            inputs=inputs or {},
            settings=settings or {},
            started_at=datetime.now(UTC),
        )
        status, message = "ok", None
        try:
            yield run
        except BaseException as exc:
            status, message = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._record(run, status, message)

    def _record(self, run: Run, status: str, message: str | None) -> None:
        row = {
            "run_id": [run.run_id],
            "command": [run.command],
            "started_at": [run.started_at],
            "finished_at": [datetime.now(UTC)],
            "status": [status],
            "inputs": [json.dumps(run.inputs, sort_keys=True, default=str)],
            "settings": [json.dumps(run.settings, sort_keys=True, default=str)],
            "outputs": [json.dumps(run.outputs, sort_keys=True, default=str)],
            "package_version": [__version__],
            "engine": [self.engine.name],
            "message": [message],
        }
        self.engine.write("runs", pa.table(row, schema=RUNS))

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, oldest first."""
        rows = self.read("runs").sort_by("started_at").to_pylist()
        for r in rows:
            for key in ("inputs", "settings", "outputs"):
                r[key] = json.loads(r[key]) if r[key] else {}
        return rows
