"""A run under an agreement: checked before it starts, recorded with the agreement and
written to the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from joinedup.governance._agreement import Agreement, PlannedRun, check_run
from joinedup.governance._audit import AuditLog

if TYPE_CHECKING:
    from joinedup.workspace import Run, Workspace

__all__ = ["governed_run"]


@contextmanager
def governed_run(
    ws: Workspace,
    agreement: Agreement,
    command: str,
    *,
    parties: Iterable[str],
    fields: Mapping[str, Iterable[str]] | Iterable[str] = (),
    who: str | None = None,
    inputs: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Iterator[Run]:
    """Like ``ws.run(...)``, but refused (before anything runs) if the parties or fields
    fall outside ``agreement``; the run's settings record the agreement's name and
    fingerprint, and the start and end go to the workspace's audit log."""
    plan = PlannedRun.of(parties, fields)
    log = AuditLog(ws.path)
    try:
        record = check_run(agreement, plan)
    except Exception as exc:
        log.append(who, "run.refused", {"command": command, "reason": str(exc)})
        raise
    merged = dict(settings or {})
    merged["agreement"] = record
    with ws.run(command, inputs=inputs, settings=merged) as run:
        log.append(
            who,
            "run.start",
            {
                "command": command,
                "run_id": run.run_id,
                "agreement": record["name"],
                "parties": sorted(plan.parties),
            },
        )
        try:
            yield run
        except BaseException as exc:
            log.append(
                who, "run.failed", {"run_id": run.run_id, "error": f"{type(exc).__name__}: {exc}"}
            )
            raise
        log.append(who, "run.end", {"run_id": run.run_id, "outputs": run.outputs})
