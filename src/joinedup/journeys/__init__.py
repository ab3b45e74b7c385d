"""Journeys: the citizen's timeline across organisations, need episodes and process maps.

- :func:`episodes` groups every linked event into need episodes and writes the
  ``episodes`` and ``episode_events`` tables (method: ``docs/methods/episodes.md``);
- :func:`process_map` gives the directly-follows graph (frequency and durations), start
  and end activities and variants of the workspace's episodes, by activity, organisation
  or channel;
- :func:`discover_log` does the same for any event log, a file (CSV, Parquet, XES) or a
  table in memory (Arrow, pandas), with no workspace;
- :func:`service_shapes` classes each service as transactional, high-variety or complex;
- :func:`export_ocel` and :func:`export_xes` write the linked log for other tools.

Within a case, events are ordered by time, then by a tie-break: the row's place in the
file or table for a log, the event id within an episode.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from joinedup.engine import Engine, connect
from joinedup.journeys._dfg import ProcessMap, discover
from joinedup.journeys._episodes import EpisodeResult, build_episodes
from joinedup.journeys._errors import JourneysError
from joinedup.journeys._export import export_ocel_json, export_ocel_sqlite
from joinedup.journeys._export import export_xes as _export_xes
from joinedup.journeys._log import drop_log, log_format, stage_log, stage_table
from joinedup.journeys._map import BY, stage_workspace_log
from joinedup.journeys._settings import EpisodeSettings, ShapeSettings
from joinedup.journeys._shape import service_shapes as _service_shapes
from joinedup.journeys._table import as_table, discover_table, read_parquet
from joinedup.workspace import Workspace

__all__ = [
    "BY",
    "EpisodeResult",
    "EpisodeSettings",
    "JourneysError",
    "ProcessMap",
    "ShapeSettings",
    "discover_log",
    "episodes",
    "export_ocel",
    "export_xes",
    "process_map",
    "service_shapes",
]


def episodes(ws: Workspace, settings: EpisodeSettings | None = None) -> EpisodeResult:
    """Build need episodes from ``events`` and ``links``; (re)writes ``episodes`` and
    ``episode_events``."""
    settings = settings or EpisodeSettings()
    if ws.count("links") == 0:
        raise JourneysError(
            f"{ws.path}: the links table is empty: link the organisations' records first "
            "(`joinedup link`), so events can be put on one person's timeline"
        )
    dup = ws.engine.count(
        ws.engine.sql("SELECT org, local_person_ref FROM links GROUP BY ALL HAVING count(*) > 1")
    )
    if dup:
        raise JourneysError(
            f"{ws.path}: {dup} local person record(s) have more than one person_id in links; "
            "each (org, local_person_ref) must be linked to exactly one person"
        )
    with ws.run(
        "journeys build",
        inputs={"events": ws.count("events"), "links": ws.count("links")},
        settings=settings.model_dump(mode="json"),
    ) as run:
        result = build_episodes(ws.engine, settings)
        run.outputs = {
            "episodes": result.episodes,
            "episode_events": result.linked_events,
            "unlinked_events": result.events - result.linked_events,
        }
    return result


def process_map(
    ws: Workspace,
    *,
    by: str = "activity",
    service: str | None = None,
    contacts_only: bool = False,
    episodes: str | None = None,
) -> ProcessMap:
    """The directly-follows graph, start/end activities and variants of the workspace's
    episodes; ``by`` labels each event by its activity, organisation or channel.
    ``episodes``, SQL selecting episode ids, limits the map to those episodes."""
    log = stage_workspace_log(
        ws.engine, by=by, service=service, contacts_only=contacts_only, episodes=episodes
    )
    try:
        return discover(ws.engine, log)
    finally:
        ws.engine.drop_temp(log)


def discover_log(
    log: Path | str | Any,
    *,
    case_col: str,
    activity_col: str,
    time_col: str,
    time_format: str | None = None,
    graph: bool = True,
    variants: bool = True,
    spill_dir: Path | str | None = None,
    threads: int | None = None,
) -> ProcessMap:
    """The process map of any event log, with no workspace: a file (CSV, Parquet or XES)
    or a table in memory (an Arrow table, a pandas frame, or any table that exports an
    Arrow stream).

    Within a case, events are ordered by time, then by their order in the file or table.
    Rows lacking a case, an activity or a time are left out and counted (``skipped``).
    ``graph=False`` leaves the graph and start and end activities empty,
    ``variants=False`` the variants, for a caller who needs only one of them.

    A log of up to 20M events with times as times (not text) is mined in memory; a
    Parquet file of that size is read straight into memory. Others are staged in an
    in-memory DuckDB database, or, with ``spill_dir``, in a database file there, so a log
    larger than memory is processed out of core.
    """
    columns = {"case_col": case_col, "activity_col": activity_col, "time_col": time_col}
    table: pa.Table | None = None
    if isinstance(log, (str, Path)):
        path = Path(log)
        if path.is_file() and log_format(path) == "parquet":
            table = read_parquet(path, columns)
    else:
        table = as_table(log, columns, f"the {type(log).__name__}")
    if table is not None:
        found = discover_table(table, columns, graph=graph, variants=variants)
        if found is not None:
            return found
    with tempfile.TemporaryDirectory(dir=spill_dir) if spill_dir else _nothing() as tmp:
        db = Path(tmp) / "log.duckdb" if tmp else None
        with connect("duckdb", db, threads=threads) as engine:
            if isinstance(log, (str, Path)):
                # the engine reads the file itself, so its messages name the file
                staged = stage_log(engine, log, **columns, time_format=time_format)
            else:
                staged = stage_table(
                    engine,
                    table,
                    source=f"the {type(log).__name__}",
                    **columns,
                    time_format=time_format,
                )
            try:
                result = discover(engine, staged.table, graph=graph, variants=variants)
            finally:
                drop_log(engine)
            result.skipped = staged.skipped
            return result


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def service_shapes(ws: Workspace, settings: ShapeSettings | None = None) -> pa.Table:
    """Each service's measured variety, reach and shape (transactional, high-variety,
    complex, or 'too few' episodes to say)."""
    return _service_shapes(ws.engine, settings or ShapeSettings())


#: Why the linked log cannot be released as it is.
ROW_LEVEL = (
    "journeys export writes the joined, row-level log: every linked event of every "
    "organisation, with the person and the need it belongs to. It is not a table of "
    "figures, so disclosure control cannot make it safe, and the policy allows the joined "
    "tables only as aggregates."
)


def export_ocel(
    ws: Workspace, path: Path | str, *, disclosure_control: bool = True, who: str | None = None
) -> int:
    """Write the linked log as OCEL 2.0: SQLite for a ``.sqlite``/``.db`` file, JSON
    otherwise (``.json``, ``.jsonocel``); returns the events written.

    The log is row-level: it is written only with ``disclosure_control=False``, by an
    administrator where the workspace has users (``who``); see :func:`export_xes`.
    """
    path = Path(path)
    if path.suffix.lower() in (".sqlite", ".db", ".sqlite3"):
        return _row_level(ws, path, export_ocel_sqlite, "events", disclosure_control, who)
    return _row_level(ws, path, export_ocel_json, "events", disclosure_control, who)


def export_xes(
    ws: Workspace, path: Path | str, *, disclosure_control: bool = True, who: str | None = None
) -> int:
    """Write the linked log as XES (one trace per need episode); returns traces written.

    The log is row-level, so it is written only with ``disclosure_control=False``, for
    work inside the secure setting, and, where the workspace has users, only by an
    administrator (``who``). The refusal, the turning off and the file are recorded in
    the workspace's audit log.
    """
    return _row_level(ws, Path(path), _export_xes, "traces", disclosure_control, who)


def _row_level(
    ws: Workspace,
    path: Path,
    write: Callable[[Engine, Path], int],
    what: str,
    disclosure_control: bool,
    who: str | None,
) -> int:
    from joinedup.governance import AccessDenied, AuditLog, User, acting_user, can

    audit = AuditLog(ws.path)
    about = {"output": str(path), "command": "journeys export"}
    if disclosure_control:
        audit.append(who, "export.refused", {**about, "reason": "row-level"})
        raise JourneysError(
            f"{ROW_LEVEL} If you work inside the secure setting and may turn disclosure "
            "control off (an administrator, where the workspace has users), run it again "
            "with --no-disclosure-control (disclosure_control=False in Python); the audit log "
            "records it. For figures to share, use `joinedup journeys map --out` instead."
        )
    try:
        user = acting_user(ws.path, who)
        if isinstance(user, User) and not can(user, "no_disclosure_control"):
            raise AccessDenied(
                f"{user.username} ({user.role.value}) may not turn disclosure control "
                "off: only an administrator may export the row-level log"
            )
    except AccessDenied as exc:
        audit.append(who, "export.refused", {**about, "reason": str(exc)})
        raise
    name = user.username if isinstance(user, User) else user
    audit.append(name, "disclosure.off", {**about, "row_level": True})
    n = write(ws.engine, path)
    details = {**about, "format": path.suffix.lower().lstrip("."), what: n}
    audit.append(name, "export", {**details, "row_level": True, "disclosure_control": False})
    return n
