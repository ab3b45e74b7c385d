"""The demo: a synthetic population, then every stage that exists, then the report.

Stages that do not exist yet are absent — the demo never shows a figure that the code
did not compute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from joinedup import ingest, report, synth
from joinedup.synth import SynthConfig, SynthResult
from joinedup.workspace import Workspace

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What the demo made: the synthetic data, the loads and the report."""

    synth: SynthResult
    loads: list[ingest.IngestResult]
    report: report.ReportResult


def run_demo(
    workspace: Path | str,
    config: SynthConfig | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Run the demo in ``workspace`` (created if missing)."""
    cfg = config or SynthConfig()
    root = Path(workspace)
    say = on_stage or (lambda _stage: None)
    with Workspace(root) as ws:
        say("synth")
        with ws.run("synth", settings=cfg.model_dump(mode="json")) as run:
            made = synth.generate(root / "synth", cfg, progress=progress)
            run.outputs.update({"people": made.people, "events": made.events})
        loads = []
        for contract in made.contracts:
            say(f"ingest {contract.stem}")
            loads.append(ingest.load(contract, ws))
        say("report")
        rep = report.build(ws, root / "report.html")
    return DemoResult(made, loads, rep)
